package redislimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// benchLimit never denies within a benchmark, so every call is a Redis
// round trip (no deny cache).
var benchLimit = ratelimit.Limit{Rate: 1e9, Burst: 1e9, Period: time.Hour}

// benchKeys are the key ids the callers take turns on.
var benchKeys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = "bench-key-" + strconv.Itoa(i)
	}
	return k
}()

// runCallers runs op from callers goroutines until b's work is done: a
// plain b.Loop for one caller, b.RunParallel otherwise.
func runCallers(b *testing.B, callers int, op func(ctx context.Context, i int) error) {
	ctx := context.Background()
	b.ReportAllocs()
	if callers == 1 {
		i := 0
		for b.Loop() {
			if err := op(ctx, i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		return
	}
	var next atomic.Int64
	b.SetParallelism(max(callers/runtime.GOMAXPROCS(0), 1))
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			if err := op(ctx, i); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkRedis compares, at 1, 16 and 64 concurrent callers on one
// client, a raw PING (the one-round-trip ceiling), raw redis_rate and the
// gatehouse limiter with and without batching, and the same on a go-redis
// AutoPipeliner. Run it in several short rounds and compare each line to
// the PING of its own round (see docs/benchmarks-ratelimit.md).
func BenchmarkRedis(b *testing.B) {
	dbtest.Redis(b) // skip or fail without Redis
	client := redis.NewClient(&redis.Options{Addr: dbtest.RedisAddr(), ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = client.Close() })
	ap, err := client.AutoPipeline()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ap.Close() })
	prefix := dbtest.Prefix(b)
	b.Cleanup(func() { deletePrefix(b, client, "rate:"+prefix) })
	mk := func(c redis.UniversalClient, opts redislimit.Options) *redislimit.Limiter {
		opts.Client = c
		opts.Prefix = prefix
		opts.Timeout = time.Second // measure throughput, not the fallback
		l, err := redislimit.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	batched := mk(client, redislimit.Options{})
	unbatched := mk(client, redislimit.Options{DisableBatching: true})
	onAP := mk(ap, redislimit.Options{DisableBatching: true})
	raw := redis_rate.NewLimiter(client)
	rawAP := redis_rate.NewLimiter(ap)
	rawLimit := redis_rate.Limit{Rate: benchLimit.Rate, Burst: benchLimit.Burst, Period: benchLimit.Period}
	allow := func(l *redislimit.Limiter) func(context.Context, int) error {
		return func(ctx context.Context, i int) error {
			res, err := l.Allow(ctx, benchKeys[i&1023], benchLimit)
			if err == nil && !res.Allowed {
				err = fmt.Errorf("denied: %+v", res)
			}
			return err
		}
	}
	limiters := []*redislimit.Limiter{batched, unbatched, onAP}
	fallbacks := func() (n uint64) {
		for _, l := range limiters {
			n += l.Stats().FallbackDecisions
		}
		return n
	}
	contenders := []struct {
		name string
		op   func(context.Context, int) error
	}{
		{"ping", func(ctx context.Context, _ int) error { return client.Ping(ctx).Err() }},
		{"redis_rate", func(ctx context.Context, i int) error {
			_, err := raw.Allow(ctx, prefix+"raw:"+benchKeys[i&1023], rawLimit)
			return err
		}},
		{"gatehouse", allow(batched)},
		{"gatehouse-unbatched", allow(unbatched)},
		{"autopipeline-ping", func(ctx context.Context, _ int) error { return ap.Ping(ctx).Err() }},
		{"redis_rate-on-autopipeline", func(ctx context.Context, i int) error {
			_, err := rawAP.Allow(ctx, prefix+"raw:"+benchKeys[i&1023], rawLimit)
			return err
		}},
		{"gatehouse-on-autopipeline", allow(onAP)},
	}
	for _, callers := range []int{1, 16, 64} {
		for _, c := range contenders {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, c.name), func(b *testing.B) {
				before := fallbacks()
				runCallers(b, callers, c.op)
				// Decisions Redis did not make in time (1 s) would flatter
				// the figures: show them.
				b.ReportMetric(float64(fallbacks()-before), "fallbacks")
			})
		}
	}
	b.Logf("batched limiter: %+v", batched.Stats())
}

// BenchmarkMiddleware is a full request through request id and rate limit
// with the Redis limiter and with the in-process one.
func BenchmarkMiddleware(b *testing.B) {
	client := dbtest.Redis(b)
	prefix := dbtest.Prefix(b)
	b.Cleanup(func() { deletePrefix(b, client, "rate:"+prefix) })
	rl, err := redislimit.New(redislimit.Options{Client: client, Prefix: prefix, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		l    ratelimit.Limiter
	}{{"memory", mem}, {"redis", rl}} {
		mw, err := ratelimit.New(ratelimit.Options{
			Key:     func(*http.Request) (string, ratelimit.Limit, bool) { return "key", benchLimit, true },
			Limiter: tc.l,
		})
		if err != nil {
			b.Fatal(err)
		}
		h := gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})))
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", tc.name, callers), func(b *testing.B) {
				runCallers(b, callers, func(context.Context, int) error {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/leads", nil))
					if rec.Code != http.StatusNoContent {
						return fmt.Errorf("status %d", rec.Code)
					}
					return nil
				})
			})
		}
	}
}
