package ratelimittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/ratelimit"
)

// Run runs the suite as subtests of t. newLimiter is called once per subtest
// and must return a limiter whose state is not shared with any other
// limiter it returned (for Redis: a fresh key prefix).
func Run(t *testing.T, newLimiter func(t *testing.T) ratelimit.Limiter) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, l ratelimit.Limiter, key func(string) string)
	}{
		{"BurstThenDeny", testBurstThenDeny},
		{"DeniedConsumesNothing", testDeniedConsumesNothing},
		{"Refill", testRefill},
		{"IndependentKeys", testIndependentKeys},
		{"Concurrent", testConcurrent},
		{"Keys", testKeys},
		{"InvalidLimit", testInvalidLimit},
		{"Peek", testPeek},
		{"AllowN", testAllowN},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t)
			if l == nil {
				t.Fatal("newLimiter returned nil")
			}
			salt := randomHex()
			tc.fn(t, l, func(s string) string { return "rlt:" + salt + ":" + s })
		})
	}
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hour is the period of the exactness checks: nothing refills during a test.
const hour = time.Hour

// slack is the tolerance on durations measured on real time between the
// test and the limiter's clock (a loaded machine, -race, a round trip).
const slack = time.Second

func allow(t *testing.T, l ratelimit.Limiter, key string, lim ratelimit.Limit) ratelimit.Result {
	t.Helper()
	res, err := l.Allow(t.Context(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%.40q, %+v): %v", key, lim, err)
	}
	if res.Remaining < 0 {
		t.Fatalf("Allow(%.40q): Remaining = %d < 0", key, res.Remaining)
	}
	if res.Allowed && res.RetryAfter != 0 {
		t.Fatalf("Allow(%.40q): allowed with RetryAfter = %s, want 0", key, res.RetryAfter)
	}
	if !res.Allowed && (res.RetryAfter <= 0 || res.Remaining != 0) {
		t.Fatalf("Allow(%.40q): denied with RetryAfter = %s, Remaining = %d; want > 0 and 0", key, res.RetryAfter, res.Remaining)
	}
	if res.ResetAfter < 0 || res.ResetAfter > lim.Emission()*time.Duration(lim.Burst)+slack {
		t.Fatalf("Allow(%.40q): ResetAfter = %s out of [0, burst window]", key, res.ResetAfter)
	}
	if res.Limit != lim {
		t.Fatalf("Allow(%.40q): Result.Limit = %+v, want %+v", key, res.Limit, lim)
	}
	return res
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -slack && d < slack
}

// testBurstThenDeny: a fresh key gets its burst with Remaining counting
// down, then is denied with a RetryAfter of one emission interval.
func testBurstThenDeny(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	lim := ratelimit.Limit{Rate: 5, Burst: 5, Period: hour}
	e := lim.Emission()
	k := key("burst")
	for i := range 5 {
		res := allow(t, l, k, lim)
		if !res.Allowed {
			t.Fatalf("event %d denied, want the burst of 5 allowed", i+1)
		}
		if want := 4 - i; res.Remaining != want {
			t.Errorf("event %d: Remaining = %d, want %d", i+1, res.Remaining, want)
		}
		if want := time.Duration(i+1) * e; !near(res.ResetAfter, want) {
			t.Errorf("event %d: ResetAfter = %s, want about %s", i+1, res.ResetAfter, want)
		}
	}
	for i := range 3 {
		res := allow(t, l, k, lim)
		if res.Allowed {
			t.Fatalf("event %d allowed after the burst", 6+i)
		}
		if !near(res.RetryAfter, e) || res.RetryAfter > e {
			t.Errorf("denied: RetryAfter = %s, want just under %s", res.RetryAfter, e)
		}
		if !near(res.ResetAfter, 5*e) {
			t.Errorf("denied: ResetAfter = %s, want about %s", res.ResetAfter, 5*e)
		}
	}
}

// testDeniedConsumesNothing: denials neither push RetryAfter back nor delay
// the refill: a client polling while denied gets in after one emission
// interval.
func testDeniedConsumesNothing(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	t.Run("hour", func(t *testing.T) {
		lim := ratelimit.Limit{Rate: 2, Burst: 2, Period: hour}
		k := key("denied-hour")
		allow(t, l, k, lim)
		allow(t, l, k, lim)
		first := allow(t, l, k, lim)
		if first.Allowed {
			t.Fatal("third event allowed with a burst of 2")
		}
		var last ratelimit.Result
		for range 50 {
			last = allow(t, l, k, lim)
			if last.Allowed {
				t.Fatal("allowed while the bucket is empty")
			}
		}
		if last.RetryAfter > first.RetryAfter || !near(last.RetryAfter, first.RetryAfter) {
			t.Errorf("RetryAfter grew from %s to %s over 50 denials", first.RetryAfter, last.RetryAfter)
		}
		if !near(last.ResetAfter, first.ResetAfter) || last.ResetAfter > first.ResetAfter {
			t.Errorf("ResetAfter grew from %s to %s over 50 denials", first.ResetAfter, last.ResetAfter)
		}
	})
	t.Run("polling", func(t *testing.T) {
		lim := ratelimit.Limit{Rate: 10, Burst: 1, Period: 500 * time.Millisecond} // one event per 50 ms
		k := key("denied-poll")
		if !allow(t, l, k, lim).Allowed {
			t.Fatal("first event denied")
		}
		start := time.Now()
		denied := 0
		for {
			res := allow(t, l, k, lim)
			if res.Allowed {
				break
			}
			denied++
			if time.Since(start) > 20*lim.Emission() {
				t.Fatalf("still denied %s after the bucket emptied (%d denials): denials consume", time.Since(start), denied)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if denied == 0 {
			t.Skip("machine too slow: the refill came before the first poll")
		}
	})
}

// testRefill: an emptied bucket refills at the rate and is full again after
// ResetAfter.
func testRefill(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	// One event per 200 ms: long enough that a loaded machine running
	// -race answers the burst well within one interval.
	lim := ratelimit.Limit{Rate: 5, Burst: 5, Period: time.Second}
	e := lim.Emission()
	k := key("refill")
	// drain spends the bucket until the first denial and returns how many
	// events passed, less those refilled meanwhile (a slow machine), and
	// the denial.
	drain := func() (int, ratelimit.Result) {
		t.Helper()
		start := time.Now()
		n := 0
		for range 50 {
			res := allow(t, l, k, lim)
			if !res.Allowed {
				return n - int(time.Since(start)/e), res
			}
			n++
		}
		t.Fatal("50 events allowed with a burst of 5")
		return 0, ratelimit.Result{}
	}
	if n, _ := drain(); n < 4 || n > 6 {
		t.Fatalf("fresh key: %d allowed before the first denial, want 5±1", n)
	}
	_, denied := drain()
	if denied.RetryAfter > e {
		t.Errorf("denied: RetryAfter = %s, want at most one emission interval (%s)", denied.RetryAfter, e)
	}
	time.Sleep(denied.ResetAfter + 20*time.Millisecond)
	if full := allow(t, l, k, lim); !full.Allowed || full.Remaining < 3 {
		t.Fatalf("after ResetAfter: %+v, want allowed with Remaining 4±1", full)
	}
	drain()
	drained := time.Now()
	time.Sleep(2 * e)
	n := 0
	for range 4 {
		if !allow(t, l, k, lim).Allowed {
			break
		}
		n++
	}
	// About two intervals passed; a loaded machine oversleeps and answers
	// slowly, so the bound is what the time that really passed refilled.
	most := int(time.Since(drained)/e) + 1
	if n < 1 || n > most {
		t.Errorf("%s after draining (about two emission intervals): %d allowed, want 1 to %d", time.Since(drained).Round(time.Millisecond), n, most)
	}
}

// testIndependentKeys: emptying one key leaves the others full.
func testIndependentKeys(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	lim := ratelimit.Limit{Rate: 3, Burst: 3, Period: hour}
	a, b := key("a"), key("b")
	for range 3 {
		allow(t, l, a, lim)
	}
	if allow(t, l, a, lim).Allowed {
		t.Fatal("a: allowed after its burst")
	}
	for i := range 3 {
		if res := allow(t, l, b, lim); !res.Allowed || res.Remaining != 2-i {
			t.Fatalf("b event %d: %+v, want allowed with Remaining %d", i+1, res, 2-i)
		}
	}
}

// testConcurrent: many goroutines on one key never get more than the burst.
func testConcurrent(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	lim := ratelimit.Limit{Rate: 20, Burst: 20, Period: hour}
	k := key("concurrent")
	var allowed, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 5 {
				res, err := l.Allow(t.Context(), k, lim)
				if err != nil {
					errs <- err
					return
				}
				if res.Allowed {
					allowed.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if allowed.Load() != 20 || denied.Load() != 60 {
		t.Fatalf("allowed %d, denied %d of 80 concurrent events; want 20 and 60", allowed.Load(), denied.Load())
	}
}

// WeirdKeys are key ids that must each get their own bucket without
// breaking a Redis slot, a script or a map: hash-tag braces, spaces,
// control characters, unicode, the empty string and 10 KB of text.
func WeirdKeys() []string {
	return []string{
		"",
		"{",
		"}",
		"{}",
		"}{",
		"{a}",
		"{a}b",
		"{a}c",
		"a{b}c",
		" ",
		"a b",
		"a b ",
		"tab\there",
		"new\nline",
		"nul\x00byte",
		"\xff\xfe not utf-8",
		"ünïcødé ключ 鍵 🔑",
		"rate:{gh}:x",
		"*",
		"?",
		"[a-z]",
		strings.Repeat("k", 10<<10),
		strings.Repeat("k", 10<<10-1) + "l",
		strings.Repeat("{", 1000) + strings.Repeat("}", 1000),
	}
}

// testKeys: every weird key is its own bucket.
func testKeys(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	lim := ratelimit.Limit{Rate: 2, Burst: 2, Period: hour}
	prefix := key("")
	for i, w := range WeirdKeys() {
		for _, k := range []string{w, prefix + w} {
			for j := range 2 {
				if res := allow(t, l, k, lim); !res.Allowed || res.Remaining != 1-j {
					t.Fatalf("key #%d (%.40q) event %d: %+v, want allowed with Remaining %d (a fresh bucket)", i, k, j+1, res, 1-j)
				}
			}
			if allow(t, l, k, lim).Allowed {
				t.Fatalf("key #%d (%.40q): third event allowed with a burst of 2", i, k)
			}
		}
	}
}

// testInvalidLimit: limits that cannot be enforced are an error wrapping
// ratelimit.ErrInvalidLimit, never a panic or a decision.
func testInvalidLimit(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	for _, lim := range []ratelimit.Limit{
		{},
		{Rate: 0, Burst: 1, Period: time.Minute},
		{Rate: 1, Burst: 0, Period: time.Minute},
		{Rate: 1, Burst: 1, Period: 0},
		{Rate: -1, Burst: 1, Period: time.Minute},
		{Rate: 1, Burst: -5, Period: time.Minute},
		{Rate: 1, Burst: 1, Period: -time.Second},
		{Rate: 1, Burst: 1 << 62, Period: time.Hour},
	} {
		_, err := l.Allow(t.Context(), key("invalid"), lim)
		if !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("Allow with %+v: err = %v, want ErrInvalidLimit", lim, err)
		}
	}
}

// testPeek: for a ratelimit.Peeker, Peek reports without consuming.
func testPeek(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	p, ok := l.(ratelimit.Peeker)
	if !ok {
		t.Skip("limiter does not implement ratelimit.Peeker")
	}
	lim := ratelimit.Limit{Rate: 3, Burst: 3, Period: hour}
	e := lim.Emission()
	k := key("peek")
	peek := func() ratelimit.Result {
		t.Helper()
		res, err := p.Peek(context.WithoutCancel(t.Context()), k, lim)
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		return res
	}
	for range 5 {
		if res := peek(); !res.Allowed || res.Remaining != 3 || res.RetryAfter != 0 || res.ResetAfter > slack {
			t.Fatalf("fresh key: Peek = %+v, want allowed, Remaining 3, ResetAfter 0", res)
		}
	}
	allow(t, l, k, lim)
	if res := peek(); !res.Allowed || res.Remaining != 2 || !near(res.ResetAfter, e) {
		t.Fatalf("after one event: Peek = %+v, want allowed, Remaining 2, ResetAfter about %s", res, e)
	}
	allow(t, l, k, lim)
	if res := allow(t, l, k, lim); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("third event after peeks: %+v, want allowed with Remaining 0 (peeks consume nothing)", res)
	}
	denied := allow(t, l, k, lim)
	res := peek()
	if res.Allowed || res.Remaining != 0 || !near(res.RetryAfter, denied.RetryAfter) || !near(res.ResetAfter, 3*e) {
		t.Fatalf("empty bucket: Peek = %+v, want denied, RetryAfter about %s, ResetAfter about %s", res, denied.RetryAfter, 3*e)
	}
}

// testAllowN: for a ratelimit.NLimiter, AllowN charges n events at once or
// nothing; a cost above the burst is refused without consuming; a denial
// of n says nothing about cheaper costs.
func testAllowN(t *testing.T, l ratelimit.Limiter, key func(string) string) {
	nl, ok := l.(ratelimit.NLimiter)
	if !ok {
		t.Skip("limiter does not implement ratelimit.NLimiter")
	}
	allowN := func(k string, lim ratelimit.Limit, n int) ratelimit.Result {
		t.Helper()
		res, err := nl.AllowN(t.Context(), k, lim, n)
		if err != nil {
			t.Fatalf("AllowN(%.40q, %+v, %d): %v", k, lim, n, err)
		}
		if res.Remaining < 0 || res.Limit != lim {
			t.Fatalf("AllowN(%.40q, %d): %+v: Remaining < 0 or another Limit", k, n, res)
		}
		if res.Allowed && res.RetryAfter != 0 {
			t.Fatalf("AllowN(%.40q, %d): allowed with RetryAfter %s", k, n, res.RetryAfter)
		}
		if !res.Allowed && (res.RetryAfter <= 0 || res.Remaining != 0) {
			t.Fatalf("AllowN(%.40q, %d): denied with RetryAfter %s, Remaining %d; want > 0 and 0", k, n, res.RetryAfter, res.Remaining)
		}
		return res
	}
	lim := ratelimit.Limit{Rate: 10, Burst: 10, Period: hour}
	e := lim.Emission()
	t.Run("charges n", func(t *testing.T) {
		k := key("n-charges")
		if res := allowN(k, lim, 4); !res.Allowed || res.Remaining != 6 || !near(res.ResetAfter, 4*e) {
			t.Fatalf("4 of a fresh 10: %+v, want allowed, Remaining 6, ResetAfter about %s", res, 4*e)
		}
		if res := allowN(k, lim, 6); !res.Allowed || res.Remaining != 0 || !near(res.ResetAfter, 10*e) {
			t.Fatalf("6 of the 6 left: %+v, want allowed, Remaining 0", res)
		}
		if res := allow(t, l, k, lim); res.Allowed {
			t.Fatal("Allow after AllowN spent the burst: allowed")
		}
	})
	t.Run("one is Allow", func(t *testing.T) {
		k := key("n-one")
		for i := range 3 {
			if res := allowN(k, lim, 1); !res.Allowed || res.Remaining != 9-2*i {
				t.Fatalf("AllowN 1, event %d: %+v, want Remaining %d", 2*i+1, res, 9-2*i)
			}
			if res := allow(t, l, k, lim); !res.Allowed || res.Remaining != 8-2*i {
				t.Fatalf("Allow, event %d: %+v, want Remaining %d", 2*i+2, res, 8-2*i)
			}
		}
	})
	t.Run("denied consumes nothing", func(t *testing.T) {
		k := key("n-denied")
		allowN(k, lim, 7)
		first := allowN(k, lim, 4)
		if first.Allowed || !near(first.RetryAfter, e) || first.RetryAfter > e {
			t.Fatalf("4 with 3 left: %+v, want denied for just under one emission interval (%s)", first, e)
		}
		for range 5 {
			if res := allowN(k, lim, 4); res.Allowed || res.RetryAfter > first.RetryAfter {
				t.Fatalf("4 again: %+v, want denied, RetryAfter not growing", res)
			}
		}
		// A denial of 4 says nothing about 3: the 3 left are there.
		if res := allowN(k, lim, 3); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("3 with 3 left after denials of 4: %+v, want allowed with Remaining 0", res)
		}
		if res := allowN(k, lim, 1); res.Allowed {
			t.Fatalf("1 with none left: %+v, want denied", res)
		}
	})
	t.Run("cheaper after a denial", func(t *testing.T) {
		k := key("n-cheaper")
		allowN(k, lim, 5)
		for range 3 {
			if res := allowN(k, lim, 8); res.Allowed {
				t.Fatalf("8 with 5 left: %+v, want denied", res)
			}
		}
		for i := range 5 {
			if res := allow(t, l, k, lim); !res.Allowed || res.Remaining != 4-i {
				t.Fatalf("Allow %d after denials of 8: %+v, want allowed with Remaining %d", i+1, res, 4-i)
			}
		}
	})
	t.Run("over the burst", func(t *testing.T) {
		k := key("n-over")
		for _, n := range []int{11, 1000, 1 << 40} {
			res := allowN(k, lim, n)
			if res.Allowed {
				t.Fatalf("%d of a burst of 10: allowed", n)
			}
		}
		// Nothing was consumed: the full burst is there.
		if res := allowN(k, lim, 10); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("10 of a fresh 10 after refusals over the burst: %+v, want allowed", res)
		}
		if res := allowN(k, lim, 11); res.Allowed || res.RetryAfter < e {
			t.Fatalf("11 of an empty 10: %+v, want denied", res)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		k := key("n-concurrent")
		lim := ratelimit.Limit{Rate: 30, Burst: 30, Period: hour}
		var allowed, denied atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				for range 3 {
					res, err := nl.AllowN(t.Context(), k, lim, 3)
					if err != nil {
						errs <- err
						return
					}
					if res.Allowed {
						allowed.Add(1)
					} else {
						denied.Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if allowed.Load() != 10 || denied.Load() != 38 {
			t.Fatalf("allowed %d, denied %d of 48 concurrent costs of 3 on a burst of 30; want 10 and 38", allowed.Load(), denied.Load())
		}
	})
	t.Run("invalid cost", func(t *testing.T) {
		for _, n := range []int{0, -1, -1 << 40} {
			if _, err := nl.AllowN(t.Context(), key("n-invalid"), lim, n); !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Errorf("AllowN with cost %d: err = %v, want ErrInvalidLimit", n, err)
			}
		}
		if _, err := nl.AllowN(t.Context(), key("n-invalid"), ratelimit.Limit{}, 2); !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("AllowN with the zero Limit: err = %v, want ErrInvalidLimit", err)
		}
	})
}
