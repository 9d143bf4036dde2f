package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/auth"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/scope"
)

// TestAdminTokenThrottledPerAddressCorrectTokenNeverRefused: wrong tokens
// count per client address and, past the budget, get 429 with Retry-After;
// the right token from the same address is always accepted.
func TestAdminTokenThrottledPerAddressCorrectTokenNeverRefused(t *testing.T) {
	t.Parallel()
	th, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limit: ratelimit.PerMinute(5), Warn: "admin token"})
	if err != nil {
		t.Fatal(err)
	}
	authorize, err := admin.NewBearerToken(admin.TokenOptions{Token: token, Throttle: th})
	if err != nil {
		t.Fatal(err)
	}
	req := func(remote, tok string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/admin/orgs/x", nil)
		r.RemoteAddr = remote
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		return r
	}
	for i := range 5 {
		if st := gatehouse.StatusOf(authorize(req("192.0.2.1:1", "wrong-token-wrong-token-wrong-token"))); st != 401 {
			t.Fatalf("wrong token %d: status %d, want 401", i, st)
		}
	}
	err = authorize(req("192.0.2.1:1", ""))
	if gatehouse.StatusOf(err) != 429 {
		t.Fatalf("missing token past the budget: %v, want 429", err)
	}
	if ge, ok := err.(*gatehouse.Error); !ok || ge.Header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After: %#v", err)
	}
	for range 3 {
		if err := authorize(req("192.0.2.1:1", token)); err != nil {
			t.Fatalf("right token from the throttled address: %v", err)
		}
	}
	if st := gatehouse.StatusOf(authorize(req("192.0.2.2:1", "nope"))); st != 401 {
		t.Fatalf("another address: %d, want 401", st)
	}
}

// TestKeyCreatedAnnouncedForKeyFilter: creating a key calls OnKeyCreated
// with the stored key (its public id is what every pod's filter needs),
// even when the client has gone away.
func TestKeyCreatedAnnouncedForKeyFilter(t *testing.T) {
	t.Parallel()
	store := auth.NewMemory(auth.MemoryOptions{})
	var got []auth.Key
	var ctxErr error
	h, err := admin.New(admin.Options{
		Keys: store, Orgs: store, Authorize: func(*http.Request) error { return nil }, KeyPrefix: "joby",
		Scopes: []scope.Scope{"leads:read"},
		OnKeyCreated: func(ctx context.Context, k auth.Key) {
			got = append(got, k)
			ctxErr = ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateOrg(context.Background(), auth.Org{ID: "00000000-0000-4000-8000-000000000001", Name: "A", APIEnabled: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("POST", "/admin/orgs/00000000-0000-4000-8000-000000000001/api-keys", strings.NewReader(`{"name":"k","scopes":["leads:read"]}`)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	cancel()
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if len(got) != 1 || got[0].PublicID == "" || !strings.Contains(rec.Body.String(), got[0].PublicID) {
		t.Fatalf("OnKeyCreated got %+v for %s", got, rec.Body)
	}
	if ctxErr != nil {
		t.Errorf("OnKeyCreated ran with a context already done: %v", ctxErr)
	}
	raw, k2, err := h.IssueKey(context.Background(), "00000000-0000-4000-8000-000000000001", "k2", scope.NewSet("leads:read"), 0, nil)
	if err != nil || len(got) != 2 || !strings.Contains(raw.Reveal(), got[1].PublicID) {
		t.Fatalf("IssueKey: %v, OnKeyCreated calls %d", err, len(got))
	}
	rot, err := h.RotateKeyAs(context.Background(), "admin", k2.OrganizationID, k2.ID, 0)
	if err != nil || len(got) != 3 || got[2].PublicID != rot.New.PublicID {
		t.Fatalf("RotateKeyAs: %v, OnKeyCreated calls %d", err, len(got))
	}
}
