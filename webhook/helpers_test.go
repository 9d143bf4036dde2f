package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// fakeClock is an injected Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is an API key of the test's authentication.
type testKey struct {
	id, org string
	scopes  scope.Set
	active  bool
}

// env is a database with the webhook tables, a resource registry with the
// public routes, an admin handler and a fake key store.
type env struct {
	t     *testing.T
	db    dbtest.DB
	clock *fakeClock
	kr    *gatehouse.Keyring
	svc   *webhook.Service
	reg   *resource.Registry
	admin http.Handler

	mu   sync.Mutex
	keys map[string]*testKey // by bearer token
	logs *syncBuffer
}

func keyring(t testing.TB) *gatehouse.Keyring {
	kr, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("k1"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func testResources() []resource.Resource {
	return []resource.Resource{
		{Name: "leads", Fields: []resource.Field{{Name: "first_name"}, {Name: "email", Type: resource.Email}, {Name: "status"}}},
		{Name: "tasks", Fields: []resource.Field{{Name: "title", Required: true}, {Name: "lead_id", References: "leads"}}},
	}
}

func tablesDDL(d tenancy.Dialect) []string {
	ts := "TEXT"
	if d == tenancy.Postgres {
		ts = "TIMESTAMPTZ"
	}
	return []string{
		`CREATE TABLE leads (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, first_name TEXT, email TEXT, status TEXT,
			created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL)`,
		`CREATE TABLE tasks (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, title TEXT NOT NULL, lead_id TEXT,
			created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL)`,
	}
}

// newEnv builds the environment; mod adjusts the webhook options (the
// defaults allow http, any port and loopback, so httptest receivers work).
func newEnv(t *testing.T, db dbtest.DB, mod func(*webhook.Options)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, db: db, clock: newClock(), kr: keyring(t), keys: map[string]*testKey{}, logs: &syncBuffer{}}
	for _, s := range tablesDDL(db.Dialect) {
		if _, err := db.DB.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	opts := webhook.Options{
		DB:            db.DB,
		Dialect:       db.Dialect,
		Keyring:       e.kr,
		Resources:     testResources(),
		KeyCheck:      e.keyCheck,
		AllowHTTP:     true,
		AllowAnyPort:  true,
		AllowLoopback: true,
		Logger:        slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           e.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	svc, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Migrate is idempotent.
	if err := svc.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	var routes []resource.Route
	if opts.KeyCheck != nil {
		if routes, err = svc.Routes(); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := resource.New(resource.Options{
		DB: db.DB, Dialect: db.Dialect, Resources: testResources(), Routes: routes,
		OnWrite: svc.OnWrite, Now: e.clock.Now, Logger: opts.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	admin, err := svc.AdminHandler(webhook.AdminOptions{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer admin-token" {
			return gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgUnauthorized)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = admin
	return e
}

// addKey registers an API key and returns its bearer token.
func (e *env) addKey(org string, scopes ...string) (token, keyID string) {
	e.t.Helper()
	set, err := scope.ParseSet(scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	k := &testKey{id: uuid.New(), org: org, scopes: set, active: true}
	token = "tok-" + k.id
	e.mu.Lock()
	e.keys[token] = k
	e.mu.Unlock()
	return token, k.id
}

// setKey changes a key's scopes and state, as an admin would.
func (e *env) setKey(token string, active bool, scopes ...string) {
	e.t.Helper()
	set, err := scope.ParseSet(scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[token].scopes, e.keys[token].active = set, active
}

func (e *env) keyCheck(_ context.Context, orgID, keyID string) (scope.Set, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.keys {
		if k.id == keyID && k.org == orgID {
			return k.scopes, k.active, nil
		}
	}
	return scope.Set{}, false, nil
}

// resp is a decoded response.
type resp struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r resp) data() map[string]any {
	m, _ := r.Body["data"].(map[string]any)
	return m
}

func (r resp) list() []map[string]any {
	arr, _ := r.Body["data"].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

func (e *env) serve(h http.Handler, req *http.Request) resp {
	e.t.Helper()
	rid := uuid.New()
	req = req.WithContext(gatehouse.NewRequestContext(req.Context(), rid))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := resp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if rec.Code == http.StatusNoContent {
		if rec.Body.Len() != 0 {
			e.t.Errorf("%s %s: 204 with a body: %s", req.Method, req.URL, out.Raw)
		}
		return out
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, body %s", req.Method, req.URL, ct, out.Raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil {
		e.t.Errorf("%s %s: body is not a JSON object: %v: %s", req.Method, req.URL, err, out.Raw)
	}
	if out.Body["request_id"] != rid {
		e.t.Errorf("%s %s: request_id %v, want %s", req.Method, req.URL, out.Body["request_id"], rid)
	}
	return out
}

// api calls the public API with a key's token ("" for no key).
func (e *env) api(method, target, body, token string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	ctx := req.Context()
	e.mu.Lock()
	k, ok := e.keys[token]
	e.mu.Unlock()
	if ok {
		if !k.active {
			e.t.Fatalf("test bug: call with an inactive key")
		}
		ctx = gatehouse.NewCallerContext(ctx, gatehouse.Caller{KeyID: k.id, OrgID: k.org, Scopes: k.scopes.Strings()})
	}
	return e.serve(e.reg, req.WithContext(ctx))
}

// adm calls the admin API.
func (e *env) adm(method, target, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Authorization", "Bearer admin-token")
	return e.serve(e.admin, req)
}

func wantError(t testing.TB, r resp, code int, msg string) {
	t.Helper()
	if r.Code != code || r.Body["error"] != msg {
		t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, code, msg)
	}
}

func wantCode(t testing.TB, r resp, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("got %d %s, want %d", r.Code, r.Raw, code)
	}
}

// delivery is one request a receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
	Event  struct {
		ID             string         `json:"id"`
		Type           string         `json:"type"`
		CreatedAt      string         `json:"created_at"`
		OrganizationID string         `json:"organization_id"`
		Data           map[string]any `json:"data"`
	}
}

// receiver is an httptest server on loopback that records deliveries and
// answers with respond (200 when nil).
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivery
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	rc := &receiver{t: t, respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: read body: %v", err)
			return
		}
		d := delivery{Header: r.Header.Clone(), Body: body}
		if err := json.Unmarshal(body, &d.Event); err != nil {
			t.Errorf("receiver: body is not an event: %v: %s", err, body)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(w, r, n)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hooks" }

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// verified checks every delivery's signature with secret at now and
// returns the event types in order.
func (rc *receiver) verified(secret string, now time.Time) []string {
	rc.t.Helper()
	var types []string
	for _, d := range rc.deliveries() {
		if err := webhook.Verify(secret, d.Header, d.Body, now); err != nil {
			rc.t.Fatalf("delivery %s does not verify: %v", d.Event.ID, err)
		}
		if d.Header.Get(webhook.HeaderID) != d.Event.ID {
			rc.t.Fatalf("webhook-id %q, event id %q", d.Header.Get(webhook.HeaderID), d.Event.ID)
		}
		types = append(types, d.Event.Type)
	}
	return types
}

// dispatcher returns a dispatcher of e's service; mod adjusts the options.
func (e *env) dispatcher(mod func(*webhook.DispatcherOptions)) *webhook.Dispatcher {
	e.t.Helper()
	opts := webhook.DispatcherOptions{Service: e.svc, Concurrency: 4}
	if mod != nil {
		mod(&opts)
	}
	d, err := webhook.NewDispatcher(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// drain dispatches until nothing is due at the current fake time.
func drain(t testing.TB, d *webhook.Dispatcher) int {
	t.Helper()
	total := 0
	for range 100 {
		n, err := d.Dispatch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("drain: still busy after 100 rounds")
	return total
}

// count runs a COUNT(*) query.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.DB.QueryRow(e.db.Dialect.Rebind(query), args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// loopbackOnly is a dial function that fails the test when asked to
// connect anywhere but loopback.
func loopbackOnly(t testing.TB) webhook.DialFunc {
	var d net.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Errorf("dialer asked to connect to %s", address)
			return nil, errors.New("test dialer: refusing " + address)
		}
		return d.DialContext(ctx, network, address)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeResolver resolves names from a map that tests may change.
type fakeResolver struct {
	mu    sync.Mutex
	names map[string][]string
}

func (f *fakeResolver) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil {
		f.names = map[string][]string{}
	}
	f.names[name] = addrs
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	addrs, ok := f.names[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.ParseIP(a)}
	}
	return out, nil
}

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
