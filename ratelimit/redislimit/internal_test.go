package redislimit

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
)

func TestParseReply(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    []int64
		cost int
		want error
	}{
		{"allowed", []int64{1, 4, -1, 2e8}, 1, nil},
		{"allowed n", []int64{5, 4, -1, 2e8}, 5, nil},
		{"denied", []int64{0, 0, 1e8, 1e9}, 1, nil},
		{"peek", []int64{0, 3, -1, 0}, 0, nil},
		{"peek over a lowered limit", []int64{0, 0, 6e11, 24e11}, 0, nil},
		{"bad value", []int64{-2, 0, 0, 0}, 1, errBadValue},
		{"short", []int64{1, 4, -1}, 1, errBadReply},
		{"long", []int64{1, 4, -1, 2, 5}, 1, errBadReply},
		{"allowed other cost", []int64{2, 4, -1, 2e8}, 1, errBadReply},
		{"negative allowed", []int64{-1, 4, -1, 2e8}, 1, errBadReply},
		{"allowed with retry", []int64{1, 4, 5, 2e8}, 1, errBadReply},
		{"denied without retry", []int64{0, 0, -1, 2e8}, 1, errBadReply},
	}
	for _, tc := range cases {
		if _, err := parseReply(tc.v, tc.cost); err != tc.want {
			t.Errorf("%s: parseReply(%v, %d) = %v, want %v", tc.name, tc.v, tc.cost, err, tc.want)
		}
	}
}

// fakeClock is a manual monotonic clock in nanoseconds.
type fakeClock struct{ ns int64 }

func (c *fakeClock) now() int64 { return c.ns }

func TestBreaker(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{}
	b := &breaker{threshold: 3, cooldown: 5 * time.Second, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), clock: clk.now}
	ctx := context.Background()
	mustAcquire := func(wantOK, wantProbe bool) {
		t.Helper()
		ok, probe := b.acquire()
		if ok != wantOK || probe != wantProbe {
			t.Fatalf("acquire = %v, %v; want %v, %v (state %s)", ok, probe, wantOK, wantProbe, b.State())
		}
	}
	// Failures below the threshold, interrupted by a success, do not open.
	for range 2 {
		mustAcquire(true, false)
		b.failure(ctx, false, io.EOF)
	}
	b.success(ctx, false)
	for range 2 {
		b.failure(ctx, false, io.EOF)
	}
	if b.State() != BreakerClosed {
		t.Fatalf("state %s after 2 consecutive failures, want closed", b.State())
	}
	b.failure(ctx, false, io.EOF)
	if b.State() != BreakerOpen || b.opens.Load() != 1 {
		t.Fatalf("state %s after 3 consecutive failures, want open", b.State())
	}
	if d := b.retryIn(); d != 5*time.Second {
		t.Fatalf("retryIn = %s, want 5s", d)
	}
	// More failures of calls already in flight change nothing.
	b.failure(ctx, false, io.EOF)
	if b.opens.Load() != 1 {
		t.Fatal("opened twice")
	}
	mustAcquire(false, false)
	clk.ns += int64(4 * time.Second)
	mustAcquire(false, false)
	if d := b.retryIn(); d != time.Second {
		t.Fatalf("retryIn = %s, want 1s", d)
	}
	clk.ns += int64(time.Second)
	// One probe at a time.
	mustAcquire(true, true)
	mustAcquire(false, false)
	// A probe whose caller left frees the slot.
	b.release(true)
	mustAcquire(true, true)
	// A failed probe opens again for a full cool-down.
	b.failure(ctx, true, io.EOF)
	if b.State() != BreakerOpen {
		t.Fatalf("state %s after a failed probe, want open", b.State())
	}
	mustAcquire(false, false)
	clk.ns += int64(5 * time.Second)
	mustAcquire(true, true)
	b.success(ctx, true)
	if b.State() != BreakerClosed {
		t.Fatalf("state %s after a good probe, want closed", b.State())
	}
	mustAcquire(true, false)
	if b.opens.Load() != 1 {
		t.Fatalf("opens = %d, want 1 (re-opening after a probe is not a new opening)", b.opens.Load())
	}
}

func TestDenyCache(t *testing.T) {
	t.Parallel()
	c := newDenyCache(32) // 2 per shard
	l := ratelimit.PerMinute(10)
	c.put("a", denial{limit: l, cost: 1, until: 100, resetAt: 200}, 0)
	if d, ok := c.get("a", l, 1, 50); !ok || d.until != 100 {
		t.Fatalf("get before until: %+v, %v", d, ok)
	}
	if _, ok := c.get("a", ratelimit.PerMinute(20), 1, 50); ok {
		t.Fatal("get with another limit: hit")
	}
	c.put("a", denial{limit: l, cost: 1, until: 100, resetAt: 200}, 0)
	if _, ok := c.get("a", l, 1, 100); ok {
		t.Fatal("get at until: hit")
	}
	// A denied cost of 5 refuses 5 and more, not less.
	c.put("b", denial{limit: l, cost: 5, until: 100, resetAt: 200}, 0)
	for _, tc := range []struct {
		cost int
		hit  bool
	}{{1, false}, {4, false}, {5, true}, {9, true}, {4, false}} {
		if _, ok := c.get("b", l, tc.cost, 50); ok != tc.hit {
			t.Fatalf("get cost %d after a denial of 5: hit %v, want %v", tc.cost, ok, tc.hit)
		}
	}
	for i := range 10000 {
		c.put(string(rune(i)), denial{limit: l, until: int64(1000 + i)}, int64(i))
	}
	if n := c.len(); n > 32 {
		t.Fatalf("len = %d, want at most 32", n)
	}
}

func TestConvertPeek(t *testing.T) {
	t.Parallel()
	// Redis's answers to a cost-0 call, on a 3-per-hour limit (20 min per
	// event).
	lim := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Hour}
	e := lim.Emission()
	cases := []struct {
		name string
		rr   rrResult
		want ratelimit.Result
	}{
		{"fresh", rrResult{0, 3, -1, 0}, ratelimit.Result{Limit: lim, Allowed: true, Remaining: 3}},
		{"one spent", rrResult{0, 2, -1, e}, ratelimit.Result{Limit: lim, Allowed: true, Remaining: 2, ResetAfter: e}},
		{"empty", rrResult{0, 0, -1, 3 * e}, ratelimit.Result{Limit: lim, RetryAfter: e, ResetAfter: 3 * e}},
		{"almost", rrResult{0, 0, -1, 2*e + time.Second}, ratelimit.Result{Limit: lim, RetryAfter: time.Second, ResetAfter: 2*e + time.Second}},
		{"limit lowered", rrResult{0, 0, 10 * time.Minute, 4 * e}, ratelimit.Result{Limit: lim, RetryAfter: 2 * e, ResetAfter: 4 * e}},
	}
	for _, tc := range cases {
		if got := convert(lim, tc.rr.reply(), 0); got != tc.want {
			t.Errorf("%s: convert = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

type rrResult struct {
	allowed, remaining int
	retry, reset       time.Duration
}

func (r rrResult) reply() reply {
	return reply{allowed: int64(r.allowed), remaining: int64(r.remaining), retryAfter: r.retry, resetAfter: r.reset}
}

// TestScriptRepeatedKeys: a round trip carrying one key several times (and
// a bucket holding garbage) decides them in order, as separate calls
// would, on one GET and one SET per key.
func TestScriptRepeatedKeys(t *testing.T) {
	t.Parallel()
	client := dbtest.Redis(t)
	ctx := context.Background()
	prefix := "rate:" + dbtest.Prefix(t)
	t.Cleanup(func() { client.Del(context.Background(), prefix+"{k}", prefix+"{o}", prefix+"{bad}") })
	if err := client.Set(ctx, prefix+"{bad}", "not a number", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	d := &dispatcher{client: client, maxBatch: 16, timeout: 5 * time.Second, sem: make(chan struct{}, 1)}
	lim := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Hour}
	la := &limitArgs{lim.Burst, lim.Rate, lim.Period.Seconds()}
	mk := func(key string, cost int) *call {
		return &call{key: prefix + "{" + key + "}", lim: lim, cost: cost, args: la, done: make(chan struct{}, 1)}
	}
	batch := []*call{mk("k", 1), mk("k", 1), mk("o", 2), mk("bad", 1), mk("k", 0), mk("k", 1), mk("k", 1), mk("o", 2)}
	d.exec(ctx, batch)
	want := []struct {
		allowed, remaining int64
		err                error
	}{{1, 2, nil}, {1, 1, nil}, {2, 1, nil}, {0, 0, errBadValue}, {0, 1, nil}, {1, 0, nil}, {0, 0, nil}, {0, 0, nil}}
	for i, c := range batch {
		if c.err != want[i].err || c.res.allowed != want[i].allowed || c.res.remaining != want[i].remaining {
			t.Errorf("call %d (%s cost %d): %+v, %v; want allowed %d, remaining %d, %v", i, c.key, c.cost, c.res, c.err, want[i].allowed, want[i].remaining, want[i].err)
		}
	}
	// Redis holds the last TAT: the next event of k is denied, o has 1.
	next := []*call{mk("k", 1), mk("o", 1)}
	d.exec(ctx, next)
	if next[0].err != nil || next[0].res.allowed != 0 || next[1].err != nil || next[1].res.allowed != 1 || next[1].res.remaining != 0 {
		t.Fatalf("after the batch: k %+v %v, o %+v %v", next[0].res, next[0].err, next[1].res, next[1].err)
	}
	if ttl := client.TTL(ctx, prefix+"{k}").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL of k = %s, want the full hour (3 events of 20 minutes)", ttl)
	}
}
