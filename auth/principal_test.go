package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// TestPrincipalPaths: behind gatehouse.RequestID the key is the request's
// principal (no context values); without it the middleware falls back to
// context values. Handlers see the same key, organization and scopes
// either way, and explicit context values still win.
func TestPrincipalPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	org, err := store.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, k, err := auth.NewKey("joby", "live", auth.Key{OrganizationID: org.ID, Name: "k", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60})
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
	for _, withState := range []bool{true, false} {
		var sawState bool
		h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := auth.FromContext(r.Context())
			orgID, orgOK := tenancy.FromContext(r.Context())
			granted, scOK := scope.FromContext(r.Context())
			if !ok || got.ID != k.ID || !orgOK || orgID != org.ID || !scOK || !granted.Has("leads:read") {
				t.Errorf("state=%v: key %v/%v org %q/%v scopes %v/%v", withState, got.ID, ok, orgID, orgOK, granted.Strings(), scOK)
			}
			sawState = gatehouse.PrincipalFromContext(r.Context()) != nil
			// An explicit organization narrows the context and wins.
			if id, _ := tenancy.FromContext(tenancy.NewContext(r.Context(), "other")); id != "other" {
				t.Errorf("explicit organization lost: %q", id)
			}
			if _, ok := tenancy.FromContext(tenancy.NewContext(r.Context(), "")); ok {
				t.Error("an explicit empty organization must mean none")
			}
			w.WriteHeader(204)
		}))
		if withState {
			h = gatehouse.RequestID(h)
		}
		req := httptest.NewRequest("GET", "/v1/leads", nil)
		req.Header.Set("Authorization", "Bearer "+raw.Reveal())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 204 || sawState != withState {
			t.Fatalf("state=%v: %d, principal recorded %v", withState, rec.Code, sawState)
		}
	}
	// Outside any request nothing is found: queries fail closed.
	if _, ok := tenancy.FromContext(gatehouse.NewRequestContext(ctx, "x")); ok {
		t.Fatal("organization without a principal")
	}
}
