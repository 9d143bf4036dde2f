package audit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// An in-memory audit log behind the middleware. It records the requests of
// the gatehouse.Caller that the authentication middleware (here a stand-in)
// records.
func Example() {
	log := audit.NewMemory(audit.MemoryOptions{Cap: 2})
	mw, err := audit.New(audit.Options{Sink: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/leads/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	authn := func(next http.Handler) http.Handler { // stands in for auth.Middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "" {
				gatehouse.SetCaller(r.Context(), gatehouse.Caller{KeyID: "key-1", OrgID: "org-1"})
			}
			next.ServeHTTP(w, r)
		})
	}
	h := gatehouse.RequestID(authn(mw.Wrap(gatehouse.RecordRoute(mux))))

	for _, target := range []string{"/v1/leads/1?api_key=secret", "/v1/leads/2", "/v1/nothing", "/v1/leads/3"} {
		r := httptest.NewRequest("GET", target, nil)
		if target != "/v1/leads/3" {
			r.Header.Set("Authorization", "Bearer example")
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}

	entries, _ := log.Latest(context.Background(), "org-1", "key-1")
	for _, e := range entries {
		fmt.Println(e.Method, e.Path, e.Route, e.Status)
	}
	// Output:
	// GET /v1/nothing  404
	// GET /v1/leads/2 /v1/leads/{id} 204
}

// A Recorder batches entries to a shared backend off the request path. The
// host runs it and closes it at shutdown.
func ExampleRecorder() {
	backend := audit.NewMemory(audit.MemoryOptions{})
	rec, err := audit.NewRecorder(audit.RecorderOptions{Writer: backend})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()

	for i := range 3 {
		rec.Record(audit.Entry{
			Time:           time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC),
			RequestID:      fmt.Sprint("req-", i),
			KeyID:          "key-1",
			OrganizationID: "org-1",
			Method:         "GET",
			Path:           "/v1/leads",
			Status:         200,
		})
	}
	stop() // SIGTERM: Run flushes what is pending, then returns
	if err := <-done; err != nil {
		fmt.Println(err)
	}

	entries, _ := backend.Latest(context.Background(), "org-1", "key-1")
	fmt.Println(len(entries), "entries, newest", entries[0].RequestID, entries[0].Time.Format(time.RFC3339Nano))
	fmt.Printf("%+v\n", rec.Stats())
	// Output:
	// 3 entries, newest req-2 2025-01-01T00:00:02Z
	// {Written:3 Dropped:0 Errors:0 Queued:0}
}
