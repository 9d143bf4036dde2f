package keycache_test

import (
	"context"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/scope"
)

// TestMiddleware runs the authentication middleware on the cache: every
// change applied to the cache shows on the very next request, and the
// answers are those of the uncached store.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s})
	c.MarkFeedHealthy(time.Hour)
	mw, err := auth.New(auth.Options{Store: c, Orgs: c, Prefix: "joby"})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		granted, _ := scope.FromContext(r.Context())
		_, _ = w.Write([]byte(strings.Join(granted.Strings(), ",")))
	}))
	do := func(key string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, strings.TrimSpace(w.Body.String())
	}
	want := func(step string, key string, code int, body string) {
		t.Helper()
		gotCode, gotBody := do(key)
		if gotCode != code || !strings.Contains(gotBody, body) {
			t.Errorf("%s: %d %s, want %d containing %q", step, gotCode, gotBody, code, body)
		}
	}
	unknown := issue(t, auth.NewMemory(auth.MemoryOptions{}), o).raw
	cut := len(k.raw) - auth.ChecksumLen - 1
	other := "x"
	if k.raw[cut] == 'x' {
		other = "y"
	}
	wrongSecret := withChecksum(k.raw[:cut] + other)
	if _, err := auth.Parse(wrongSecret); err != nil {
		t.Fatalf("the wrong secret is not well formed: %v", err)
	}

	want("valid", k.raw, 200, "leads:read")
	for range 3 {
		want("valid, cached", k.raw, 200, "leads:read")
		want("unknown", unknown, 401, "Invalid API key")
	}
	wantCalls(t, s, 2, 1)

	sc := scope.NewSet("leads:read", "tasks:read")
	if _, err := s.UpdateKey(ctx, o, k.ID, auth.KeyUpdate{Scopes: &sc}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o, KeyID: k.ID})
	want("scopes changed", k.raw, 200, "leads:read,tasks:read")

	if _, err := s.SetAPIEnabled(ctx, o, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o})
	want("organization off", k.raw, 403, "API access is not enabled")
	if _, err := s.SetAPIEnabled(ctx, o, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o})
	want("organization on", k.raw, 200, "tasks:read")

	past := time.Now().Add(-time.Second)
	if _, err := s.UpdateKey(ctx, o, k.ID, auth.KeyUpdate{SetExpiresAt: true, ExpiresAt: &past}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o, KeyID: k.ID})
	want("expired", k.raw, 401, "API key expired")
	if _, err := s.UpdateKey(ctx, o, k.ID, auth.KeyUpdate{SetExpiresAt: true}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o, KeyID: k.ID})

	// A wrong secret for a cached public id is refused without a store
	// read: the hash is checked on every request.
	before := s.lookups.Load()
	want("valid again", k.raw, 200, "tasks:read")
	want("wrong secret", wrongSecret, 401, "Invalid API key")
	if s.lookups.Load() != before+1 {
		t.Errorf("store lookups: %d, want %d", s.lookups.Load(), before+1)
	}

	if _, err := s.RevokeKey(ctx, o, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	want("revoked, change not applied yet", k.raw, 200, "tasks:read")
	c.Apply(keycache.Change{OrgID: o, KeyID: k.ID})
	want("revoked", k.raw, 401, "API key revoked")
}

// withChecksum appends the key checksum (CRC32-IEEE in 6 base62 digits) to
// s, making a well-formed key of any secret.
func withChecksum(s string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	c := crc32.ChecksumIEEE([]byte(s))
	var d [auth.ChecksumLen]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = base62[c%62]
		c /= 62
	}
	return s + string(d[:])
}
