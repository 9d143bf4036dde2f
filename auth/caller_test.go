package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// TestCallerPaths: behind gatehouse.RequestID the key is recorded as the
// request's Caller in RequestID's state, where middlewares outside the
// authentication middleware see it too; without RequestID the middleware
// creates the state (and a request id) itself. Handlers see the same key,
// organization and scopes either way, through the one Caller.
func TestCallerPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	org, err := store.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, k, err := auth.NewKey("joby", "live", auth.Key{OrganizationID: org.ID, Name: "k", Scopes: scope.NewSet("tasks:read", "leads:read"), RateLimitPerMinute: 60})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	m, err := auth.New(auth.Options{Store: store, Orgs: store, Prefix: "joby"})
	if err != nil {
		t.Fatal(err)
	}
	want := gatehouse.Caller{KeyID: k.ID, PublicID: k.PublicID, Lineage: k.ID, OrgID: org.ID, Scopes: []string{"leads:read", "tasks:read"}, RateLimitPerMinute: 60}
	same := func(a, b gatehouse.Caller) bool {
		return a.KeyID == b.KeyID && a.PublicID == b.PublicID && a.Lineage == b.Lineage && a.OrgID == b.OrgID &&
			slices.Equal(a.Scopes, b.Scopes) && a.RateLimitPerMinute == b.RateLimitPerMinute
	}
	for _, withRequestID := range []bool{true, false} {
		var inner string
		h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := gatehouse.CallerFromContext(r.Context())
			orgID, orgOK := tenancy.FromContext(r.Context())
			granted, scOK := scope.FromContext(r.Context())
			if !ok || !same(c, want) || !orgOK || orgID != org.ID || !scOK || !granted.Has("leads:read") || granted.Has("leads:create") {
				t.Errorf("RequestID=%v: caller %+v/%v org %q/%v scopes %v/%v", withRequestID, c, ok, orgID, orgOK, granted.Strings(), scOK)
			}
			if err := scope.Check(r.Context(), "tasks:read"); err != nil {
				t.Errorf("RequestID=%v: Check: %v", withRequestID, err)
			}
			inner = gatehouse.RequestIDFromContext(r.Context())
			w.WriteHeader(204)
		}))
		var outer gatehouse.Caller
		var outerOK bool
		if withRequestID {
			next := h
			h = gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r)
				outer, outerOK = gatehouse.CallerFromContext(r.Context())
			}))
		}
		req := httptest.NewRequest("GET", "/v1/leads", nil)
		req.Header.Set("Authorization", "Bearer "+raw.Reveal())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 204 || inner == "" || rec.Header().Get(gatehouse.RequestIDHeader) != inner {
			t.Fatalf("RequestID=%v: %d, request id %q, header %q", withRequestID, rec.Code, inner, rec.Header().Get(gatehouse.RequestIDHeader))
		}
		if withRequestID && (!outerOK || !same(outer, want)) {
			t.Fatalf("outside the middleware: %+v %v", outer, outerOK)
		}
	}
	// Without a caller nothing is found: queries and scope checks fail
	// closed.
	bare := gatehouse.NewRequestContext(ctx, "x")
	if _, ok := tenancy.FromContext(bare); ok {
		t.Fatal("organization without a caller")
	}
	if _, ok := scope.FromContext(bare); ok || scope.Check(bare, "leads:read") == nil {
		t.Fatal("scopes without a caller")
	}
	if _, ok := tenancy.FromContext(gatehouse.NewCallerContext(ctx, gatehouse.Caller{KeyID: "k"})); ok {
		t.Fatal("a caller with an empty organization must mean none")
	}
}

// TestCallerRefusedLeavesNone: a refused request records no caller.
func TestCallerRefusedLeavesNone(t *testing.T) {
	t.Parallel()
	store := auth.NewMemory(auth.MemoryOptions{})
	m, err := auth.New(auth.Options{Store: store, Orgs: store})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Wrap(http.NotFoundHandler()).ServeHTTP(w, r)
		_, found = gatehouse.CallerFromContext(r.Context())
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer nope")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || found {
		t.Fatalf("%d, caller recorded %v", rec.Code, found)
	}
}
