package gatehouse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gatehouse.dev"
)

func TestCallerContext(t *testing.T) {
	t.Parallel()
	ctx := gatehouse.NewRequestContext(context.Background(), "req-1")
	c := gatehouse.Caller{KeyID: "k", PublicID: "p", OrgID: "o", Scopes: []string{"a:read"}, RateLimitPerMinute: 5}
	cctx := gatehouse.NewCallerContext(ctx, c)
	got, ok := gatehouse.CallerFromContext(cctx)
	if !ok || got.KeyID != "k" || got.OrgID != "o" || got.LineageID() != "k" || gatehouse.RequestIDFromContext(cctx) != "req-1" {
		t.Fatalf("%+v %v, request id %q", got, ok, gatehouse.RequestIDFromContext(cctx))
	}
	// The parent is unchanged.
	if _, ok := gatehouse.CallerFromContext(ctx); ok {
		t.Fatal("NewCallerContext changed its parent")
	}
	// A new request id keeps the caller.
	if got, ok := gatehouse.CallerFromContext(gatehouse.NewRequestContext(cctx, "req-2")); !ok || got.KeyID != "k" {
		t.Fatalf("NewRequestContext dropped the caller: %+v %v", got, ok)
	}
	var inRequest gatehouse.Caller
	gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inRequest, _ = gatehouse.CallerFromContext(r.Context())
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(cctx))
	if inRequest.KeyID != "k" {
		t.Fatalf("RequestID dropped the caller: %+v", inRequest)
	}
	if got := (gatehouse.Caller{KeyID: "k", Lineage: "l"}).LineageID(); got != "l" {
		t.Fatalf("LineageID = %q", got)
	}
}

func TestWithRequestState(t *testing.T) {
	t.Parallel()
	// Without RequestID: a fresh id, in the context and the header.
	rec := httptest.NewRecorder()
	r := gatehouse.WithRequestState(rec, httptest.NewRequest("GET", "/", nil))
	id := gatehouse.RequestIDFromContext(r.Context())
	if id == "" || rec.Header().Get(gatehouse.RequestIDHeader) != id {
		t.Fatalf("id %q, header %q", id, rec.Header().Get(gatehouse.RequestIDHeader))
	}
	if !gatehouse.SetCaller(r.Context(), gatehouse.Caller{KeyID: "k"}) {
		t.Fatal("SetCaller found no state")
	}
	// With a state: the same request, nothing changed.
	rec2 := httptest.NewRecorder()
	if r2 := gatehouse.WithRequestState(rec2, r); r2 != r || rec2.Header().Get(gatehouse.RequestIDHeader) != "" {
		t.Fatal("WithRequestState replaced an existing state")
	}
}

// TestRequestStateTimeoutHandler: with http.TimeoutHandler between
// RequestID and the inner middlewares, the inner handler keeps writing the
// per-request state (route, outcome, caller) on its own goroutine after the
// timeout answered, while the outer middleware reads it. Run with -race:
// the state is guarded.
func TestRequestStateTimeoutHandler(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testRequestStateTimeoutHandler)
}

func testRequestStateTimeoutHandler(t *testing.T) {
	release := make(chan struct{})
	var done sync.WaitGroup
	done.Add(1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer done.Done()
		ctx := r.Context()
		gatehouse.SetCaller(ctx, gatehouse.Caller{KeyID: "k", OrgID: "o"})
		gatehouse.SetOutcome(ctx, gatehouse.OutcomeAuthenticated)
		<-ctx.Done() // the timeout fired
		for i := range 100 {
			gatehouse.SetRoute(ctx, "/v1/leads/{id}")
			gatehouse.SetOutcome(ctx, gatehouse.OutcomeForbiddenScope)
			gatehouse.SetCaller(ctx, gatehouse.Caller{KeyID: "k", OrgID: "o", RateLimitPerMinute: i})
		}
		<-release
	})
	var route, outcome string
	var caller gatehouse.Caller
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			for range 100 {
				route = gatehouse.RouteFromContext(r.Context())
				outcome = gatehouse.OutcomeFromContext(r.Context())
				caller, _ = gatehouse.CallerFromContext(r.Context())
			}
		})
	}
	h := gatehouse.RequestID(outer(http.TimeoutHandler(inner, time.Millisecond, "timeout")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/leads/1", nil))
	close(release)
	done.Wait()
	if rec.Code != http.StatusServiceUnavailable || caller.KeyID != "k" {
		t.Fatalf("%d, caller %+v (route %q, outcome %q)", rec.Code, caller, route, outcome)
	}
}
