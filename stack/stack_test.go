package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

const adminToken = "stack-test-admin-token-0123456789abcdefghijklmnopqrstuvwxyz"

// notes is the test service's one resource, on a table the service owns.
var notes = []resource.Resource{{
	Name:   "notes",
	Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}},
}}

func notesTable(d tenancy.Dialect) string {
	if d == tenancy.Postgres {
		return `CREATE TABLE notes (id uuid PRIMARY KEY, organization_id uuid NOT NULL, title text NOT NULL,
			created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`
	}
	return `CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, title TEXT NOT NULL,
		created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`
}

func keyring(t testing.TB) *gatehouse.Keyring {
	k, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a stack under test with helpers to call it.
type env struct {
	t  *testing.T
	s  *stack.Stack
	h  http.Handler
	db dbtest.DB
}

// newEnv builds a stack on db with the notes table; o's zero fields get
// the test's defaults, and its background loops run until the test ends.
func newEnv(t *testing.T, db dbtest.DB, o stack.Options) *env {
	t.Helper()
	if _, err := db.DB.Exec(notesTable(db.Dialect)); err != nil {
		t.Fatal(err)
	}
	o.DB, o.Dialect = db.DB, db.Dialect
	if o.Resources == nil {
		o.Resources = notes
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "test"
	}
	if o.Keyring == nil && !o.Development {
		o.Keyring = keyring(t)
	}
	if o.AdminToken == "" {
		o.AdminToken = adminToken
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := stack.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, s: s, h: s.Handler(), db: db}
}

type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) data() map[string]any { d, _ := a.body["data"].(map[string]any); return d }

func (a answer) str(k string) string { v, _ := a.data()[k].(string); return v }

// call serves a request on h; headers are name/value pairs.
func call(t *testing.T, h http.Handler, method, target, body string, headers ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
			t.Fatalf("%s %s: not JSON: %d %q", method, target, rec.Code, rec.Body.String())
		}
	}
	return a
}

func (e *env) admin(method, path, body string) answer {
	e.t.Helper()
	return call(e.t, e.h, method, "/admin"+path, body, "Authorization", "Bearer "+adminToken)
}

// tenant creates an enabled organization and a key with scopes.
func (e *env) tenant(scopes ...string) (org, key, keyID string) {
	e.t.Helper()
	r := e.admin("POST", "/orgs", `{"name":"Org"}`)
	if r.code != 201 {
		e.t.Fatalf("create org: %d %s", r.code, r.raw)
	}
	org = r.str("id")
	if r := e.admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`); r.code != 200 {
		e.t.Fatalf("enable org: %d %s", r.code, r.raw)
	}
	b, _ := json.Marshal(map[string]any{"name": "k", "scopes": scopes})
	r = e.admin("POST", "/orgs/"+org+"/api-keys", string(b))
	if r.code != 201 {
		e.t.Fatalf("create key: %d %s", r.code, r.raw)
	}
	return org, r.str("key"), r.str("id")
}

func (e *env) key(key, method, target, body string) answer {
	e.t.Helper()
	return call(e.t, e.h, method, target, body, "Authorization", "Bearer "+key)
}

// auditOf polls the key's audit log until it holds n entries.
func (e *env) auditOf(org, keyID string, n int) []map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.admin("GET", "/orgs/"+org+"/api-keys/"+keyID+"/audit", "")
		raw, _ := r.body["data"].([]any)
		if len(raw) >= n || time.Now().After(deadline) {
			out := make([]map[string]any, len(raw))
			for i, v := range raw {
				out[i], _ = v.(map[string]any)
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eachBackend runs fn on SQLite, on PostgreSQL, and on SQLite with Redis.
func eachBackend(t *testing.T, fn func(t *testing.T, db dbtest.DB, o stack.Options)) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		fn(t, db, stack.Options{})
	})
	t.Run("sqlite+redis", func(t *testing.T) {
		t.Parallel()
		client := dbtest.Redis(t)
		fn(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite},
			stack.Options{Redis: client, RedisPrefix: dbtest.Prefix(t)})
	})
}

func TestPublicAPI(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, db dbtest.DB, o stack.Options) {
		e := newEnv(t, db, o)
		org, key, keyID := e.tenant("notes:read", "notes:create")
		r := e.key(key, "POST", "/v1/notes", `{"title":"one"}`)
		if r.code != 201 || r.header.Get("Location") != "/v1/notes/"+r.str("id") {
			t.Fatalf("create: %d %s %v", r.code, r.raw, r.header)
		}
		for range 2 {
			e.key(key, "POST", "/v1/notes", `{"title":"more"}`)
		}
		// Cursors are on: the keyring signs them.
		r = e.key(key, "GET", "/v1/notes?limit=2", "")
		if next, _ := r.body["next_cursor"].(string); r.code != 200 || next == "" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
			t.Fatalf("list: %d %s", r.code, r.raw)
		}
		if r := e.key(key, "GET", "/v1/whoami", ""); r.code != 200 || r.str("organization_id") != org || r.str("key_id") != keyID {
			t.Fatalf("whoami: %d %s", r.code, r.raw)
		}
		if r := e.key(key, "GET", "/v1/openapi.json", ""); r.code != 200 || r.body["openapi"] != "3.1.0" {
			t.Fatalf("openapi: %d", r.code)
		}
		// Nothing answers in plain text, and every error has a request id.
		for _, p := range []string{"/", "/nothing", "/v1", "/v1//notes", "/admin//orgs", "/admin%2forgs", "/admin/nothing"} {
			r := call(t, e.h, "GET", p, "", "Authorization", "Bearer "+adminToken)
			if r.code != 404 && r.code != 401 || r.body["request_id"] == "" || r.header.Get("X-Request-Id") == "" {
				t.Errorf("GET %s: %d %s", p, r.code, r.raw)
			}
		}
		if r := call(t, e.h, "POST", "/healthz", ""); r.code != 405 {
			t.Errorf("POST /healthz: %d %s", r.code, r.raw)
		}
		entries := e.auditOf(org, keyID, 6)
		if len(entries) != 6 || entries[0]["route"] != "/v1/openapi.json" {
			t.Fatalf("audit: %v", entries)
		}
	})
}

func TestKeyringRequired(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	base := stack.Options{DB: db, Resources: notes, KeyPrefix: "test", CreateTables: true, Logger: slog.New(slog.DiscardHandler)}
	cases := []struct {
		name string
		edit func(*stack.Options)
		want []string // in the error; none means New succeeds
	}{
		{"cursors", func(*stack.Options) {}, []string{"Keyring", "list cursors"}},
		{"cursors and webhooks", func(o *stack.Options) { o.Webhooks = true }, []string{"list cursors", "webhook signing secrets"}},
		{"webhooks", func(o *stack.Options) { o.Webhooks, o.DisableCursors, o.DisableIdempotency = true, true, true }, []string{"webhook signing secrets"}},
		{"idempotency", func(o *stack.Options) { o.DisableCursors = true }, []string{"idempotent replays"}},
		{"nothing needs it", func(o *stack.Options) { o.DisableCursors, o.DisableIdempotency = true, true }, nil},
		{"development", func(o *stack.Options) { o.Webhooks, o.Development = true, true }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			s, err := stack.New(context.Background(), o)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				return
			}
			if err == nil {
				t.Fatal("New succeeded without a keyring")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "webhook") != o.Webhooks {
				t.Errorf("error %q names a feature that is off", err)
			}
		})
	}
}

// TestDevelopmentKeyring: development mode generates one keyring and
// keeps it in the database, so a restart accepts the old cursors.
func TestDevelopmentKeyring(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	var rings []string
	for range 2 {
		s, err := stack.New(context.Background(), stack.Options{DB: db, Resources: notes, KeyPrefix: "test", Development: true, CreateTables: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rings = append(rings, s.Keyring().Format())
		_ = s.Close()
	}
	if rings[0] != rings[1] {
		t.Fatal("development keyring changed across restarts")
	}
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	k := keyring(t)
	cases := []struct {
		name string
		o    stack.Options
		want string
	}{
		{"no database", stack.Options{KeyPrefix: "xy"}, "DB or Options.DatabaseURL"},
		{"no key prefix", stack.Options{DB: db}, "KeyPrefix"},
		{"short admin token", stack.Options{DB: db, KeyPrefix: "xy", AdminToken: "short"}, "AdminToken"},
		{"public URL with slash", stack.Options{DB: db, KeyPrefix: "xy", PublicURL: "https://a.example/"}, "PublicURL"},
		{"relative public URL", stack.Options{DB: db, KeyPrefix: "xy", PublicURL: "/api"}, "PublicURL"},
		{"bad redis URL", stack.Options{DB: db, KeyPrefix: "xy", RedisURL: "http://x"}, "Redis URL"},
		{"bad resource", stack.Options{DB: db, KeyPrefix: "xy", Keyring: k, Resources: []resource.Resource{{Name: "Bad Name"}}}, "resource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Logger = slog.New(slog.DiscardHandler)
			_, err := stack.New(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{})
	r := call(t, e.h, "GET", "/healthz", "")
	if r.code != 200 || r.raw != `{"status":"ok"}`+"\n" && r.raw != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %q", r.code, r.raw)
	}
	if r := call(t, e.h, "GET", "/admin/health", ""); r.code != 401 {
		t.Fatalf("details without the token: %d %s", r.code, r.raw)
	}
	d := e.admin("GET", "/health", "")
	if d.code != 200 || d.data()["status"] != "ok" || !strings.Contains(d.raw, `"dialect":"sqlite"`) {
		t.Fatalf("details: %d %s", d.code, d.raw)
	}
	// The database goes away: 503, still without naming it.
	_ = db.DB.Close()
	r = call(t, e.h, "GET", "/healthz", "")
	if r.code != 503 || r.body["status"] != "degraded" || strings.Contains(r.raw, "sqlite") {
		t.Fatalf("healthz with the database down: %d %s", r.code, r.raw)
	}
}

// TestHealthRedisDown: with Redis unreachable the API keeps answering
// (fallback limits) and health says degraded, 200.
func TestHealthRedisDown(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	s, err := stack.OpenRedis("redis://127.0.0.1:1/0?dial_timeout=50ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := newEnv(t, db, stack.Options{Redis: s})
	_, key, _ := e.tenant("notes:read")
	for range 10 { // enough failures to open the limiter's breaker
		if r := e.key(key, "GET", "/v1/notes", ""); r.code != 200 {
			t.Fatalf("with Redis down: %d %s", r.code, r.raw)
		}
	}
	if r := call(t, e.h, "GET", "/healthz", ""); r.code != 200 || r.body["status"] != "degraded" {
		t.Fatalf("healthz: %d %s", r.code, r.raw)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{PublicURL: "https://example.com/developer"})
	_, key, _ := e.tenant("notes:read", "notes:create")
	// The host mounts the public handler under /developer.
	mux := http.NewServeMux()
	mux.Handle("/developer/", http.StripPrefix("/developer", e.s.Public()))
	r := call(t, mux, "POST", "/developer/v1/notes", `{"title":"x"}`, "Authorization", "Bearer "+key)
	if r.code != 201 || r.header.Get("Location") != "https://example.com/developer/v1/notes/"+r.str("id") {
		t.Fatalf("create: %d %v", r.code, r.header)
	}
	call(t, mux, "POST", "/developer/v1/notes", `{"title":"y"}`, "Authorization", "Bearer "+key)
	r = call(t, mux, "GET", "/developer/v1/notes?limit=1", "", "Authorization", "Bearer "+key)
	if !strings.HasPrefix(r.header.Get("Link"), "<https://example.com/developer/v1/notes?limit=1&cursor=") {
		t.Fatalf("Link %q", r.header.Get("Link"))
	}
	doc := call(t, mux, "GET", "/developer/v1/openapi.json", "", "Authorization", "Bearer "+key)
	servers, _ := doc.body["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["url"] != "https://example.com/developer" {
		t.Fatalf("servers %v", doc.body["servers"])
	}
}

// TestRevocationCascade: revoking a key through the admin API disables
// its webhook subscriptions and reaches the key cache at once.
func TestRevocationCascade(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{Webhooks: true, Webhook: webhook.Options{AllowLoopback: true, AllowHTTP: true, AllowAnyPort: true}})
	org, key, keyID := e.tenant("notes:read", "webhooks:manage")
	r := e.key(key, "POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/x","events":["note.created"]}`)
	if r.code != 201 {
		t.Fatalf("subscribe: %d %s", r.code, r.raw)
	}
	hook := r.str("id")
	e.admin("POST", "/orgs/"+org+"/api-keys/"+keyID+"/revoke", "")
	if r := e.key(key, "GET", "/v1/notes", ""); r.code != 401 {
		t.Fatalf("revoked key: %d", r.code)
	}
	if r := e.admin("GET", "/orgs/"+org+"/webhooks/"+hook, ""); r.code != 200 || r.data()["enabled"] != false {
		t.Fatalf("subscription after revocation: %d %s", r.code, r.raw)
	}
}

// TestRunStopsTogether: Run returns once ctx ends, after every loop has
// stopped, and flushes the audit entries it holds.
func TestRunStopsTogether(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	if _, err := db.Exec(notesTable(tenancy.SQLite)); err != nil {
		t.Fatal(err)
	}
	s, err := stack.New(context.Background(), stack.Options{DB: db, Resources: notes, KeyPrefix: "test", Keyring: keyring(t),
		AdminToken: adminToken, Webhooks: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := s.DemoKey(context.Background(), "00000000-0000-4000-8000-000000000001", "Demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	h := s.Handler()
	if r := call(t, h, "GET", "/v1/notes", "", "Authorization", "Bearer "+raw.Reveal()); r.code != 200 {
		t.Fatalf("demo key: %d %s", r.code, r.raw)
	}
	cancel()
	wg.Wait()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM gatehouse_audit").Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows after Run returned: %d %v", n, err)
	}
}

// TestDemoKeyScopes: the demo key has every scope, Protect's included.
func TestDemoKeyScopes(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{})
	e.s.Protect("orders:read", http.NotFoundHandler())
	raw, err := e.s.DemoKey(context.Background(), "00000000-0000-4000-8000-000000000001", "Demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, e.h, "GET", "/v1/whoami", "", "Authorization", "Bearer "+raw.Reveal())
	if !strings.Contains(r.raw, `"orders:read"`) || !strings.Contains(r.raw, `"notes:create"`) {
		t.Fatalf("whoami %s", r.raw)
	}
}

// TestStartupCheck: New checks the declared resources against the live
// schema (every mismatch in one error) unless SkipCheck; CreateTables runs
// Tables and creates the resources' tables, which then pass the check.
func TestStartupCheck(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		withRef := []resource.Resource{{Name: "notes", Fields: []resource.Field{
			{Name: "title", Type: resource.String, Required: true},
			{Name: "kind_id", Type: resource.UUID, References: "note_kinds"},
		}}}
		o := stack.Options{DB: db.DB, Dialect: db.Dialect, Resources: withRef, KeyPrefix: "test", Keyring: keyring(t), Logger: slog.New(slog.DiscardHandler)}
		_, err := stack.New(context.Background(), o)
		var se *resource.SchemaError
		if !errors.As(err, &se) || len(se.Problems) != 2 || !strings.Contains(err.Error(), "SkipCheck") {
			t.Fatalf("New without tables: %v", err)
		}
		skip := o
		skip.SkipCheck = true
		s, err := stack.New(context.Background(), skip)
		if err != nil {
			t.Fatalf("SkipCheck: %v", err)
		}
		_ = s.Close()
		o.CreateTables = true
		o.Tables = []string{"CREATE TABLE IF NOT EXISTS note_kinds (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL)"}
		for range 2 { // idempotent
			s, err := stack.New(context.Background(), o)
			if err != nil {
				t.Fatalf("CreateTables: %v", err)
			}
			_ = s.Close()
		}
	})
}
