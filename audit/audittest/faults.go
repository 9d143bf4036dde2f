package audittest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// RequestCeiling is the generous bound [RunFaults] puts on every request
// while the backend is failing: the request path never waits for it.
const RequestCeiling = 250 * time.Millisecond

// FaultResult reports what [RunFaults] measured.
type FaultResult struct {
	// Requests is how many requests were served while the backend failed.
	Requests int
	// MaxLatency is the slowest of them; P50 the median.
	MaxLatency, P50 time.Duration
	// Stats is the Recorder's snapshot at recovery.
	Stats audit.Stats
}

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RunFaults checks that a failing backend never slows or fails requests.
// Requests go through the audit middleware with an [audit.Recorder] (small
// buffer, short write timeout) writing to l. After a healthy start, fail
// breaks the backend (stops Redis, locks the table); requests keep being
// served, each within [RequestCeiling], until the Recorder has counted
// write errors and dropped entries. Then repair restores the backend and
// the entries of new requests must reach l. Write failures are logged once
// per burst.
func RunFaults(t *testing.T, l Log, fail, repair func(t *testing.T)) FaultResult {
	t.Helper()
	var logs syncBuf
	rec, err := audit.NewRecorder(audit.RecorderOptions{
		Writer: l, Buffer: 32, BatchSize: 8, FlushInterval: 5 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond, MaxAttempts: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- rec.Run(runCtx) }()
	defer func() {
		stopRun()
		<-runDone
	}()
	org, key := "org-"+randHex(4), "key-"+randHex(4)
	mw, err := audit.New(audit.Options{
		Key:  func(*http.Request) (string, string, bool) { return key, org, true },
		Sink: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	serve := func() (string, time.Duration) {
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/ping", nil))
		d := time.Since(start)
		if w.Code != http.StatusNoContent {
			t.Fatalf("request failed with %d", w.Code)
		}
		return w.Header().Get(gatehouse.RequestIDHeader), d
	}
	// reaches serves n requests and waits until all their entries are in
	// the log. A healthy backend can still miss the Recorder's short write
	// timeout on a loaded machine (a cold PostgreSQL connection under -race
	// took longer than 200 ms twice, so the batch was dropped and the
	// healthy phase waited 20 s for entries that could never come: issue
	// 13's flaky TestFaultsDatabaseLocked/postgres); such a drop is the
	// Recorder working as documented, so new requests are served until one
	// round of n entries all arrive, within 20 s.
	reaches := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var ids []string
			for range n {
				id, _ := serve()
				ids = append(ids, id)
			}
			var err error
			for round := time.Now().Add(2 * time.Second); time.Now().Before(round); time.Sleep(5 * time.Millisecond) {
				var got []audit.Entry
				got, err = l.Latest(context.Background(), org, key)
				if err != nil {
					continue
				}
				found := 0
				for _, e := range got {
					if slices.Contains(ids, e.RequestID) {
						found++
					}
				}
				if found == n {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: entries not in the log after 20 s (last error %v, stats %+v)", what, err, rec.Stats())
			}
		}
	}

	// Warm the backend (connection pool, caches) outside the Recorder.
	warm := audit.Entry{Time: time.Now(), RequestID: "warm-" + randHex(4), KeyID: key, OrganizationID: org, Method: "GET", Route: "/v1/ping", Path: "/v1/ping", Status: 204}
	wctx, cancelWarm := context.WithTimeout(context.Background(), 20*time.Second)
	if err := l.Write(wctx, []audit.Entry{warm}); err != nil {
		t.Fatalf("warm-up write: %v", err)
	}
	cancelWarm()
	reaches("healthy", 3)

	outageLogs := len(logs.String())
	fail(t)
	var lat []time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, d := serve()
		lat = append(lat, d)
		if d > RequestCeiling {
			t.Errorf("a request took %v while the backend failed; ceiling %v", d, RequestCeiling)
		}
		st := rec.Stats()
		if st.Errors >= 2 && st.Dropped >= 1 && len(lat) >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not move in 30 s: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	res := FaultResult{Requests: len(lat), Stats: rec.Stats()}
	slices.Sort(lat)
	res.MaxLatency, res.P50 = lat[len(lat)-1], lat[len(lat)/2]

	repair(t)
	reaches("after recovery", 5)
	if n := strings.Count(logs.String()[outageLogs:], "audit: write failed"); n < 1 || n > 2 {
		t.Errorf("%d failure log lines for one outage, want 1 (2 if it flapped):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "audit: writes recovered") {
		t.Errorf("no recovery log line:\n%s", logs.String())
	}
	return res
}
