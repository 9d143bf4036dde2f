package ratelimit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/ratelimittest"
)

// clock is a manual clock for deterministic tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

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

func newMemory(t testing.TB, opts ratelimit.MemoryOptions) *ratelimit.Memory {
	t.Helper()
	m, err := ratelimit.NewMemory(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemorySuite(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		return newMemory(t, ratelimit.MemoryOptions{})
	})
}

func TestMemorySuiteSmall(t *testing.T) {
	t.Parallel()
	// One shard with room for every key of the suite: the same behaviour.
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
		return newMemory(t, ratelimit.MemoryOptions{Shards: 1, MaxKeys: 100})
	})
}

func TestNewMemoryErrors(t *testing.T) {
	t.Parallel()
	for _, opts := range []ratelimit.MemoryOptions{{Shards: -1}, {MaxKeys: -1}} {
		if _, err := ratelimit.NewMemory(opts); err == nil {
			t.Errorf("NewMemory(%+v): no error", opts)
		}
	}
}

// TestMemoryGCRA checks exact decisions on a manual clock.
func TestMemoryGCRA(t *testing.T) {
	t.Parallel()
	type step struct {
		advance    time.Duration
		allowed    bool
		remaining  int
		retryAfter time.Duration
		resetAfter time.Duration
	}
	ms := time.Millisecond
	cases := []struct {
		name  string
		limit ratelimit.Limit
		steps []step
	}{
		{
			name:  "burst then refill",
			limit: ratelimit.Limit{Rate: 5, Burst: 5, Period: time.Second}, // 200 ms per event
			steps: []step{
				{0, true, 4, 0, 200 * ms},
				{0, true, 3, 0, 400 * ms},
				{0, true, 2, 0, 600 * ms},
				{0, true, 1, 0, 800 * ms},
				{0, true, 0, 0, 1000 * ms},
				{0, false, 0, 200 * ms, 1000 * ms},
				{50 * ms, false, 0, 150 * ms, 950 * ms},
				{149 * ms, false, 0, 1 * ms, 801 * ms},
				{1 * ms, true, 0, 0, 1000 * ms},
				{0, false, 0, 200 * ms, 1000 * ms},
				{1000 * ms, true, 4, 0, 200 * ms},
				{10 * time.Second, true, 4, 0, 200 * ms},
			},
		},
		{
			name:  "per minute",
			limit: ratelimit.PerMinute(60), // one a second, burst 60
			steps: []step{
				{0, true, 59, 0, time.Second},
				{500 * ms, true, 58, 0, 1500 * ms},
				{2 * time.Second, true, 59, 0, time.Second},
			},
		},
		{
			name:  "burst below rate",
			limit: ratelimit.Limit{Rate: 10, Burst: 2, Period: time.Second}, // 100 ms per event
			steps: []step{
				{0, true, 1, 0, 100 * ms},
				{0, true, 0, 0, 200 * ms},
				{0, false, 0, 100 * ms, 200 * ms},
				{30 * ms, false, 0, 70 * ms, 170 * ms},
				{70 * ms, true, 0, 0, 200 * ms},
				{150 * ms, true, 0, 0, 150 * ms},
				{150 * ms, true, 1, 0, 100 * ms},
			},
		},
		{
			name:  "burst above rate",
			limit: ratelimit.Limit{Rate: 1, Burst: 3, Period: time.Second},
			steps: []step{
				{0, true, 2, 0, time.Second},
				{0, true, 1, 0, 2 * time.Second},
				{0, true, 0, 0, 3 * time.Second},
				{0, false, 0, time.Second, 3 * time.Second},
				{999 * ms, false, 0, 1 * ms, 2001 * ms},
				{1 * ms, true, 0, 0, 3 * time.Second},
			},
		},
		{
			name:  "uneven emission",
			limit: ratelimit.Limit{Rate: 3, Burst: 1, Period: time.Second}, // 333.333333 ms
			steps: []step{
				{0, true, 0, 0, 333333333},
				{333333332, false, 0, 1, 1},
				{1, true, 0, 0, 333333333},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
			for i, s := range tc.steps {
				c.Advance(s.advance)
				got, err := m.Allow(context.Background(), "k", tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				want := ratelimit.Result{Limit: tc.limit, Allowed: s.allowed, Remaining: s.remaining, RetryAfter: s.retryAfter, ResetAfter: s.resetAfter}
				if got != want {
					t.Fatalf("step %d: got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

// TestMemoryPeek checks Peek against Allow on a manual clock.
func TestMemoryPeek(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
	l := ratelimit.Limit{Rate: 4, Burst: 4, Period: time.Second} // 250 ms
	ctx := context.Background()
	peek := func(allowed bool, remaining int, retry, reset time.Duration) {
		t.Helper()
		got, err := m.Peek(ctx, "k", l)
		if err != nil {
			t.Fatal(err)
		}
		want := ratelimit.Result{Limit: l, Allowed: allowed, Remaining: remaining, RetryAfter: retry, ResetAfter: reset}
		if got != want {
			t.Fatalf("Peek = %+v, want %+v", got, want)
		}
	}
	peek(true, 4, 0, 0)
	for range 4 {
		if r, _ := m.Allow(ctx, "k", l); !r.Allowed {
			t.Fatal("denied within the burst")
		}
	}
	peek(false, 0, 250*time.Millisecond, time.Second)
	c.Advance(100 * time.Millisecond)
	peek(false, 0, 150*time.Millisecond, 900*time.Millisecond)
	c.Advance(150 * time.Millisecond)
	peek(true, 1, 0, 750*time.Millisecond)
	peek(true, 1, 0, 750*time.Millisecond)
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1", m.Len())
	}
	if _, err := m.Peek(ctx, "other", l); err != nil || m.Len() != 1 {
		t.Fatalf("Peek of a new key stored state: Len = %d, err %v", m.Len(), err)
	}
}

// TestMemoryLimitChange: a key's limit may change between calls (a key's
// rate_limit_per_minute edited by an admin) and takes effect at once.
func TestMemoryLimitChange(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
	ctx := context.Background()
	for range 10 {
		m.Allow(ctx, "k", ratelimit.PerMinute(10))
	}
	if r, _ := m.Allow(ctx, "k", ratelimit.PerMinute(10)); r.Allowed {
		t.Fatal("allowed beyond 10")
	}
	// GCRA keeps time, not a count: the spent minute now holds 20 events,
	// and the next one is 3 s (one new emission interval) away.
	r, _ := m.Allow(ctx, "k", ratelimit.PerMinute(20))
	if r.Allowed || r.RetryAfter != 3*time.Second {
		t.Fatalf("raised limit: %+v, want denied with RetryAfter 3s", r)
	}
	c.Advance(3 * time.Second)
	if r, _ = m.Allow(ctx, "k", ratelimit.PerMinute(20)); !r.Allowed {
		t.Fatalf("raised limit, 3 s later: %+v, want allowed", r)
	}
	r, _ = m.Allow(ctx, "k", ratelimit.PerMinute(5))
	if r.Allowed || r.RetryAfter <= 0 {
		t.Fatalf("lowered limit: %+v, want denied", r)
	}
	p, _ := m.Peek(ctx, "k", ratelimit.PerMinute(5))
	if p.Allowed || p.Remaining != 0 || p.RetryAfter != r.RetryAfter {
		t.Fatalf("lowered limit: Peek = %+v, want it to agree with Allow %+v", p, r)
	}
}

// TestMemoryClockBackwards: a clock that steps back never panics or
// over-admits.
func TestMemoryClockBackwards(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
	l := ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Second}
	ctx := context.Background()
	m.Allow(ctx, "k", l)
	m.Allow(ctx, "k", l)
	c.Advance(-time.Hour)
	if r, _ := m.Allow(ctx, "k", l); r.Allowed {
		t.Fatalf("allowed after the clock stepped back: %+v", r)
	}
}

func TestMemoryMaxKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now, Shards: 4, MaxKeys: 64})
	l := ratelimit.PerMinute(10)
	ctx := context.Background()
	for i := range 10000 {
		if r, _ := m.Allow(ctx, fmt.Sprint("key-", i), l); !r.Allowed {
			t.Fatalf("fresh key %d denied", i)
		}
		if n := m.Len(); n > 64 {
			t.Fatalf("after %d keys: Len = %d > MaxKeys 64", i+1, n)
		}
	}
}

// TestMemoryEvictsClosestToFull: in a full shard with no idle key, the key
// with the least state left goes; a busy key keeps its state.
func TestMemoryEvictsClosestToFull(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now, Shards: 1, MaxKeys: 8})
	l := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}
	ctx := context.Background()
	for range 3 {
		m.Allow(ctx, "busy", l)
	}
	for i := range 20 {
		c.Advance(time.Millisecond)
		m.Allow(ctx, fmt.Sprint("once-", i), l)
	}
	if n := m.Len(); n != 8 {
		t.Fatalf("Len = %d, want 8", n)
	}
	if r, _ := m.Allow(ctx, "busy", l); r.Allowed {
		t.Fatal("the busy key lost its state to eviction")
	}
	// The most recent keys are kept; the first ones went.
	if r, _ := m.Peek(ctx, "once-19", l); r.Remaining != 2 {
		t.Fatalf("newest key: Remaining %d, want 2 (state kept)", r.Remaining)
	}
	if r, _ := m.Peek(ctx, "once-0", l); r.Remaining != 3 {
		t.Fatalf("oldest key: Remaining %d, want 3 (evicted)", r.Remaining)
	}
}

// TestMemoryDropsIdleKeys: keys whose bucket is full again are dropped by
// later inserts, without any sweeper.
func TestMemoryDropsIdleKeys(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := newMemory(t, ratelimit.MemoryOptions{Now: c.Now, Shards: 1, MaxKeys: 1000})
	l := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Second}
	ctx := context.Background()
	for i := range 500 {
		m.Allow(ctx, fmt.Sprint("old-", i), l)
	}
	c.Advance(2 * time.Second) // every old key is full again
	for i := range 500 {
		m.Allow(ctx, fmt.Sprint("new-", i), l)
	}
	// Each insert drops the idle keys among two sampled entries.
	if n := m.Len(); n >= 900 {
		t.Fatalf("Len = %d: idle keys were not dropped", n)
	}
}

func TestMemoryLongKeys(t *testing.T) {
	t.Parallel()
	m := newMemory(t, ratelimit.MemoryOptions{})
	l := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Hour}
	ctx := context.Background()
	base := strings.Repeat("x", 10<<10)
	keys := []string{base, base + "y", base[:64], base[:65], base[:66]}
	for _, k := range keys {
		if r, _ := m.Allow(ctx, k, l); !r.Allowed {
			t.Fatalf("key of %d bytes: first event denied (collision)", len(k))
		}
	}
	for _, k := range keys {
		if r, _ := m.Allow(ctx, k, l); r.Allowed {
			t.Fatalf("key of %d bytes: second event allowed", len(k))
		}
	}
}

func TestMemoryWarmKeyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	m := newMemory(t, ratelimit.MemoryOptions{})
	ctx := context.Background()
	l := ratelimit.PerMinute(1 << 30)
	m.Allow(ctx, "warm-key", l)
	if n := testing.AllocsPerRun(1000, func() { m.Allow(ctx, "warm-key", l) }); n != 0 {
		t.Fatalf("Allow on a warm key: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Peek(ctx, "warm-key", l) }); n != 0 {
		t.Fatalf("Peek on a warm key: %v allocations, want 0", n)
	}
}

// benchLimit keeps one benchmark key busy (its TAT ahead of the clock, so
// it never turns idle) without denying within a benchmark's run;
// benchLimitSlow does the same for each of 1024 keys taking turns.
var (
	benchLimit     = ratelimit.Limit{Rate: 1e9, Burst: 1e9, Period: time.Hour}
	benchLimitSlow = ratelimit.Limit{Rate: 1e6, Burst: 1e6, Period: 1000 * time.Hour}
)

func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	l := benchLimit
	b.Run("serial", func(b *testing.B) {
		m := newMemory(b, ratelimit.MemoryOptions{})
		m.Allow(ctx, "key", l)
		b.ReportAllocs()
		for b.Loop() {
			m.Allow(ctx, "key", l)
		}
	})
	b.Run("parallel/one-key", func(b *testing.B) {
		m := newMemory(b, ratelimit.MemoryOptions{})
		m.Allow(ctx, "key", l)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Allow(ctx, "key", l)
			}
		})
	})
	b.Run("parallel/many-keys", func(b *testing.B) {
		m := newMemory(b, ratelimit.MemoryOptions{})
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprint("key-", i)
			m.Allow(ctx, keys[i], benchLimitSlow)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Allow(ctx, keys[i&1023], benchLimitSlow)
				i++
			}
		})
	})
	b.Run("new-keys", func(b *testing.B) {
		// Distinct keys beyond MaxKeys: inserts with eviction.
		m := newMemory(b, ratelimit.MemoryOptions{MaxKeys: 1 << 12})
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = fmt.Sprint("key-", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Allow(ctx, keys[i&(1<<16-1)], l)
			i++
		}
	})
}
