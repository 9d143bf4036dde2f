package redislimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// TestDispatcherCancellations: callers that give up at random moments
// (queued, in a pipeline, flushing for others) never block the others or
// lose an answer, and every call is accounted for.
func TestDispatcherCancellations(t *testing.T) {
	t.Parallel()
	dbtest.Redis(t)
	for _, ctxTimeouts := range []bool{true, false} {
		client := redis.NewClient(&redis.Options{Addr: dbtest.RedisAddr(), ContextTimeoutEnabled: ctxTimeouts})
		t.Cleanup(func() { _ = client.Close() })
		l := newLimiter(t, client, redislimit.Options{Timeout: 20 * time.Millisecond, BreakerFailures: 1 << 30, Logger: quiet, MaxBatch: 8})
		lim := ratelimit.Limit{Rate: 1e6, Burst: 1e6, Period: time.Hour}
		var ok, gone atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 40 {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration((g*40+i)%7)*100*time.Microsecond)
					if (g+i)%3 == 0 {
						cancel() // some are gone before they start
					}
					res, err := l.Allow(ctx, "k", lim)
					cancel()
					if err != nil {
						t.Errorf("Allow: %v", err)
						return
					}
					if !res.Allowed {
						t.Errorf("denied: %+v", res)
						return
					}
					if ctx.Err() != nil {
						gone.Add(1)
					} else {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		s := l.Stats()
		if s.Allowed != 32*40 || s.Allowed != uint64(ok.Load()+gone.Load()) {
			t.Fatalf("context timeouts %v: Stats %+v, want %d decisions", ctxTimeouts, s, 32*40)
		}
		// Everything still works afterwards.
		if res, err := l.Allow(context.Background(), "after", lim); err != nil || !res.Allowed {
			t.Fatalf("after: %+v, %v", res, err)
		}
	}
}
