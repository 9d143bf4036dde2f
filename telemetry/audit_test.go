package telemetry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"

	"gatehouse.dev/audit"
	"gatehouse.dev/telemetry"
)

// flakyWriter fails its first write, then writes to a memory log.
type flakyWriter struct {
	calls atomic.Int64
	next  audit.Writer
}

func (w *flakyWriter) Write(ctx context.Context, entries []audit.Entry) error {
	if w.calls.Add(1) == 1 {
		return errors.New("audit backend down")
	}
	return w.next.Write(ctx, entries)
}

// TestAudit drops an entry from a full buffer and fails one write: the
// observed counters show the drop, the error and the written entries; each
// batch written is a span with its entry count, the failed one an error.
func TestAudit(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	w := &flakyWriter{next: audit.NewMemory(audit.MemoryOptions{})}
	rec, err := audit.NewRecorder(audit.RecorderOptions{
		Writer: tel.AuditWriter(w), Buffer: 2, BatchSize: 2, MaxAttempts: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.ObserveAudit(rec.Stats); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 3 { // the buffer holds 2: the oldest is dropped
		rec.Record(audit.Entry{Time: now, RequestID: string(rune('a' + i)), KeyID: "key-1", OrganizationID: "org-1", Method: "GET", Path: "/v1/leads", Status: 200})
	}
	rm := s.collect(t)
	if got := sum(t, rm, "gatehouse.audit.queued"); got != 2 {
		t.Errorf("queued = %d, want 2", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil { // fails once, then writes
		t.Fatal(err)
	}
	rm = s.collect(t)
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"written", sum(t, rm, "gatehouse.audit.entries", telemetry.AttrAuditState.String("written")), 2},
		{"dropped", sum(t, rm, "gatehouse.audit.entries", telemetry.AttrAuditState.String("dropped")), 1},
		{"errors", sum(t, rm, "gatehouse.audit.errors"), 1},
		{"queued", sum(t, rm, "gatehouse.audit.queued"), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	spans := s.ended("gatehouse.audit.write")
	if len(spans) != 2 {
		t.Fatalf("%d audit spans, want 2", len(spans))
	}
	for i, sp := range spans {
		if n, _ := spanAttr(sp, telemetry.AttrAuditEntries); n != "2" {
			t.Errorf("span %d: %s = %s, want 2", i, telemetry.AttrAuditEntries, n)
		}
		if failed := sp.Status().Code == codes.Error; failed != (i == 0) {
			t.Errorf("span %d: status %v", i, sp.Status())
		}
		if sp.Parent().IsValid() {
			t.Errorf("span %d: an audit flush has a parent span", i)
		}
	}
	if _, err := tel.ObserveAudit(nil); err == nil {
		t.Error("ObserveAudit(nil) succeeded")
	}
}
