package audit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

var benchKeys = []string{
	"8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e01",
	"8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e02",
	"8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e03",
	"8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e04",
}

func benchEntry() audit.Entry {
	return audit.Entry{
		Time:           time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		RequestID:      "0b8f1a52-7a53-4f0e-9d6c-2b1f3f0c2e11",
		KeyID:          benchKeys[0],
		OrganizationID: "3f1d2c4b-5a69-4788-9abc-def012345678",
		Method:         "GET",
		Route:          "/v1/leads/{id}",
		Path:           "/v1/leads/5b1c6d1e-0000-4000-8000-000000000001",
		Status:         200,
		DurationMS:     3,
		IP:             "203.0.113.7",
		UserAgent:      "Zapier/2.0",
	}
}

// BenchmarkRecorderRecord is the request-path cost of recording: the
// enqueue into the Recorder's ring (the buffer wraps, dropping the oldest,
// which costs the same as a free slot).
func BenchmarkRecorderRecord(b *testing.B) {
	r, err := audit.NewRecorder(audit.RecorderOptions{Writer: audit.NewMemory(audit.MemoryOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	e := benchEntry()
	b.ReportAllocs()
	for b.Loop() {
		r.Record(e)
	}
}

// BenchmarkRecorderRecordParallel enqueues from GOMAXPROCS goroutines.
func BenchmarkRecorderRecordParallel(b *testing.B) {
	r, err := audit.NewRecorder(audit.RecorderOptions{Writer: audit.NewMemory(audit.MemoryOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := benchEntry()
		for pb.Next() {
			r.Record(e)
		}
	})
}

// BenchmarkMiddleware is the whole per-request cost of the audit
// middleware around an empty handler: key lookup, status-recording writer,
// client IP, entry and enqueue.
func BenchmarkMiddleware(b *testing.B) {
	r, err := audit.NewRecorder(audit.RecorderOptions{Writer: audit.NewMemory(audit.MemoryOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	mw, err := audit.New(audit.Options{
		Key:  func(*http.Request) (string, string, bool) { return benchKeys[0], "org", true },
		Sink: r,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.SetRoute(r.Context(), "GET /v1/leads/{id}")
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest("GET", "/v1/leads/abc", nil)
	req = req.WithContext(gatehouse.NewRequestContext(req.Context(), "0b8f1a52-7a53-4f0e-9d6c-2b1f3f0c2e11"))
	req.Header.Set("User-Agent", "Zapier/2.0")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
