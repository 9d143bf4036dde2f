package gatehouse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev"
)

func TestOutcome(t *testing.T) {
	t.Parallel()
	var outcome string
	var caller gatehouse.Caller
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeAuthenticated)
		gatehouse.SetCaller(r.Context(), gatehouse.Caller{KeyID: "key-1", OrgID: "org-1"})
		// A later stage may change its mind.
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeForbiddenScope)
	})
	// The outer middleware reads what the inner one recorded through the
	// shared per-request state.
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
			outcome = gatehouse.OutcomeFromContext(r.Context())
			caller, _ = gatehouse.CallerFromContext(r.Context())
		})
	}
	gatehouse.RequestID(outer(inner)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if outcome != gatehouse.OutcomeForbiddenScope || caller.KeyID != "key-1" || caller.OrgID != "org-1" {
		t.Fatalf("got outcome %q caller %+v", outcome, caller)
	}
}

func TestOutcomeWithoutRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeAuthenticated)
	if gatehouse.SetCaller(ctx, gatehouse.Caller{KeyID: "k", OrgID: "o"}) {
		t.Fatal("SetCaller recorded without per-request state")
	}
	if got := gatehouse.OutcomeFromContext(ctx); got != "" {
		t.Fatalf("outcome %q without RequestID", got)
	}
	if c, ok := gatehouse.CallerFromContext(ctx); ok || c.KeyID != "" {
		t.Fatalf("caller %+v without RequestID", c)
	}
	ctx = gatehouse.NewRequestContext(ctx, "req")
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeRateLimited)
	if got := gatehouse.OutcomeFromContext(ctx); got != gatehouse.OutcomeRateLimited {
		t.Fatalf("outcome %q with NewRequestContext", got)
	}
}
