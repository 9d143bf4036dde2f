package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gatehouse.dev/audit"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, for captured logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeWriter records the batches it is given; fail makes calls fail, block
// makes them wait until released.
type fakeWriter struct {
	mu      sync.Mutex
	batches [][]audit.Entry
	fail    int // fail this many more calls (-1: always)
	calls   int
	block   chan struct{}
}

func (w *fakeWriter) Write(ctx context.Context, es []audit.Entry) error {
	w.mu.Lock()
	block := w.block
	w.calls++
	if w.fail != 0 {
		if w.fail > 0 {
			w.fail--
		}
		w.mu.Unlock()
		return errors.New("backend down")
	}
	w.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, append([]audit.Entry(nil), es...))
	return nil
}

func (w *fakeWriter) sizes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s []int
	for _, b := range w.batches {
		s = append(s, len(b))
	}
	return s
}

func (w *fakeWriter) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s []string
	for _, b := range w.batches {
		for _, e := range b {
			s = append(s, e.RequestID)
		}
	}
	return s
}

func ent(i int) audit.Entry {
	return audit.Entry{Time: time.UnixMilli(int64(i)), RequestID: fmt.Sprint(i), KeyID: "k", OrganizationID: "o"}
}

func newRecorder(t *testing.T, opts audit.RecorderOptions) *audit.Recorder {
	t.Helper()
	r, err := audit.NewRecorder(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func run(t *testing.T, r *audit.Recorder) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func TestRecorderBatchesAndInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{}
		r := newRecorder(t, audit.RecorderOptions{Writer: w})
		stop := run(t, r)
		for i := range 300 {
			r.Record(ent(i))
		}
		synctest.Wait()
		if got := fmt.Sprint(w.sizes()); got != "[128 128]" {
			t.Fatalf("full batches written at once: %s, want [128 128]", got)
		}
		time.Sleep(audit.DefaultFlushInterval)
		synctest.Wait()
		if got := fmt.Sprint(w.sizes()); got != "[128 128 44]" {
			t.Fatalf("after the flush interval: %s, want [128 128 44]", got)
		}
		r.Record(ent(300))
		time.Sleep(audit.DefaultFlushInterval)
		synctest.Wait()
		if n := len(w.sizes()); n != 4 {
			// The timer was re-armed at the last flush, so the entry goes
			// out within one interval.
			t.Fatalf("batches %v", w.sizes())
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		st := r.Stats()
		if st != (audit.Stats{Written: 301}) {
			t.Fatalf("stats %+v", st)
		}
		ids := w.ids()
		for i, id := range ids {
			if id != fmt.Sprint(i) {
				t.Fatalf("entry %d is %s: order not kept", i, id)
			}
		}
	})
}

func TestRecorderFullBufferDropsOldest(t *testing.T) {
	t.Parallel()
	w := &fakeWriter{}
	r := newRecorder(t, audit.RecorderOptions{Writer: w, Buffer: 4, BatchSize: 2})
	for i := range 10 {
		r.Record(ent(i))
	}
	if st := r.Stats(); st != (audit.Stats{Dropped: 6, Queued: 4}) {
		t.Fatalf("stats %+v", st)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.ids(), ","); got != "6,7,8,9" {
		t.Fatalf("written %s; want the newest 6,7,8,9", got)
	}
	r.Record(ent(10))
	if st := r.Stats(); st != (audit.Stats{Written: 4, Dropped: 7}) {
		t.Fatalf("after close: %+v", st)
	}
	if err := r.Run(t.Context()); err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestRecorderOverflowWhileWriting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{block: make(chan struct{})}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, Buffer: 4, BatchSize: 4})
		stop := run(t, r)
		for i := range 4 {
			r.Record(ent(i))
		}
		synctest.Wait() // the batch 0..3 is in flight
		for i := 4; i < 8; i++ {
			r.Record(ent(i)) // each pushes an in-flight entry out of the buffer
		}
		if st := r.Stats(); st != (audit.Stats{Dropped: 4, Queued: 4}) {
			t.Fatalf("while writing: %+v", st)
		}
		close(w.block)
		synctest.Wait()
		// The in-flight batch was written after all; the drops are undone.
		if st := r.Stats(); st.Written != 8 || st.Dropped != 0 {
			t.Fatalf("after writing: %+v", st)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(w.ids(), ","); got != "0,1,2,3,4,5,6,7" {
			t.Fatalf("written %s", got)
		}
	})
}

func TestRecorderErrorsRetriedAndLoggedOncePerBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		w := &fakeWriter{fail: 2}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		stop := run(t, r)
		for i := range 5 {
			r.Record(ent(i))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		st := r.Stats()
		if st != (audit.Stats{Written: 5, Errors: 2}) {
			t.Fatalf("stats %+v; want the batch retried and written", st)
		}
		if got := strings.Count(logs.String(), "audit: write failed"); got != 1 {
			t.Fatalf("%d failure lines, want 1:\n%s", got, logs.String())
		}
		if !strings.Contains(logs.String(), "audit: writes recovered") || !strings.Contains(logs.String(), "backend down") {
			t.Fatalf("logs:\n%s", logs.String())
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecorderGivesUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		w := &fakeWriter{fail: -1}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, BatchSize: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		stop := run(t, r)
		for i := range 4 {
			r.Record(ent(i))
		}
		start := time.Now()
		for time.Since(start) < 10*time.Second {
			time.Sleep(50 * time.Millisecond)
			r.Record(ent(100)) // a steady trickle; Record never waits
		}
		synctest.Wait()
		st := r.Stats()
		if st.Written != 0 || st.Errors == 0 || st.Dropped == 0 || st.Queued > 200 {
			t.Fatalf("stats %+v", st)
		}
		// Backoff: attempts are 100, 200, 400 ms apart, then a fresh batch.
		w.mu.Lock()
		calls := w.calls
		w.mu.Unlock()
		if calls > 60 {
			t.Fatalf("%d write attempts in 10 s: no backoff", calls)
		}
		if got := strings.Count(logs.String(), "audit: write failed"); got != 1 {
			t.Fatalf("%d failure lines in one 10 s burst, want 1", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := strings.Count(logs.String(), "audit: write failed"); got != 2 {
			t.Fatalf("%d failure lines after a minute, want 2", got)
		}
		if err := stop(); err == nil {
			// The writer never succeeds: the final flush gives up on the
			// failing batches within the close timeout and reports nothing
			// left, or reports what is left.
			if q := r.Stats().Queued; q != 0 {
				t.Fatalf("Run returned nil with %d queued", q)
			}
		}
	})
}

func TestRecorderFlushesOnContextEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, FlushInterval: time.Hour})
		stop := run(t, r)
		for i := range 3 {
			r.Record(ent(i))
		}
		synctest.Wait()
		if len(w.sizes()) != 0 {
			t.Fatal("written before the interval")
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(w.sizes()); got != "[3]" {
			t.Fatalf("final flush %s", got)
		}
	})
}

func TestRecorderCloseWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, FlushInterval: time.Hour})
		done := make(chan error, 1)
		go func() { done <- r.Run(context.Background()) }()
		synctest.Wait()
		if err := r.Run(context.Background()); err == nil {
			t.Fatal("second concurrent Run succeeded")
		}
		r.Record(ent(1))
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := fmt.Sprint(w.sizes()); got != "[1]" {
			t.Fatalf("flushed %s", got)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestRecorderCloseDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWriter{block: make(chan struct{})}
		r := newRecorder(t, audit.RecorderOptions{Writer: w, WriteTimeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		r.Record(ent(1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := r.Close(ctx)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Close took %v, want the 1s deadline", d)
		}
	})
}

func TestNewRecorderValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts audit.RecorderOptions
		ok   bool
	}{
		{"no writer", audit.RecorderOptions{}, false},
		{"negative", audit.RecorderOptions{Writer: &fakeWriter{}, Buffer: -1}, false},
		{"minimal", audit.RecorderOptions{Writer: &fakeWriter{}}, true},
		{"batch above buffer", audit.RecorderOptions{Writer: &fakeWriter{}, BatchSize: 10, Buffer: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := audit.NewRecorder(tc.opts)
			if (err == nil) != tc.ok || (r != nil) != tc.ok {
				t.Fatalf("NewRecorder: %v, %v", r, err)
			}
		})
	}
}
