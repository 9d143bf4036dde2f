package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/idemtest"
)

// plain is a middleware over a handler that answers with the status in the
// body's "status=NNN" (default 201) and counts its calls.
type plain struct {
	h     http.Handler
	calls atomic.Int64
	clock *idemtest.Clock
	store idempotency.Store
	logs  *bytes.Buffer
}

func newPlain(t testing.TB, store idempotency.Store, mod func(*idempotency.Options)) *plain {
	t.Helper()
	p := &plain{clock: idemtest.NewClock(), logs: &bytes.Buffer{}}
	if store == nil {
		store = idempotency.NewMemory(idempotency.MemoryOptions{Now: p.clock.Now})
	}
	p.store = store
	opts := idempotency.Options{
		Store:   store,
		Keyring: testKeyring(t, "k1"),
		Key: func(r *http.Request) (string, bool) {
			return r.Header.Get("X-Test-Key"), r.Header.Get("X-Test-Key") != ""
		},
		Logger: slog.New(slog.NewTextHandler(p.logs, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	mw, err := idempotency.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.h = gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		status := 201
		if s, ok := strings.CutPrefix(string(b), "status="); ok && len(s) >= 3 {
			if n, err := strconv.Atoi(s[:3]); err == nil && n >= 200 && n <= 599 {
				status = n
			}
		}
		w.Header().Set("Location", "/v1/things/"+strconv.FormatInt(n, 10))
		w.Header().Set("X-Other", "not kept")
		gatehouse.WriteData(w, r, status, map[string]any{"call": n, "body": string(b)})
	})))
	return p
}

func (p *plain) send(method, body string, keys ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/v1/things", strings.NewReader(body))
	req.Header.Set("X-Test-Key", "api-key-1")
	for _, k := range keys {
		req.Header.Add(idempotency.Header, k)
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec
}

func TestNew(t *testing.T) {
	t.Parallel()
	key := func(*http.Request) (string, bool) { return "", false }
	store := idempotency.NewMemory(idempotency.MemoryOptions{})
	kr := testKeyring(t, "k1")
	for name, opts := range map[string]idempotency.Options{
		"no store":     {Key: key, Keyring: kr},
		"no keyring":   {Store: store, Key: key},
		"negative TTL": {Store: store, Key: key, Keyring: kr, TTL: -1},
		"negative max": {Store: store, Key: key, Keyring: kr, MaxResponseBytes: -1},
	} {
		if _, err := idempotency.New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Without Key the scope is the request's gatehouse.Caller.
	if _, err := idempotency.New(idempotency.Options{Store: store, Keyring: kr}); err != nil {
		t.Errorf("no Key: %v", err)
	}
}

// TestStatuses: 2xx, 400 and 404 are stored and replayed; anything else
// releases the key and the retry runs the handler again.
func TestStatuses(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 201, 202, 204, 400, 404, 401, 403, 409, 413, 422, 429, 500, 502, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			p := newPlain(t, nil, nil)
			body := "status=" + strconv.Itoa(status)
			first := p.send("POST", body, "k")
			second := p.send("POST", body, "k")
			if first.Code != status || second.Code != status {
				t.Fatalf("codes %d %d", first.Code, second.Code)
			}
			stored := idempotency.Storable(status)
			if replayed := second.Header().Get(idempotency.ReplayedHeader) == "true"; replayed != stored {
				t.Fatalf("replayed %v, storable %v", replayed, stored)
			}
			if want := int64(2); stored {
				want = 1
				if p.calls.Load() != want {
					t.Fatalf("%d calls", p.calls.Load())
				}
				if second.Body.String() != first.Body.String() || second.Header().Get("Location") != first.Header().Get("Location") {
					t.Fatalf("replay differs: %s / %s", first.Body, second.Body)
				}
				if second.Header().Get("X-Other") != "" || second.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("replayed headers %v", second.Header())
				}
			} else if p.calls.Load() != want {
				t.Fatalf("%d calls", p.calls.Load())
			}
		})
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		p := newPlain(t, nil, nil)
		p.send(m, "", "k")
		if r := p.send(m, "", "k"); r.Header().Get(idempotency.ReplayedHeader) != "" || p.calls.Load() != 2 {
			t.Errorf("%s is not idempotency-keyed: %d calls", m, p.calls.Load())
		}
	}
}

// TestOverflow: a response above MaxResponseBytes is sent but not stored;
// the key stays claimed until its lock expires.
func TestOverflow(t *testing.T) {
	t.Parallel()
	p := newPlain(t, nil, func(o *idempotency.Options) { o.MaxResponseBytes = 64; o.LockTimeout = time.Minute })
	body := strings.Repeat("x", 100)
	if r := p.send("POST", body, "big"); r.Code != 201 || !strings.Contains(r.Body.String(), body) {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	if r := p.send("POST", body, "big"); r.Code != 409 {
		t.Fatalf("retry within the lock: %d %s", r.Code, r.Body)
	}
	if !strings.Contains(p.logs.String(), "too large") {
		t.Errorf("not logged: %s", p.logs)
	}
	p.clock.Advance(time.Minute)
	if r := p.send("POST", body, "big"); r.Code != 201 || p.calls.Load() != 2 {
		t.Fatalf("after the lock: %d, %d calls", r.Code, p.calls.Load())
	}
}

// failing is a store whose operations fail on demand.
type failing struct {
	idempotency.Store
	claim, complete, release atomic.Bool
}

var errDown = errors.New("store down")

func (f *failing) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Result, error) {
	if f.claim.Load() {
		return idempotency.Result{}, errDown
	}
	return f.Store.Claim(ctx, c)
}

func (f *failing) Complete(ctx context.Context, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	if f.complete.Load() {
		return errDown
	}
	return f.Store.Complete(ctx, ref, resp, ttl)
}

func (f *failing) Release(ctx context.Context, ref idempotency.Ref) error {
	if f.release.Load() {
		return errDown
	}
	return f.Store.Release(ctx, ref)
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	clock := idemtest.NewClock()
	f := &failing{Store: idempotency.NewMemory(idempotency.MemoryOptions{Now: clock.Now})}
	p := newPlain(t, f, nil)
	p.clock = clock

	f.claim.Store(true)
	if r := p.send("POST", "x", "a"); r.Code != 500 || p.calls.Load() != 0 || strings.Contains(r.Body.String(), "store down") {
		t.Fatalf("claim failure: %d %s, %d calls", r.Code, r.Body, p.calls.Load())
	}
	f.claim.Store(false)

	f.complete.Store(true)
	if r := p.send("POST", "x", "b"); r.Code != 201 {
		t.Fatalf("complete failure: the response is still sent: %d", r.Code)
	}
	f.complete.Store(false)
	if r := p.send("POST", "x", "b"); r.Code != 409 {
		t.Fatalf("key of a failed complete: %d, want 409 until the lock ends", r.Code)
	}
	if !strings.Contains(p.logs.String(), "store response") {
		t.Errorf("complete failure not logged: %s", p.logs)
	}

	f.release.Store(true)
	if r := p.send("POST", "status=500", "c"); r.Code != 500 {
		t.Fatal(r.Code)
	}
	f.release.Store(false)
	if r := p.send("POST", "status=500", "c"); r.Code != 409 {
		t.Fatalf("key of a failed release: %d", r.Code)
	}
	clock.Advance(idempotency.DefaultLockTimeout)
	if r := p.send("POST", "status=500", "c"); r.Code != 500 || r.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("after the lock: %d", r.Code)
	}
}

// FuzzHeader drives the header and the body through the middleware: it
// never panics, refuses exactly the invalid keys, and replays whatever it
// stored.
func FuzzHeader(f *testing.F) {
	for _, s := range [][2]string{
		{"k", "{}"}, {"", "x"}, {" ", ""}, {"a b", "status=400"}, {strings.Repeat("z", 255), "status=500"},
		{strings.Repeat("z", 256), ""}, {"\x7f", ""}, {"é", ""}, {"{tag}", "status=404"}, {"~!@#$%^&*()", "\x00\xff"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, body string) {
		p := newPlain(t, nil, nil)
		req := httptest.NewRequest("POST", "/v1/things", strings.NewReader(body))
		req.Header.Set("X-Test-Key", "api-key-1")
		req.Header[idempotency.Header] = []string{key}
		rec := httptest.NewRecorder()
		p.h.ServeHTTP(rec, req)
		if !idempotency.ValidKey(key) {
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), gatehouse.MsgInvalidHeaders) || p.calls.Load() != 0 {
				t.Fatalf("invalid key %q: %d %s", key, rec.Code, rec.Body)
			}
			return
		}
		if p.calls.Load() != 1 {
			t.Fatalf("key %q: %d calls", key, p.calls.Load())
		}
		again := httptest.NewRecorder()
		req2 := httptest.NewRequest("POST", "/v1/things", strings.NewReader(body))
		req2.Header = req.Header.Clone()
		p.h.ServeHTTP(again, req2)
		if idempotency.Storable(rec.Code) != (again.Header().Get(idempotency.ReplayedHeader) == "true") {
			t.Fatalf("key %q body %q: %d then replayed=%q", key, body, rec.Code, again.Header().Get(idempotency.ReplayedHeader))
		}
		if idempotency.Storable(rec.Code) && again.Body.String() != rec.Body.String() {
			t.Fatalf("replay differs")
		}
	})
}

func testKeyring(t testing.TB, ids ...string) *gatehouse.Keyring {
	t.Helper()
	secrets := make([]gatehouse.Secret, len(ids))
	for i, id := range ids {
		secrets[i] = gatehouse.GenerateSecret(id)
	}
	k, err := gatehouse.NewKeyring(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestStoredBodySealed (issue 13, "the webhook signing secret is stored in
// plain text and replayed"): what the store holds is sealed by the
// keyring and bound to its API key and Idempotency-Key.
func TestStoredBodySealed(t *testing.T) {
	t.Parallel()
	rec := &recording{Store: idempotency.NewMemory(idempotency.MemoryOptions{})}
	p := newPlain(t, rec, nil)
	first := p.send("POST", "whsec_plaintext", "k")
	if first.Code != 201 || !strings.Contains(first.Body.String(), "whsec_plaintext") {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	stored := rec.last.Load()
	if stored == nil || bytes.Contains(stored.Body, []byte("whsec_")) || bytes.Contains(stored.Body, []byte(`"call"`)) {
		t.Fatalf("stored body in plain text: %q", stored.Body)
	}
	if r := p.send("POST", "whsec_plaintext", "k"); r.Body.String() != first.Body.String() || r.Header().Get(idempotency.ReplayedHeader) != "true" {
		t.Fatalf("replay: %d %s", r.Code, r.Body)
	}
}

// TestKeyringRotation (issue 13): a response sealed under a secret that
// was rotated out of first place still replays for the whole TTL while the
// secret stays in the keyring; a secret removed from the keyring makes the
// replay fail closed (500, nothing run again).
func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	clock := idemtest.NewClock()
	store := idempotency.NewMemory(idempotency.MemoryOptions{Now: clock.Now})
	old := gatehouse.GenerateSecret("2026-01")
	current := gatehouse.GenerateSecret("2026-02")
	with := func(secrets ...gatehouse.Secret) *plain {
		k, err := gatehouse.NewKeyring(secrets...)
		if err != nil {
			t.Fatal(err)
		}
		return newPlain(t, store, func(o *idempotency.Options) { o.Keyring = k })
	}
	before := with(old)
	first := before.send("POST", "whsec_rotated", "rot")
	if first.Code != 201 {
		t.Fatal(first.Code)
	}
	clock.Advance(idempotency.DefaultTTL - time.Minute)
	after := with(current, old)
	r := after.send("POST", "whsec_rotated", "rot")
	if r.Code != 201 || r.Header().Get(idempotency.ReplayedHeader) != "true" || r.Body.String() != first.Body.String() || after.calls.Load() != 0 {
		t.Fatalf("after rotation: %d %s (%d calls)", r.Code, r.Body, after.calls.Load())
	}
	dropped := with(current)
	r = dropped.send("POST", "whsec_rotated", "rot")
	if r.Code != 500 || dropped.calls.Load() != 0 || strings.Contains(r.Body.String(), "whsec_") {
		t.Fatalf("old secret removed: %d %s (%d calls)", r.Code, r.Body, dropped.calls.Load())
	}
	if !strings.Contains(dropped.logs.String(), "open stored response") {
		t.Errorf("not logged: %s", dropped.logs)
	}
}

// recording keeps the last response a store was asked to complete.
type recording struct {
	idempotency.Store
	last atomic.Pointer[idempotency.Response]
}

func (r *recording) Complete(ctx context.Context, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	r.last.Store(&resp)
	return r.Store.Complete(ctx, ref, resp, ttl)
}
