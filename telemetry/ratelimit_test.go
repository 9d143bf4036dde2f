package telemetry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/ratelimittest"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/telemetry"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestRedisOutage runs the Redis limiter against a Redis that is down,
// under the fallback policy: every decision is made in process, and the
// fallback decisions, Redis errors and the breaker show in the observed
// instruments; the decorator counts the decisions and traces each call.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	client := redis.NewClient(&redis.Options{
		Addr: closedAddr(t), MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond,
	})
	defer client.Close()
	client.AddHook(tel.RedisHook())
	rl, err := redislimit.New(redislimit.Options{
		Client: client, Policy: redislimit.Fallback, Timeout: time.Second,
		BreakerFailures: 3, BreakerCooldown: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tel.ObserveLimiter(rl.Stats)
	if err != nil {
		t.Fatal(err)
	}
	lim := tel.Limiter(rl)
	if _, ok := lim.(ratelimit.Peeker); !ok {
		t.Fatal("the decorated Redis limiter lost Peek")
	}
	ctx := context.Background()
	allowed := 0
	for range 5 {
		res, err := lim.Allow(ctx, "key-1", ratelimit.PerMinute(2))
		if err != nil {
			t.Fatalf("fallback policy returned %v", err)
		}
		if res.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("%d allowed by the fallback limiter, want 2", allowed)
	}

	rm := s.collect(t)
	for _, tc := range []struct {
		name string
		got  int64
		want int64
	}{
		{"fallback decisions", sum(t, rm, "gatehouse.redislimit.fallback.decisions"), 5},
		{"redis errors", sum(t, rm, "gatehouse.redislimit.errors"), 3},
		{"breaker opens", sum(t, rm, "gatehouse.redislimit.breaker.opens"), 1},
		{"breaker open now", sum(t, rm, "gatehouse.redislimit.breaker.state", telemetry.AttrBreakerState.String("open")), 1},
		{"breaker closed now", sum(t, rm, "gatehouse.redislimit.breaker.state", telemetry.AttrBreakerState.String("closed")), 0},
		{"limiter allowed", sum(t, rm, "gatehouse.redislimit.decisions", telemetry.AttrDecision.String("allowed")), 2},
		{"limiter limited", sum(t, rm, "gatehouse.redislimit.decisions", telemetry.AttrDecision.String("limited")), 3},
		{"decorator allowed", sum(t, rm, "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("allowed")), 2},
		{"decorator limited", sum(t, rm, "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("limited")), 3},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}

	// A limiter that does I/O gets a span per call, with its decision.
	spans := s.ended("gatehouse.ratelimit.allow")
	if len(spans) != 5 {
		t.Fatalf("%d limiter spans, want 5", len(spans))
	}
	if d, _ := spanAttr(spans[4], telemetry.AttrDecision); d != "limited" {
		t.Errorf("last decision %q, want limited", d)
	}
	// The failed Redis calls are spans with errors, children of the
	// limiter's.
	var failed int
	for _, sp := range s.spans.Ended() {
		if sys, _ := spanAttr(sp, semconv.DBSystemNameKey); sys == "redis" && sp.Status().Code == codes.Error {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no failed Redis span")
	}

	// Unregistering stops the export.
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if findMetric(s.collect(t), "gatehouse.redislimit.fallback.decisions") != nil {
		t.Error("fallback decisions still exported after Unregister")
	}
}

// TestRedisLimiterSpans runs the Redis limiter on the real Redis: each
// Allow and each pipeline to Redis is a span; the limiter's counters are
// observed.
func TestRedisLimiterSpans(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	client := dbtest.Redis(t)
	client.AddHook(tel.RedisHook())
	rl, err := redislimit.New(redislimit.Options{Client: client, Prefix: dbtest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.ObserveLimiter(rl.Stats); err != nil {
		t.Fatal(err)
	}
	lim := tel.Limiter(rl)
	ctx := context.Background()
	l := ratelimit.PerMinute(2)
	for range 3 {
		if _, err := lim.Allow(ctx, "k", l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lim.(ratelimit.Peeker).Peek(ctx, "k", l); err != nil {
		t.Fatal(err)
	}
	rm := s.collect(t)
	if got := sum(t, rm, "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("limited")); got != 1 {
		t.Errorf("decorator limited = %d, want 1", got)
	}
	if got := sum(t, rm, "gatehouse.redislimit.decisions"); got != 3 {
		t.Errorf("limiter decisions = %d, want 3 (the peek is not one)", got)
	}
	if got := sum(t, rm, "gatehouse.redislimit.errors"); got != 0 {
		t.Errorf("redis errors = %d", got)
	}
	if got := sum(t, rm, "gatehouse.redislimit.deny_cache.hits"); got != 1 {
		t.Errorf("deny cache hits = %d, want 1 (the peek after the limited call)", got)
	}
	if trips, cmds := sum(t, rm, "gatehouse.redislimit.round_trips"), sum(t, rm, "gatehouse.redislimit.commands"); trips < 1 || cmds < 2 || cmds < trips {
		t.Errorf("round trips %d, commands %d: want at least 1 and 2", trips, cmds)
	}
	if n := len(s.ended("gatehouse.ratelimit.allow")); n != 3 {
		t.Errorf("%d allow spans, want 3", n)
	}
	if n := len(s.ended("gatehouse.ratelimit.peek")); n != 1 {
		t.Errorf("%d peek spans, want 1", n)
	}
	var redisSpans int
	for _, sp := range s.spans.Ended() {
		if sys, _ := spanAttr(sp, semconv.DBSystemNameKey); sys == "redis" {
			redisSpans++
			if sp.Status().Code == codes.Error {
				t.Errorf("Redis span %s failed: %s", sp.Name(), sp.Status().Description)
			}
		}
	}
	// Three calls went to Redis (the peek was answered by the deny cache),
	// batched into one or more pipelines.
	if redisSpans < 1 {
		t.Errorf("%d Redis spans, want at least 1", redisSpans)
	}
}

// TestLimiterErrors: a failing limiter is counted as an error decision and
// its span (a limiter that is not Memory) fails.
func TestLimiterErrors(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	lim := tel.Limiter(ratelimit.LimiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{}, errors.New("limiter backend down")
	}))
	if _, err := lim.Allow(context.Background(), "k", ratelimit.PerMinute(1)); err == nil {
		t.Fatal("no error")
	}
	if got := sum(t, s.collect(t), "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("error")); got != 1 {
		t.Errorf("error decisions = %d, want 1", got)
	}
	spans := s.ended("gatehouse.ratelimit.allow")
	if len(spans) != 1 || spans[0].Status().Code != codes.Error {
		t.Fatalf("spans %v", spans)
	}
	if d, _ := spanAttr(spans[0], telemetry.AttrDecision); d != "error" {
		t.Errorf("decision %q", d)
	}
}

// TestLimiterPeekerPassThrough: a limiter without Peek stays without it
// (FailedAuth refuses it at setup), one with Peek keeps it and can serve
// FailedAuth.
func TestLimiterPeekerPassThrough(t *testing.T) {
	t.Parallel()
	tel := newSDK(t).instruments(t, telemetry.Options{})
	plain := tel.Limiter(ratelimit.LimiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{Limit: l, Allowed: true}, nil
	}))
	if _, ok := plain.(ratelimit.Peeker); ok {
		t.Fatal("a LimiterFunc gained Peek")
	}
	if _, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: plain}); err == nil {
		t.Fatal("FailedAuth accepted a limiter without Peek")
	}
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fa, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: tel.Limiter(mem), Limit: ratelimit.PerMinute(1)})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := fa.Allow(r); err != nil {
		t.Fatal(err)
	}
	fa.Failed(r)
	if err := fa.Allow(r); err == nil {
		t.Fatal("the failed-auth throttle through the decorator did not limit")
	}
}

// TestLimiterAllowN: the decorator keeps AllowN exactly when the limiter
// has it, passes the limiter suite (AllowN cases included) around Memory,
// counts each AllowN as one decision and puts the cost on the span.
func TestLimiterAllowN(t *testing.T) {
	t.Parallel()
	tel := newSDK(t).instruments(t, telemetry.Options{})
	plain := tel.Limiter(ratelimit.LimiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{Limit: l, Allowed: true}, nil
	}))
	if _, ok := plain.(ratelimit.NLimiter); ok {
		t.Fatal("a LimiterFunc gained AllowN")
	}
	t.Run("suite", func(t *testing.T) {
		t.Parallel()
		ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
			mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			lim := tel.Limiter(mem)
			if _, ok := lim.(ratelimit.Peeker); !ok {
				t.Fatal("the decorated Memory lost Peek")
			}
			return lim
		})
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		s := newSDK(t)
		tel := s.instruments(t, telemetry.Options{})
		rl, err := redislimit.New(redislimit.Options{Client: dbtest.Redis(t), Prefix: dbtest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		lim, ok := tel.Limiter(rl).(ratelimit.NLimiter)
		if !ok {
			t.Fatal("the decorated Redis limiter lost AllowN")
		}
		ctx := context.Background()
		l := ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Hour}
		for i, want := range []bool{true, true, false} {
			res, err := lim.AllowN(ctx, "k", l, 4)
			if err != nil || res.Allowed != want {
				t.Fatalf("AllowN %d: %+v, %v; want allowed %v", i+1, res, err, want)
			}
		}
		rm := s.collect(t)
		if got := sum(t, rm, "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("allowed")); got != 2 {
			t.Errorf("allowed decisions = %d, want 2", got)
		}
		if got := sum(t, rm, "gatehouse.ratelimit.decisions", telemetry.AttrDecision.String("limited")); got != 1 {
			t.Errorf("limited decisions = %d, want 1", got)
		}
		spans := s.ended("gatehouse.ratelimit.allow")
		if len(spans) != 3 {
			t.Fatalf("%d allow spans, want 3", len(spans))
		}
		if c, _ := spanAttr(spans[2], telemetry.AttrCost); c != "4" {
			t.Errorf("span cost %q, want 4", c)
		}
	})
}
