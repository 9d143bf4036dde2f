package auth_test

import (
	"context"
	"net/http"
	"testing"

	"gatehouse.dev/auth"
)

// keyOrgStore answers LookupKeyOrg with a fixed organization answer and
// counts its calls.
type keyOrgStore struct {
	*auth.Memory
	on, known bool
	calls     int
}

func (s *keyOrgStore) LookupKeyOrg(ctx context.Context, publicID string) (auth.Key, bool, bool, error) {
	s.calls++
	k, err := s.LookupKey(ctx, publicID)
	return k, s.on, s.known, err
}

// TestKeyOrgLookup: the middleware takes the organization's answer from
// LookupKeyOrg only when the store is also Options.Orgs and the answer is
// known; otherwise it asks Orgs.
func TestKeyOrgLookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ok := func(h http.Handler, key string) int {
		return serve(t, h, [][2]string{{"Authorization", "Bearer " + f.raw[key]}}).status
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

	s := &keyOrgStore{Memory: f.store, on: false, known: true}
	h := newMiddleware(t, auth.Options{Store: s, Orgs: s}).Wrap(next)
	if got := ok(h, "valid"); got != http.StatusForbidden || s.calls != 1 {
		t.Errorf("known off: %d after %d calls, want 403 after 1", got, s.calls)
	}
	s.on = true
	if got := ok(h, "disabled"); got != http.StatusOK {
		t.Errorf("known on: %d, want 200 (the store's answer)", got)
	}
	s.known = false
	if got := ok(h, "disabled"); got != http.StatusForbidden {
		t.Errorf("unknown: %d, want 403 (from APIEnabled)", got)
	}
	if got := ok(h, "valid"); got != http.StatusOK {
		t.Errorf("unknown: %d, want 200 (from APIEnabled)", got)
	}

	// Another OrgChecker: LookupKeyOrg is not used.
	s2 := &keyOrgStore{Memory: f.store, on: true, known: true}
	h2 := newMiddleware(t, auth.Options{Store: s2, Orgs: f.store}).Wrap(next)
	if got := ok(h2, "disabled"); got != http.StatusForbidden || s2.calls != 0 {
		t.Errorf("other Orgs: %d after %d LookupKeyOrg calls, want 403 after 0", got, s2.calls)
	}
	// An OrgChecker of a type that cannot be compared does not panic.
	h3 := newMiddleware(t, auth.Options{Store: s2, Orgs: auth.OrgCheckerFunc(f.store.APIEnabled)}).Wrap(next)
	if got := ok(h3, "valid"); got != http.StatusOK || s2.calls != 0 {
		t.Errorf("func Orgs: %d after %d LookupKeyOrg calls, want 200 after 0", got, s2.calls)
	}
}
