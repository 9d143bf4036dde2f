package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gatehouse.dev/auth"
)

type touchCall struct {
	ids []string
	at  time.Time
}

// recorder is a Toucher that records its calls and fails while fail > 0.
type recorder struct {
	mu    sync.Mutex
	calls []touchCall
	fail  int
	ctxOK []bool // whether each call's context was still live
}

func (r *recorder) TouchKeys(ctx context.Context, ids []string, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctxOK = append(r.ctxOK, ctx.Err() == nil)
	if r.fail > 0 {
		r.fail--
		return errors.New("database is down")
	}
	r.calls = append(r.calls, touchCall{ids: slices.Clone(ids), at: at})
	return nil
}

func (r *recorder) snapshot() []touchCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func newUsage(t *testing.T, opts auth.UsageOptions) *auth.Usage {
	t.Helper()
	u, err := auth.NewUsage(opts)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func sortedIDs(c touchCall) []string {
	s := slices.Clone(c.ids)
	slices.Sort(s)
	return s
}

func TestUsageMarkOncePerInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		u := newUsage(t, auth.UsageOptions{Store: rec})
		start := time.Now()
		u.Mark("a")
		u.Mark("a")
		u.Mark("b")
		time.Sleep(30 * time.Second)
		u.Mark("a")
		if st := u.Stats(); st.Marked != 2 || st.Pending != 2 {
			t.Fatalf("Stats = %+v, want 2 marked and pending", st)
		}
		if err := u.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		u.Mark("a") // still within the minute
		time.Sleep(30 * time.Second)
		u.Mark("a") // a minute after its first mark
		u.Mark("b")
		if err := u.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		calls := rec.snapshot()
		if len(calls) != 2 {
			t.Fatalf("%d TouchKeys calls, want 2: %+v", len(calls), calls)
		}
		if got := sortedIDs(calls[0]); !slices.Equal(got, []string{"a", "b"}) || !calls[0].at.Equal(start) {
			t.Errorf("first call %v at %v, want [a b] at %v", got, calls[0].at, start)
		}
		if got := sortedIDs(calls[1]); !slices.Equal(got, []string{"a", "b"}) || !calls[1].at.Equal(start.Add(time.Minute)) {
			t.Errorf("second call %v at %v, want [a b] a minute later", got, calls[1].at)
		}
		if st := u.Stats(); st.Marked != 4 || st.Touched != 4 || st.Pending != 0 {
			t.Errorf("Stats = %+v", st)
		}
	})
}

func TestUsageRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		u := newUsage(t, auth.UsageOptions{Store: rec, FlushInterval: 5 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- u.Run(ctx) }()

		u.Mark("a")
		u.Mark("b")
		u.Mark("c")
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if n := len(rec.snapshot()); n != 0 {
			t.Fatalf("%d flushes before FlushInterval", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := rec.snapshot()
		if len(calls) != 1 || !slices.Equal(sortedIDs(calls[0]), []string{"a", "b", "c"}) {
			t.Fatalf("after 5s: calls %+v, want one call with a, b, c", calls)
		}
		time.Sleep(20 * time.Second) // nothing pending: no empty calls
		synctest.Wait()
		if n := len(rec.snapshot()); n != 1 {
			t.Fatalf("%d calls, want no call for an empty batch", n)
		}

		u.Mark("d")
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		calls = rec.snapshot()
		if len(calls) != 2 || !slices.Equal(calls[1].ids, []string{"d"}) {
			t.Fatalf("final flush: calls %+v, want a last call with d", calls)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if !rec.ctxOK[len(rec.ctxOK)-1] {
			t.Error("the final flush ran with a canceled context")
		}
	})
}

func TestUsageBatches(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	u := newUsage(t, auth.UsageOptions{Store: rec, BatchSize: 2})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		u.Mark(id)
	}
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var all []string
	for _, c := range rec.snapshot() {
		sizes = append(sizes, len(c.ids))
		all = append(all, c.ids...)
	}
	slices.Sort(all)
	if !slices.Equal(sizes, []int{2, 2, 1}) || !slices.Equal(all, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("batches %v of %v, want sizes [2 2 1] covering a–e", sizes, all)
	}
}

func TestUsageBounded(t *testing.T) {
	t.Parallel()
	rec := &recorder{fail: 100}
	u := newUsage(t, auth.UsageOptions{Store: rec, MaxKeys: 3})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		u.Mark(id)
	}
	if st := u.Stats(); st.Marked != 3 || st.Dropped != 2 || st.Pending != 3 {
		t.Fatalf("Stats = %+v, want 3 marked, 2 dropped", st)
	}
	// Failed flushes requeue without growing past MaxKeys.
	for range 3 {
		if err := u.Flush(t.Context()); err == nil {
			t.Fatal("Flush with a failing store returned nil")
		}
	}
	if st := u.Stats(); st.Pending != 3 || st.Failed != 3 {
		t.Fatalf("Stats = %+v, want 3 pending after 3 failed flushes", st)
	}
	rec.mu.Lock()
	rec.fail = 0
	rec.mu.Unlock()
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := rec.snapshot()
	if len(calls) != 1 || !slices.Equal(sortedIDs(calls[0]), []string{"a", "b", "c"}) {
		t.Fatalf("calls after recovery %+v, want one with a, b, c", calls)
	}
}

func TestUsageRunLogsAndRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{fail: 1}
		var logs syncBuffer
		u := newUsage(t, auth.UsageOptions{Store: rec, FlushInterval: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- u.Run(ctx) }()
		u.Mark("a")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if calls := rec.snapshot(); len(calls) != 1 || calls[0].ids[0] != "a" {
			t.Fatalf("calls %+v, want the retried touch of a", calls)
		}
		if !strings.Contains(logs.String(), "database is down") {
			t.Errorf("failed flush not logged: %q", logs.String())
		}
	})
}

func TestUsageRunFinalFlushError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{fail: 1}
		u := newUsage(t, auth.UsageOptions{Store: rec})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- u.Run(ctx) }()
		u.Mark("a")
		cancel()
		if err := <-done; err == nil {
			t.Fatal("Run = nil, want the failed final flush's error")
		}
	})
}

func TestNewUsageOptions(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	for _, tc := range []struct {
		name string
		opts auth.UsageOptions
		ok   bool
	}{
		{"store only", auth.UsageOptions{Store: rec}, true},
		{"key store", auth.UsageOptions{Store: auth.NewMemory(auth.MemoryOptions{})}, true},
		{"no store", auth.UsageOptions{}, false},
		{"negative interval", auth.UsageOptions{Store: rec, Interval: -1}, false},
		{"negative batch", auth.UsageOptions{Store: rec, BatchSize: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.NewUsage(tc.opts); (err == nil) != tc.ok {
				t.Errorf("NewUsage error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
