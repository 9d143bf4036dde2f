package ratelimitbench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/ratelimit/redislimit"
)

// sliceLength is how long each contender runs before the other takes over
// in BenchmarkRedisInterleaved.
const sliceLength = 50 * time.Millisecond

// BenchmarkRedisInterleaved measures gatehouse's Redis limiter against
// plain PING on one client while both see the same machine: the callers
// switch between the two every 50 ms (a PING slice and a gatehouse slice
// per iteration, in alternating order), so the load of a shared machine,
// which moves over seconds, weighs on both alike. It reports each
// contender's time per operation and "x-ping", gatehouse's decisions per
// second divided by PINGs per second (above 1: faster than PING). Run it
// with a fixed iteration count, e.g. -benchtime=20x -count=5.
func BenchmarkRedisInterleaved(b *testing.B) {
	c := redisClient(b)
	tok := token(b, c)
	gh, err := redislimit.New(redislimit.Options{Client: c, Prefix: tok + ":gh:", Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ops := [2]func(ctx context.Context, i int) error{
		func(ctx context.Context, _ int) error { return c.Ping(ctx).Err() },
		func(ctx context.Context, i int) error {
			res, err := gh.Allow(ctx, keys[i&1023], benchLimit)
			if err == nil && !res.Allowed {
				err = fmt.Errorf("gatehouse denied")
			}
			return err
		},
	}
	for _, callers := range []int{16, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			var (
				phase   atomic.Int32 // 0: ping, 1: gatehouse, 2: stop
				counts  [2]atomic.Int64
				elapsed [2]time.Duration
				failed  atomic.Pointer[error]
				wg      sync.WaitGroup
			)
			ctx := context.Background()
			before := gh.Stats()
			for w := range callers {
				wg.Go(func() {
					for i := w * 7919; ; i++ {
						p := phase.Load()
						if p == 2 {
							return
						}
						if err := ops[p](ctx, i); err != nil {
							failed.Store(&err)
							return
						}
						counts[p].Add(1)
					}
				})
			}
			n := 0
			for b.Loop() {
				for k := range 2 {
					p := int32((n + k) % 2)
					start := time.Now()
					phase.Store(p)
					time.Sleep(sliceLength)
					elapsed[p] += time.Since(start)
				}
				n++
			}
			phase.Store(2)
			wg.Wait()
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
			after := gh.Stats()
			nsPing := float64(elapsed[0]) / float64(counts[0].Load())
			nsGH := float64(elapsed[1]) / float64(counts[1].Load())
			b.ReportMetric(nsPing, "ping-ns/op")
			b.ReportMetric(nsGH, "gatehouse-ns/op")
			b.ReportMetric(nsPing/nsGH, "x-ping")
			if trips := after.RoundTrips - before.RoundTrips; trips > 0 {
				b.ReportMetric(float64(after.Commands-before.Commands)/float64(trips), "decisions/roundtrip")
			}
			b.ReportMetric(float64(after.FallbackDecisions-before.FallbackDecisions), "gatehouse-fallbacks")
		})
	}
}
