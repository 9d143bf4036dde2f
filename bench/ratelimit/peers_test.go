package ratelimitbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	sethvargo "github.com/sethvargo/go-limiter/memorystore"
	ulule "github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// The limit never denies within a run, so every decision is real work.
const (
	benchRate   = 1_000_000_000
	benchPeriod = time.Hour
)

var benchLimit = ratelimit.Limit{Rate: benchRate, Burst: benchRate, Period: benchPeriod}

var keys = func() []string {
	k := make([]string, 1024)
	for i := range k {
		k[i] = "bench-key-" + strconv.Itoa(i)
	}
	return k
}()

func redisClient(b *testing.B) *redis.Client {
	addr := os.Getenv("GATEHOUSE_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("GATEHOUSE_REQUIRE_SERVICES") == "1" {
			b.Fatalf("Redis at %s is required but unreachable: %v", addr, err)
		}
		b.Skipf("skipping: Redis at %s unreachable: %v", addr, err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// token returns a random marker for this run's keys; cleanup deletes every
// key containing it.
func token(b *testing.B, c *redis.Client) string {
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	tok := "ghbench" + hex.EncodeToString(buf)
	b.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "*"+tok+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return tok
}

// runCallers runs op from callers goroutines: b.Loop for one caller,
// b.RunParallel otherwise.
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

// BenchmarkRedisPeers: one decision per call against the local Redis, at
// 1, 16 and 64 callers, every contender on its own client of the same
// options; PING is the one-round-trip ceiling.
func BenchmarkRedisPeers(b *testing.B) {
	c := redisClient(b)
	tok := token(b, c)

	gh, err := redislimit.New(redislimit.Options{Client: c, Prefix: tok + ":gh:", Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	rr := redis_rate.NewLimiter(c)
	rrLimit := redis_rate.Limit{Rate: benchRate, Burst: benchRate, Period: benchPeriod}
	store, err := ululeredis.NewStoreWithOptions(c, ulule.StoreOptions{Prefix: tok + ":ulule", MaxRetry: 3})
	if err != nil {
		b.Fatal(err)
	}
	ul := ulule.New(store, ulule.Rate{Period: benchPeriod, Limit: benchRate})
	counter := httprateredis.NewCounter(&httprateredis.Config{Client: c, PrefixKey: tok + ":httprate", WindowLength: benchPeriod, FallbackDisabled: true})
	counter.Config(benchRate, benchPeriod)
	hr := httprate.NewRateLimiter(benchRate, benchPeriod, httprate.WithLimitCounter(counter))

	contenders := []struct {
		name string
		op   func(ctx context.Context, i int) error
	}{
		{"ping", func(ctx context.Context, _ int) error { return c.Ping(ctx).Err() }},
		{"gatehouse", func(ctx context.Context, i int) error {
			res, err := gh.Allow(ctx, keys[i&1023], benchLimit)
			if err == nil && !res.Allowed {
				err = fmt.Errorf("gatehouse denied")
			}
			return err
		}},
		{"redis_rate", func(ctx context.Context, i int) error {
			_, err := rr.Allow(ctx, tok+":rr:"+keys[i&1023], rrLimit)
			return err
		}},
		{"ulule", func(ctx context.Context, i int) error {
			res, err := ul.Get(ctx, keys[i&1023])
			if err == nil && res.Reached {
				err = fmt.Errorf("ulule denied")
			}
			return err
		}},
		{"httprate-redis-counter", func(ctx context.Context, i int) error {
			// What httprate's limiter does per request: read the two
			// windows, then count (two round trips).
			now := time.Now().UTC()
			cur := now.Truncate(benchPeriod)
			if _, _, err := counter.Get(keys[i&1023], cur, cur.Add(-benchPeriod)); err != nil {
				return err
			}
			return counter.IncrementBy(keys[i&1023], cur, 1)
		}},
		{"httprate-redis-middleware", func(ctx context.Context, i int) error {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if hr.OnLimit(rec, req, keys[i&1023]) {
				return fmt.Errorf("httprate denied: %d", rec.Code)
			}
			return nil
		}},
	}
	for _, callers := range []int{1, 16, 64} {
		for _, ct := range contenders {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, ct.name), func(b *testing.B) {
				before := gh.Stats()
				runCallers(b, callers, ct.op)
				after := gh.Stats()
				b.ReportMetric(float64(after.FallbackDecisions-before.FallbackDecisions), "gatehouse-fallbacks")
				if trips := after.RoundTrips - before.RoundTrips; ct.name == "gatehouse" && trips > 0 {
					// Decisions per round trip: the mean batch.
					b.ReportMetric(float64(after.Commands-before.Commands)/float64(trips), "decisions/roundtrip")
				}
			})
		}
	}
}

// BenchmarkInProcessPeers: gatehouse's Memory against sethvargo/go-limiter's
// memorystore, one goroutine and b.RunParallel, on 1024 warm keys.
func BenchmarkInProcessPeers(b *testing.B) {
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// A slower refill keeps each of the 1024 keys busy (never idle).
	memLimit := ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: 1000 * time.Hour}
	sv, err := sethvargo.New(&sethvargo.Config{Tokens: 1_000_000, Interval: 1000 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sv.Close(context.Background()) })
	ctx := context.Background()
	for _, k := range keys {
		mem.Allow(ctx, k, memLimit)
		sv.Take(ctx, k)
	}
	contenders := []struct {
		name string
		op   func(ctx context.Context, i int) error
	}{
		{"gatehouse-memory", func(ctx context.Context, i int) error {
			_, err := mem.Allow(ctx, keys[i&1023], memLimit)
			return err
		}},
		{"sethvargo-memorystore", func(ctx context.Context, i int) error {
			_, _, _, _, err := sv.Take(ctx, keys[i&1023])
			return err
		}},
	}
	for _, callers := range []int{1, 2} {
		for _, ct := range contenders {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, ct.name), func(b *testing.B) {
				runCallers(b, callers, ct.op)
			})
		}
	}
}
