package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// fixture is a memory store with organizations and keys in every state.
type fixture struct {
	store *auth.Memory
	now   time.Time
	// Raw keys by name: valid, expired, revoked, disabled (organization
	// off), orphan (organization unknown), other (another valid key),
	// foreign (another prefix), unknown (never stored).
	raw  map[string]string
	keys map[string]auth.Key
}

const (
	orgOn    = "11111111-1111-4111-8111-111111111111"
	orgOff   = "22222222-2222-4222-8222-222222222222"
	orgOther = "33333333-3333-4333-8333-333333333333"
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	f := &fixture{store: auth.NewMemory(auth.MemoryOptions{Now: func() time.Time { return now }}), now: now, raw: map[string]string{}, keys: map[string]auth.Key{}}
	for _, o := range []auth.Org{{ID: orgOn, Name: "On", APIEnabled: true}, {ID: orgOff, Name: "Off"}, {ID: orgOther, Name: "Other", APIEnabled: true}} {
		if _, err := f.store.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []struct {
		name, prefix, org string
		edit              func(*auth.Key)
		store             bool
	}{
		{"valid", "joby", orgOn, nil, true},
		{"other", "joby", orgOther, nil, true},
		{"expired", "joby", orgOn, func(k *auth.Key) { k.ExpiresAt = ptr(now) }, true},
		{"expiring", "joby", orgOn, func(k *auth.Key) { k.ExpiresAt = ptr(now.Add(time.Microsecond)) }, true},
		{"revoked", "joby", orgOn, func(k *auth.Key) { k.RevokedAt = ptr(now.Add(-time.Hour)) }, true},
		{"disabled", "joby", orgOff, nil, true},
		{"orphan", "joby", "44444444-4444-4444-8444-444444444444", nil, true},
		{"foreign", "acme", orgOn, nil, true},
		{"unknown", "joby", orgOn, nil, false},
	} {
		raw, p, err := auth.Generate(k.prefix, auth.EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		key := auth.Key{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.raw)), OrganizationID: k.org, Name: k.name, Env: p.Env,
			PublicID: p.PublicID, Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
			Scopes: scope.NewSet("leads:read", "tasks:create"), RateLimitPerMinute: 60, CreatedAt: now.Add(-24 * time.Hour),
		}
		if k.edit != nil {
			k.edit(&key)
		}
		if k.store {
			if err := f.store.CreateKey(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		f.raw[k.name] = raw.Reveal()
		f.keys[k.name] = key
	}
	return f
}

func ptr[T any](v T) *T { return &v }

// wrongSecret returns a key with the public id of raw, another secret and a
// valid checksum: it passes Parse and fails only the hash comparison.
func wrongSecret(raw string) string {
	body := raw[:len(raw)-38] + strings.Repeat("x", 32)
	return body + base62Checksum(body)
}

// typo changes one character of the secret.
func typo(raw string) string {
	i := len(raw) - 20
	c := byte('a')
	if raw[i] == 'a' {
		c = 'b'
	}
	return raw[:i] + string(c) + raw[i+1:]
}

// okHandler reports the caller the middleware recorded.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	k, ok := gatehouse.CallerFromContext(r.Context())
	org, ok2 := tenancy.FromContext(r.Context())
	sc, ok3 := scope.FromContext(r.Context())
	if !ok || !ok2 || !ok3 {
		http.Error(w, "context incomplete", http.StatusTeapot)
		return
	}
	fmt.Fprintf(w, "%s %s %s", k.KeyID, org, strings.Join(sc.Strings(), ","))
})

type result struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func serve(t testing.TB, h http.Handler, headers [][2]string) result {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	for _, kv := range headers {
		r.Header.Add(kv[0], kv[1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := result{status: w.Code, raw: w.Body.String(), header: w.Header()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("bad JSON body %q: %v", w.Body.String(), err)
		}
	}
	return res
}

func newMiddleware(t testing.TB, opts auth.Options) *auth.Middleware {
	t.Helper()
	m, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs syncBuffer
	m := newMiddleware(t, auth.Options{
		Store: f.store, Orgs: f.store, Prefix: "joby", Header: "x-joby-api-key",
		Now: func() time.Time { return f.now }, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	h := gatehouse.RequestID(m.Wrap(okHandler))
	bearer := func(name string) [2]string { return [2]string{"Authorization", "Bearer " + f.raw[name]} }
	alt := func(v string) [2]string { return [2]string{"X-Joby-API-Key", v} }
	authz := func(v string) [2]string { return [2]string{"Authorization", v} }
	validOK := f.keys["valid"].ID + " " + orgOn + " leads:read,tasks:create"

	for _, tc := range []struct {
		name    string
		headers [][2]string
		status  int
		msg     string // error text, or the body of a success
	}{
		{"bearer", [][2]string{bearer("valid")}, 200, validOK},
		{"lower-case scheme", [][2]string{authz("bearer " + f.raw["valid"])}, 200, validOK},
		{"upper-case scheme", [][2]string{authz("BEARER " + f.raw["valid"])}, 200, validOK},
		{"extra spaces", [][2]string{authz("Bearer   " + f.raw["valid"] + "  ")}, 200, validOK},
		{"tab", [][2]string{authz("Bearer\t" + f.raw["valid"])}, 200, validOK},
		{"alternative header", [][2]string{alt(f.raw["valid"])}, 200, validOK},
		{"both headers, same key", [][2]string{bearer("valid"), alt(f.raw["valid"])}, 200, validOK},
		{"expires in a microsecond", [][2]string{bearer("expiring")}, 200, f.keys["expiring"].ID + " " + orgOn + " leads:read,tasks:create"},

		{"no header", nil, 401, gatehouse.MsgMissingKey},
		{"other header only", [][2]string{{"X-Api-Key", f.raw["valid"]}}, 401, gatehouse.MsgMissingKey},
		{"empty Authorization", [][2]string{authz("")}, 401, gatehouse.MsgInvalidKey},
		{"scheme only", [][2]string{authz("Bearer")}, 401, gatehouse.MsgInvalidKey},
		{"scheme and space", [][2]string{authz("Bearer ")}, 401, gatehouse.MsgInvalidKey},
		{"Basic scheme", [][2]string{authz("Basic " + f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"no scheme", [][2]string{authz(f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"Bearer-prefixed scheme", [][2]string{authz("Bearerx " + f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"two tokens", [][2]string{authz("Bearer " + f.raw["valid"] + " " + f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"two Authorization headers", [][2]string{bearer("valid"), bearer("valid")}, 401, gatehouse.MsgInvalidKey},
		{"empty alternative header", [][2]string{alt("")}, 401, gatehouse.MsgInvalidKey},
		{"Bearer in the alternative header", [][2]string{alt("Bearer " + f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"malformed", [][2]string{authz("Bearer joby_live_nope")}, 401, gatehouse.MsgInvalidKey},
		{"bad checksum", [][2]string{authz("Bearer " + typo(f.raw["valid"]))}, 401, gatehouse.MsgInvalidKey},
		{"unknown key", [][2]string{bearer("unknown")}, 401, gatehouse.MsgInvalidKey},
		{"wrong secret", [][2]string{authz("Bearer " + wrongSecret(f.raw["valid"]))}, 401, gatehouse.MsgInvalidKey},
		{"another prefix", [][2]string{bearer("foreign")}, 401, gatehouse.MsgInvalidKey},
		{"both headers, different keys", [][2]string{bearer("valid"), alt(f.raw["other"])}, 401, gatehouse.MsgInvalidKey},
		{"both headers, one malformed", [][2]string{bearer("valid"), alt("nope")}, 401, gatehouse.MsgInvalidKey},
		{"both headers, bad Authorization", [][2]string{authz("Basic x"), alt(f.raw["valid"])}, 401, gatehouse.MsgInvalidKey},
		{"expired", [][2]string{bearer("expired")}, 401, gatehouse.MsgKeyExpired},
		{"revoked", [][2]string{bearer("revoked")}, 401, gatehouse.MsgKeyRevoked},
		{"expired, wrong secret", [][2]string{authz("Bearer " + wrongSecret(f.raw["expired"]))}, 401, gatehouse.MsgInvalidKey},
		{"revoked, wrong secret", [][2]string{authz("Bearer " + wrongSecret(f.raw["revoked"]))}, 401, gatehouse.MsgInvalidKey},
		{"revoked via alternative header", [][2]string{alt(f.raw["revoked"])}, 401, gatehouse.MsgKeyRevoked},

		{"module disabled", [][2]string{bearer("disabled")}, 403, gatehouse.MsgModuleDisabled},
		{"unknown organization", [][2]string{bearer("orphan")}, 403, gatehouse.MsgModuleDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := serve(t, h, tc.headers)
			if res.status != tc.status {
				t.Fatalf("status %d (%s), want %d", res.status, res.raw, tc.status)
			}
			if tc.status == 200 {
				if res.raw != tc.msg {
					t.Fatalf("body %q, want %q", res.raw, tc.msg)
				}
				return
			}
			if got := res.body["error"]; got != tc.msg {
				t.Errorf("error %q, want %q", got, tc.msg)
			}
			if id, _ := res.body["request_id"].(string); id == "" || id != res.header.Get("X-Request-Id") {
				t.Errorf("request_id %q, header %q", id, res.header.Get("X-Request-Id"))
			}
			wantAuth := ""
			if tc.status == 401 {
				wantAuth = "Bearer"
			}
			if got := res.header.Get("WWW-Authenticate"); got != wantAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, wantAuth)
			}
			if len(res.body) != 2 {
				t.Errorf("body %v has extra fields", res.body)
			}
		})
	}
	t.Cleanup(func() {
		// Nothing logged holds a secret: debug logs name public ids only.
		out := logs.String()
		for name, raw := range f.raw {
			if strings.Contains(out, raw[len(raw)-38:]) {
				t.Errorf("log output contains the secret of key %s", name)
			}
		}
	})
}

func TestMiddlewareAnyPrefixNoAltHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := newMiddleware(t, auth.Options{Store: f.store, Orgs: f.store, Now: func() time.Time { return f.now }}).Wrap(okHandler)
	for _, tc := range []struct {
		name    string
		headers [][2]string
		status  int
		msg     string
	}{
		{"joby prefix", [][2]string{{"Authorization", "Bearer " + f.raw["valid"]}}, 200, ""},
		{"acme prefix", [][2]string{{"Authorization", "Bearer " + f.raw["foreign"]}}, 200, ""},
		{"X-Joby-API-Key not configured", [][2]string{{"X-Joby-API-Key", f.raw["valid"]}}, 401, gatehouse.MsgMissingKey},
		{"X-Joby-API-Key ignored besides Authorization", [][2]string{{"Authorization", "Bearer " + f.raw["valid"]}, {"X-Joby-API-Key", "junk"}}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := serve(t, h, tc.headers)
			if res.status != tc.status || (tc.msg != "" && res.body["error"] != tc.msg) {
				t.Fatalf("got %d %s, want %d %q", res.status, res.raw, tc.status, tc.msg)
			}
		})
	}
}

// TestMiddlewareChangesApplyNextRequest: revocation, disabling the module
// and scope changes apply to the very next request.
func TestMiddlewareChangesApplyNextRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	h := newMiddleware(t, auth.Options{Store: f.store, Orgs: f.store, Now: func() time.Time { return f.now }}).Wrap(okHandler)
	req := [][2]string{{"Authorization", "Bearer " + f.raw["valid"]}}
	k := f.keys["valid"]
	if res := serve(t, h, req); res.status != 200 {
		t.Fatalf("before: %d %s", res.status, res.raw)
	}
	if _, err := f.store.UpdateKey(ctx, orgOn, k.ID, auth.KeyUpdate{Scopes: ptr(scope.NewSet("clients:read"))}, f.now); err != nil {
		t.Fatal(err)
	}
	if res := serve(t, h, req); res.status != 200 || !strings.HasSuffix(res.raw, " clients:read") {
		t.Fatalf("after scope change: %d %s", res.status, res.raw)
	}
	if _, err := f.store.SetAPIEnabled(ctx, orgOn, false, f.now); err != nil {
		t.Fatal(err)
	}
	if res := serve(t, h, req); res.status != 403 {
		t.Fatalf("after disabling: %d %s", res.status, res.raw)
	}
	if _, err := f.store.SetAPIEnabled(ctx, orgOn, true, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RevokeKey(ctx, orgOn, k.ID, f.now); err != nil {
		t.Fatal(err)
	}
	if res := serve(t, h, req); res.status != 401 || res.body["error"] != gatehouse.MsgKeyRevoked {
		t.Fatalf("after revoking: %d %s", res.status, res.raw)
	}
}

// failingStore fails lookups or organization checks with an internal error.
type failingStore struct {
	*auth.Memory
	lookup, orgs error
}

func (s failingStore) LookupKey(ctx context.Context, id string) (auth.Key, error) {
	if s.lookup != nil {
		return auth.Key{}, s.lookup
	}
	return s.Memory.LookupKey(ctx, id)
}

func (s failingStore) APIEnabled(ctx context.Context, id string) (bool, error) {
	if s.orgs != nil {
		return false, s.orgs
	}
	return s.Memory.APIEnabled(ctx, id)
}

func TestMiddlewareStoreErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cause := errors.New("dial tcp 10.1.2.3:5432: connection refused")
	for _, tc := range []struct {
		name  string
		store failingStore
	}{
		{"lookup fails", failingStore{Memory: f.store, lookup: cause}},
		{"organization check fails", failingStore{Memory: f.store, orgs: cause}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			h := newMiddleware(t, auth.Options{
				Store: tc.store, Orgs: tc.store, Now: func() time.Time { return f.now },
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			}).Wrap(okHandler)
			res := serve(t, h, [][2]string{{"Authorization", "Bearer " + f.raw["valid"]}})
			if res.status != 500 || res.body["error"] != gatehouse.MsgInternal {
				t.Fatalf("got %d %s, want 500 %q", res.status, res.raw, gatehouse.MsgInternal)
			}
			if strings.Contains(res.raw, "10.1.2.3") || res.header.Get("WWW-Authenticate") != "" {
				t.Errorf("response leaks the cause or asks for credentials: %s %v", res.raw, res.header)
			}
			out := logs.String()
			if !strings.Contains(out, "connection refused") {
				t.Errorf("cause not logged: %s", out)
			}
			if raw := f.raw["valid"]; strings.Contains(out, raw[len(raw)-38:]) {
				t.Errorf("log contains the secret: %s", out)
			}
		})
	}
	// A store answering ErrNotFound wrapped is still "Invalid API key".
	wrapped := failingStore{Memory: f.store, lookup: fmt.Errorf("cache: %w", auth.ErrNotFound)}
	h := newMiddleware(t, auth.Options{Store: wrapped, Orgs: wrapped}).Wrap(okHandler)
	if res := serve(t, h, [][2]string{{"Authorization", "Bearer " + f.raw["valid"]}}); res.status != 401 || res.body["error"] != gatehouse.MsgInvalidKey {
		t.Errorf("wrapped ErrNotFound: %d %s", res.status, res.raw)
	}
}

// countingThrottle refuses once blocked and counts its calls.
type countingThrottle struct {
	allowed, refused, failed atomic.Int64
	block                    atomic.Bool
}

func (c *countingThrottle) Allow(r *http.Request) error {
	if c.block.Load() {
		c.refused.Add(1)
		return gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited).WithHeader("Retry-After", "7")
	}
	c.allowed.Add(1)
	return nil
}

func (c *countingThrottle) Failed(r *http.Request) { c.failed.Add(1) }

// TestMiddlewareThrottle: with a store that cannot vouch for public ids,
// every failure after a store read counts, a blocked address gets 429
// instead of 401 for keys that fail, and keys that verify pass whatever the
// throttle says.
func TestMiddlewareThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	th := &countingThrottle{}
	lookups := &countingLookups{Memory: f.store}
	h := newMiddleware(t, auth.Options{Store: lookups, Orgs: f.store, Now: func() time.Time { return f.now }, Throttle: th}).Wrap(okHandler)
	b := func(name string) [][2]string { return [][2]string{{"Authorization", "Bearer " + f.raw[name]}} }
	steps := []struct {
		headers    [][2]string
		status     int
		failedUpTo int64
	}{
		{b("valid"), 200, 0},
		{nil, 401, 0}, // no key: no store read, nothing counted
		{[][2]string{{"Authorization", "Bearer x"}}, 401, 0}, // malformed: likewise
		{b("unknown"), 401, 1},
		{b("revoked"), 401, 2},
		{b("expired"), 401, 3},
		{b("disabled"), 403, 3},
		{b("valid"), 200, 3},
	}
	for i, st := range steps {
		if res := serve(t, h, st.headers); res.status != st.status {
			t.Fatalf("step %d: status %d, want %d", i, res.status, st.status)
		}
		if got := th.failed.Load(); got != st.failedUpTo {
			t.Fatalf("step %d: Failed called %d times, want %d", i, got, st.failedUpTo)
		}
	}
	if th.allowed.Load() != 3 {
		t.Errorf("Allow called %d times, want 3 (after each counted failure)", th.allowed.Load())
	}
	th.block.Store(true)
	if res := serve(t, h, b("valid")); res.status != 200 {
		t.Fatalf("valid key while the address is blocked: %d %s", res.status, res.raw)
	}
	res := serve(t, h, b("unknown"))
	if res.status != 429 || res.body["error"] != gatehouse.MsgRateLimited || res.header.Get("Retry-After") != "7" {
		t.Fatalf("unknown key while blocked: %d %s %v", res.status, res.raw, res.header)
	}
}

// hintingStore is a store that knows which public ids exist (like
// keycache.Cache) from a fixed answer per id.
type hintingStore struct {
	*countingLookups
	hints map[string]auth.KeyHint
}

func (h *hintingStore) KeyHint(publicID string) auth.KeyHint { return h.hints[publicID] }

// TestValidKeyNotLockedOutByBadKeysFromSameAddress: with a store that
// vouches for public ids, a blocked address still gets its valid keys
// served, ids known to be absent cost no lookup and no count, and only
// unvouched ids are throttled before the store read.
func TestValidKeyNotLockedOutByBadKeysFromSameAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	th := &countingThrottle{}
	pid := func(name string) string { return f.keys[name].PublicID }
	store := &hintingStore{countingLookups: &countingLookups{Memory: f.store}, hints: map[string]auth.KeyHint{
		pid("valid"): auth.KeyPresent, pid("revoked"): auth.KeyPresent, pid("other"): auth.KeyUnknown,
		pid("unknown"): auth.KeyAbsent,
	}}
	h := newMiddleware(t, auth.Options{Store: store, Orgs: f.store, Now: func() time.Time { return f.now }, Throttle: th}).Wrap(okHandler)
	b := func(name string) [][2]string { return [][2]string{{"Authorization", "Bearer " + f.raw[name]}} }
	th.block.Store(true) // the address has used up its budget
	for _, tc := range []struct {
		key            string
		status         int
		lookups        int64
		refused, fails int64
	}{
		{"valid", 200, 1, 0, 0},   // vouched for: looked up, served
		{"unknown", 401, 0, 0, 0}, // known absent: no I/O, not counted
		{"revoked", 401, 1, 0, 0}, // vouched for: looked up, refused as revoked
		{"other", 429, 0, 1, 0},   // unvouched: throttled before the read
	} {
		l0, r0, f0 := store.n.Load(), th.refused.Load(), th.failed.Load()
		res := serve(t, h, b(tc.key))
		if res.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.key, res.status, res.raw, tc.status)
		}
		if got := store.n.Load() - l0; got != tc.lookups {
			t.Errorf("%s: %d lookups, want %d", tc.key, got, tc.lookups)
		}
		if got := th.refused.Load() - r0; got != tc.refused {
			t.Errorf("%s: %d refusals, want %d", tc.key, got, tc.refused)
		}
		if got := th.failed.Load() - f0; got != tc.fails {
			t.Errorf("%s: %d failures counted, want %d", tc.key, got, tc.fails)
		}
	}
	// Unblocked, an unvouched id is read and its failure counted.
	th.block.Store(false)
	f0 := th.failed.Load()
	if res := serve(t, h, [][2]string{{"Authorization", "Bearer " + wrongSecret(f.raw["other"])}}); res.status != 401 {
		t.Fatalf("wrong secret: %d", res.status)
	}
	if th.failed.Load() != f0+1 {
		t.Error("an unvouched lookup that failed was not counted")
	}
}

// TestFailedAuthCountedWhenClientHangsUp: a request whose client went away
// during an unvouched store read still counts as a failure.
func TestFailedAuthCountedWhenClientHangsUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	th := &countingThrottle{}
	ctx, cancel := context.WithCancel(context.Background())
	store := &hangupStore{Memory: f.store, cancel: cancel}
	h := newMiddleware(t, auth.Options{Store: store, Orgs: f.store, Throttle: th}).Wrap(okHandler)
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+f.raw["unknown"])
	h.ServeHTTP(httptest.NewRecorder(), req)
	if th.failed.Load() != 1 {
		t.Fatalf("failures counted: %d, want 1", th.failed.Load())
	}
}

// hangupStore cancels the request (the client hangs up) during the read.
type hangupStore struct {
	*auth.Memory
	cancel func()
}

func (h *hangupStore) LookupKey(ctx context.Context, id string) (auth.Key, error) {
	h.cancel()
	<-ctx.Done()
	return auth.Key{}, ctx.Err()
}

type countingLookups struct {
	*auth.Memory
	n atomic.Int64
}

func (c *countingLookups) LookupKey(ctx context.Context, id string) (auth.Key, error) {
	c.n.Add(1)
	return c.Memory.LookupKey(ctx, id)
}

// TestMiddlewareRejectsBeforeLookup: malformed keys, bad checksums and other
// prefixes never reach the store.
func TestMiddlewareRejectsBeforeLookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lookups := &countingLookups{Memory: f.store}
	h := newMiddleware(t, auth.Options{Store: lookups, Orgs: f.store, Prefix: "joby"}).Wrap(okHandler)
	for _, v := range []string{"Bearer x", "Bearer " + typo(f.raw["valid"]), "Bearer " + f.raw["foreign"], "Basic abc"} {
		serve(t, h, [][2]string{{"Authorization", v}})
	}
	if n := lookups.n.Load(); n != 0 {
		t.Errorf("%d store lookups for keys rejected by Parse", n)
	}
}

func TestMiddlewareUsage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, err := auth.NewUsage(auth.UsageOptions{Store: f.store, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	h := newMiddleware(t, auth.Options{Store: f.store, Orgs: f.store, Now: func() time.Time { return f.now }, Usage: u}).Wrap(okHandler)
	for _, name := range []string{"valid", "valid", "other", "revoked", "disabled"} {
		serve(t, h, [][2]string{{"Authorization", "Bearer " + f.raw[name]}})
	}
	if st := u.Stats(); st.Marked != 2 || st.Pending != 2 {
		t.Fatalf("Stats = %+v, want 2 marked (valid, other), 2 pending", st)
	}
	if err := u.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"valid": true, "other": true, "revoked": false, "disabled": false} {
		k, err := f.store.LookupKey(context.Background(), f.keys[name].PublicID)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.LastUsedAt != nil && k.LastUsedAt.Equal(f.now); got != want {
			t.Errorf("%s: LastUsedAt = %v, want set=%v", name, k.LastUsedAt, want)
		}
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	for _, tc := range []struct {
		name string
		opts auth.Options
		ok   bool
	}{
		{"minimal", auth.Options{Store: m, Orgs: m}, true},
		{"all", auth.Options{Store: m, Orgs: m, Prefix: "joby", Header: "X-Joby-API-Key", Now: time.Now, Logger: slog.Default()}, true},
		{"org checker func", auth.Options{Store: m, Orgs: auth.OrgCheckerFunc(func(context.Context, string) (bool, error) { return true, nil })}, true},
		{"no store", auth.Options{Orgs: m}, false},
		{"no orgs", auth.Options{Store: m}, false},
		{"bad prefix", auth.Options{Store: m, Orgs: m, Prefix: "Joby"}, false},
		{"header with space", auth.Options{Store: m, Orgs: m, Header: "X Key"}, false},
		{"header with colon", auth.Options{Store: m, Orgs: m, Header: "X-Key:"}, false},
		{"header is Authorization", auth.Options{Store: m, Orgs: m, Header: "authorization"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mw, err := auth.New(tc.opts)
			if (err == nil) != tc.ok || (mw != nil) != tc.ok {
				t.Fatalf("New = %v, %v; want ok=%v", mw, err, tc.ok)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (parallel
// subtests logging through one handler).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
