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
	var outcome, keyID, orgID string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeAuthenticated)
		gatehouse.SetCaller(r.Context(), "key-1", "org-1")
		// A later stage may change its mind.
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeForbiddenScope)
	})
	// The outer middleware reads what the inner one recorded through the
	// shared per-request state.
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
			outcome = gatehouse.OutcomeFromContext(r.Context())
			keyID, orgID = gatehouse.CallerFromContext(r.Context())
		})
	}
	gatehouse.RequestID(outer(inner)).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if outcome != gatehouse.OutcomeForbiddenScope || keyID != "key-1" || orgID != "org-1" {
		t.Fatalf("got outcome %q caller %q %q", outcome, keyID, orgID)
	}
}

func TestOutcomeWithoutRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeAuthenticated)
	gatehouse.SetCaller(ctx, "k", "o")
	if got := gatehouse.OutcomeFromContext(ctx); got != "" {
		t.Fatalf("outcome %q without RequestID", got)
	}
	if k, o := gatehouse.CallerFromContext(ctx); k != "" || o != "" {
		t.Fatalf("caller %q %q without RequestID", k, o)
	}
	ctx = gatehouse.NewRequestContext(ctx, "req")
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeRateLimited)
	if got := gatehouse.OutcomeFromContext(ctx); got != gatehouse.OutcomeRateLimited {
		t.Fatalf("outcome %q with NewRequestContext", got)
	}
}
