package redislimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// runLimiter runs l.Run until the test ends and returns a func that stops
// it early (waiting for Run to return).
func runLimiter(t *testing.T, l *redislimit.Limiter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond (up to 5 s, generous for a loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

// TestHeartbeatCountsLivePods: limiters sharing a prefix count each other
// through Run's heartbeats; one that stops withdraws at once, Replicas
// overrides the count, and another prefix is another deployment.
func TestHeartbeatCountsLivePods(t *testing.T) {
	t.Parallel()
	client := dbtest.Redis(t)
	prefix := dbtest.Prefix(t)
	opts := redislimit.Options{Prefix: prefix, Heartbeat: 20 * time.Millisecond}
	var lims []*redislimit.Limiter
	var stops []func()
	for range 3 {
		l := newLimiter(t, client, opts)
		if l.Pods() != 1 {
			t.Fatalf("before Run: Pods() = %d, want 1", l.Pods())
		}
		lims = append(lims, l)
		stops = append(stops, runLimiter(t, l))
	}
	waitFor(t, "three pods counted", func() bool {
		return lims[0].Pods() == 3 && lims[1].Pods() == 3 && lims[2].Pods() == 3
	})
	if err := lims[0].Run(context.Background()); err == nil {
		t.Error("a second concurrent Run returned nil")
	}
	stops[2]()
	waitFor(t, "the stopped pod withdrawn", func() bool { return lims[0].Pods() == 2 && lims[1].Pods() == 2 })
	fixed := newLimiter(t, client, redislimit.Options{Prefix: prefix, Heartbeat: 20 * time.Millisecond, Replicas: 7})
	runLimiter(t, fixed)
	if fixed.Pods() != 7 {
		t.Errorf("Replicas 7: Pods() = %d", fixed.Pods())
	}
	other := newLimiter(t, client, redislimit.Options{Prefix: dbtest.Prefix(t) + "other:", Heartbeat: 20 * time.Millisecond})
	runLimiter(t, other)
	waitFor(t, "the other deployment's first heartbeat", func() bool { return other.Stats().HeartbeatErrors == 0 && lims[0].Pods() == 3 })
	if other.Pods() != 1 {
		t.Errorf("another prefix: Pods() = %d, want 1", other.Pods())
	}
}

// TestFallbackShareFollowsLivePods: three pods count each other, then lose
// Redis; each falls back to a third of the limit, and it keeps the last
// count while Redis is away, so the three together admit one burst.
func TestFallbackShareFollowsLivePods(t *testing.T) {
	t.Parallel()
	dbtest.Redis(t)
	prefix := dbtest.Prefix(t)
	p := newFaultProxy(t, dbtest.RedisAddr())
	var lims []*redislimit.Limiter
	for range 3 {
		client := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
		t.Cleanup(func() { _ = client.Close() })
		l := newLimiter(t, client, redislimit.Options{Prefix: prefix, Heartbeat: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, Logger: quiet})
		lims = append(lims, l)
		runLimiter(t, l)
	}
	waitFor(t, "three pods counted", func() bool {
		return lims[0].Pods() == 3 && lims[1].Pods() == 3 && lims[2].Pods() == 3
	})
	t.Cleanup(func() { p.Set(pass, 0) }) // runs first: the suite's cleanup goes through p
	p.Set(refuse, 0)
	p.cut()
	waitFor(t, "heartbeats failing", func() bool { return lims[0].Stats().HeartbeatErrors > 0 })
	lim := ratelimit.PerMinute(30)
	admitted := 0
	for _, l := range lims {
		if l.Pods() != 3 {
			t.Errorf("during the outage: Pods() = %d, want the last count 3", l.Pods())
		}
		for range 30 {
			res, err := l.Allow(context.Background(), "k", lim)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed {
				admitted++
			}
		}
	}
	if admitted != 30 {
		t.Errorf("three pods without Redis admitted %d of a burst of 30, want 30 (10 each)", admitted)
	}
}
