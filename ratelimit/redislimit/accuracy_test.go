package redislimit_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// TestAccuracyAcrossPods: four limiters, each with its own client as four
// pods would have, hammer the same keys from many goroutines. Per key, the
// total allowed is the burst plus what the rate refilled meanwhile, within
// one.
func TestAccuracyAcrossPods(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return dbtest.RedisCluster(t) }},
	}
	// Each backend with one key and with 50, the deny cache on for one and
	// off for the other (off: every decision is a Redis call).
	for i, b := range backends {
		for j, keys := range []int{1, 50} {
			denyCache := 0
			if (i+j)%2 == 0 {
				denyCache = -1
			}
			t.Run(fmt.Sprintf("%s/keys=%d/deny-cache=%v", b.name, keys, denyCache == 0), func(t *testing.T) {
				t.Parallel()
				testAccuracy(t, b.client, keys, denyCache)
			})
		}
	}
}

func testAccuracy(t *testing.T, client func(t *testing.T) redis.UniversalClient, nkeys, denyCache int) {
	const (
		pods       = 4
		goroutines = 6 // per pod
		minRun     = time.Second
		maxRun     = 15 * time.Second
	)
	lim := ratelimit.PerMinute(60) // burst 60, then one a second
	prefix := dbtest.Prefix(t)
	limiters := make([]*redislimit.Limiter, pods)
	for i := range limiters {
		limiters[i] = newLimiter(t, client(t), redislimit.Options{Prefix: prefix, DenyCacheSize: denyCache, Timeout: 5 * time.Second})
	}
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	allowed := make([]atomic.Int64, nkeys)
	denied := make([]atomic.Int64, nkeys)
	// first is when each key's first decision was asked (ns after start):
	// on a loaded machine the last keys may be reached late.
	first := make([]atomic.Int64, nkeys)
	var errs atomic.Int64
	var stop atomic.Bool
	ctx := context.Background()
	var wg sync.WaitGroup
	start := time.Now()
	for p := range pods {
		for g := range goroutines {
			wg.Go(func() {
				for i := p*goroutines + g; !stop.Load(); i++ {
					k := i % nkeys
					first[k].CompareAndSwap(0, int64(time.Since(start))+1)
					res, err := limiters[p].Allow(ctx, keys[k], lim)
					switch {
					case err != nil:
						errs.Add(1)
					case res.Allowed:
						allowed[k].Add(1)
					default:
						denied[k].Add(1)
						// Back off like a client would, and leave the
						// two cores to Redis and the other pods.
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	}
	// Run for at least a second (so the rate refills), until every key has
	// spent its burst and been denied: how long that takes depends on the
	// machine, not on the limiter.
	saturated := func() bool {
		for k := range denied {
			if denied[k].Load() == 0 {
				return false
			}
		}
		return true
	}
	for time.Since(start) < minRun || !saturated() {
		if time.Since(start) > maxRun {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if !saturated() {
		t.Fatalf("not every key was denied within %s: the machine is too slow for this test", maxRun)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d errors", n)
	}
	// On a loaded machine a key may not be asked again between its last
	// refill and the end: count what is left in each bucket too.
	left := make([]int64, nkeys)
	for k := range keys {
		res, err := limiters[0].Peek(ctx, keys[k], lim)
		if err != nil {
			t.Fatal(err)
		}
		left[k] = int64(res.Remaining)
	}
	elapsed := time.Since(start)
	for k := range allowed {
		refilled := int64((elapsed - time.Duration(first[k].Load()-1)) / lim.Emission())
		got := allowed[k].Load()
		if want := int64(lim.Burst) + refilled; got+left[k] < want-1 || got+left[k] > want+1 {
			t.Errorf("key %d: %d allowed (+%d left) in %s, want %d±1 (burst %d + %d refilled)",
				k, got, left[k], elapsed.Round(time.Millisecond), want, lim.Burst, refilled)
		}
	}
	var calls, fallbacks uint64
	for _, l := range limiters {
		s := l.Stats()
		calls += s.Allowed + s.Limited
		fallbacks += s.FallbackDecisions
	}
	if fallbacks != 0 {
		t.Errorf("%d fallback decisions: Redis was too slow for the test", fallbacks)
	}
	t.Logf("%d decisions by %d pods in %s", calls, pods, elapsed.Round(time.Millisecond))
}
