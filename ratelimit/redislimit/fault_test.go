package redislimit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// clock is a manual clock for the breaker, the deny cache and the fallback
// limiter; Redis keeps its own time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestFaults runs Redis through slowness, a black hole and an outage and
// back, under each failure policy, with a client that bounds I/O by context
// deadlines, and under Fallback also with one that does not (the limiter
// detaches its I/O).
func TestFaults(t *testing.T) {
	t.Parallel()
	dbtest.Redis(t) // skip or fail here when there is no Redis at all
	faults := []struct {
		name string
		set  func(p *faultProxy)
	}{
		{"slow", func(p *faultProxy) { p.Set(slow, 300*time.Millisecond) }},
		{"drop", func(p *faultProxy) { p.Set(drop, 0) }},
		{"gone", func(p *faultProxy) { p.Set(refuse, 0); p.cut() }},
	}
	for _, policy := range []redislimit.Policy{redislimit.Fallback, redislimit.FailOpen, redislimit.FailClosed} {
		for _, fault := range faults {
			for _, ctxTimeouts := range []bool{true, false} {
				if !ctxTimeouts && policy != redislimit.Fallback {
					continue // detached I/O does not depend on the policy
				}
				name := fmt.Sprintf("%s/%s/context-timeouts=%v", policy, fault.name, ctxTimeouts)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					testFault(t, policy, fault.set, ctxTimeouts)
				})
			}
		}
	}
}

func testFault(t *testing.T, policy redislimit.Policy, fault func(*faultProxy), ctxTimeouts bool) {
	p := newFaultProxy(t, dbtest.RedisAddr())
	client := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: ctxTimeouts})
	t.Cleanup(func() { _ = client.Close() })
	c := newClock()
	var logs lockedBuffer
	const cooldown = 10 * time.Second
	lim := newLimiter(t, client, redislimit.Options{
		Policy:   policy,
		Replicas: 2,
		// Long enough that a loaded test machine does not time out on a
		// healthy Redis, far below the 1 s ceiling asserted under faults.
		Timeout:         200 * time.Millisecond,
		BreakerFailures: 2,
		BreakerCooldown: cooldown,
		Now:             c.Now,
		Logger:          slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	mw, err := ratelimit.New(ratelimit.Options{
		Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
			return r.Header.Get("X-Key"), ratelimit.PerMinute(10), true
		},
		Limiter: lim,
		Now:     c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	// send makes n requests of key and returns the count per status and
	// the slowest request's duration.
	send := func(key string, n int) (map[int]int, time.Duration) {
		t.Helper()
		codes := map[int]int{}
		var slowest time.Duration
		for range n {
			req := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
			req.Header.Set("X-Key", key)
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			slowest = max(slowest, time.Since(start))
			codes[rec.Code]++
			if rec.Code == http.StatusServiceUnavailable {
				if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("503 with Retry-After %q", rec.Header().Get("Retry-After"))
				}
			}
		}
		return codes, slowest
	}
	// Connect through the proxy before the exact phase.
	warm := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// exact sends 12 requests of a fresh key, wants exactly 10 admitted
	// and returns the key. A decision whose Redis call missed the 200 ms
	// timeout on a loaded machine (CI runs every package at once under
	// -race) is made by the failure policy, as designed, and may admit an
	// 11th; only then, seen in Stats.RedisErrors, the phase is repeated
	// with another key (at most three in all). An inexact count without a
	// Redis error fails at once.
	exact := func(phase, key string) string {
		t.Helper()
		var got []map[int]int
		for i := range 3 {
			k := fmt.Sprintf("%s-%d", key, i)
			before := lim.Stats().RedisErrors
			codes, _ := send(k, 12)
			if codes[200] == 10 && codes[429] == 2 {
				return k
			}
			got = append(got, codes)
			if lim.Stats().RedisErrors == before {
				break
			}
			t.Logf("%s: %v after a Redis timeout on a loaded machine; again with another key", phase, codes)
			if lim.Status().Breaker != redislimit.BreakerClosed {
				c.Advance(cooldown)
				warm()
			}
		}
		t.Fatalf("%s: %v, want exactly 10×200 and 2×429 on Redis", phase, got)
		return ""
	}
	warm()
	spent := exact("healthy", "before")
	if st := lim.Status(); st.Backend != "redis" || !st.OnRedis() {
		t.Fatalf("healthy: Status %+v", st)
	}

	fault(p)
	codes, slowest := send("during", 12)
	if slowest > time.Second {
		t.Errorf("a request took %s during the fault; want well under 1 s (timeout 200 ms)", slowest)
	}
	t.Logf("slowest request during the fault: %s", slowest)
	switch policy {
	case redislimit.Fallback:
		// Per-pod share of 10 with 2 replicas: 5.
		if codes[200] != 5 || codes[429] != 7 {
			t.Errorf("fallback during the fault: %v, want 5×200 and 7×429", codes)
		}
	case redislimit.FailOpen:
		if codes[200] != 12 {
			t.Errorf("fail-open during the fault: %v, want 12×200", codes)
		}
	case redislimit.FailClosed:
		if codes[503] != 12 {
			t.Errorf("fail-closed during the fault: %v, want 12×503", codes)
		}
	}
	st := lim.Status()
	stats := lim.Stats()
	if st.Breaker != redislimit.BreakerOpen || st.Backend != policy.String() || st.OnRedis() {
		t.Errorf("during the fault: Status %+v, want breaker open and backend %s", st, policy)
	}
	if stats.RedisErrors != 2 || stats.FallbackDecisions != 12 || stats.BreakerOpens != 1 {
		t.Errorf("during the fault: Stats %+v, want 2 Redis errors (then the breaker), 12 policy decisions, 1 opening", stats)
	}
	// While open, nothing goes to Redis.
	send("during", 5)
	if s := lim.Stats(); s.RoundTrips != stats.RoundTrips || s.RedisErrors != stats.RedisErrors {
		t.Errorf("breaker open: Redis still called (%d → %d round trips)", stats.RoundTrips, s.RoundTrips)
	}
	// A probe after the cool-down, Redis still failing: open again.
	c.Advance(cooldown)
	send("during", 3)
	if s := lim.Stats(); s.Breaker != redislimit.BreakerOpen || s.RedisErrors != stats.RedisErrors+1 {
		t.Errorf("failed probe: Stats %+v, want one more error and the breaker open", s)
	}

	// Back: connections of the fault are gone (a restarted Redis).
	p.Set(pass, 0)
	p.cut()
	warm()
	c.Advance(cooldown)
	exact("recovered", "after")
	if st := lim.Status(); st.Backend != "redis" || st.Breaker != redislimit.BreakerClosed {
		t.Fatalf("recovered: Status %+v", st)
	}
	// The key limited before the fault is still limited: Redis kept it.
	if codes, _ := send(spent, 1); codes[429] != 1 {
		t.Errorf("recovered: key spent before the fault: %v, want 429", codes)
	}
	out := logs.String()
	if n := bytes.Count([]byte(out), []byte("circuit breaker open")); n != 1 {
		t.Errorf("logged the opening %d times, want once:\n%s", n, out)
	}
	if n := bytes.Count([]byte(out), []byte("circuit breaker closed")); n != 1 {
		t.Errorf("logged the closing %d times, want once:\n%s", n, out)
	}
}
