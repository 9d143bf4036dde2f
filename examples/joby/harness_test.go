package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

const testAdminToken = "test-admin-token-0123456789abcdefghijklmnopqrstuvwxyz"

// testPublicURL is the Actions document's servers URL in the tests.
const testPublicURL = "https://127.0.0.1:8080"

// api is the example's own handler with helpers to call it.
type api struct {
	t       testing.TB
	app     *stack.Stack
	h       http.Handler
	logs    *syncBuffer
	path    string // SQLite file, if any
	db      *sql.DB
	dialect tenancy.Dialect
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func newAPI(t testing.TB, dbURL string) *api {
	t.Helper()
	return newAPIWith(t, stack.Options{DatabaseURL: dbURL})
}

// newAPIWith builds the example from cfg (the admin token and a capturing
// logger are filled in).
func newAPIWith(t testing.TB, cfg stack.Options) *api {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.AdminToken = testAdminToken
	if cfg.Keyring == nil {
		cfg.Keyring = testKeyring(t)
	}
	a, err := newApp(context.Background(), cfg, testPublicURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = a.Close()
	})
	db, dialect := a.DB()
	return &api{t: t, app: a, h: a.Handler(), logs: logs, db: db, dialect: dialect}
}

// loopbackWebhooks lets webhooks reach the tests' receivers on
// http://127.0.0.1:<any port>.
var loopbackWebhooks = webhook.Options{AllowLoopback: true, AllowHTTP: true, AllowAnyPort: true}

// testKeyring is what GATEHOUSE_SECRET_KEYS gives a deployment.
func testKeyring(t testing.TB) *gatehouse.Keyring {
	k, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sqliteAPI(t testing.TB) *api {
	path := filepath.Join(t.TempDir(), "joby.db")
	a := newAPI(t, path)
	a.path = path
	return a
}

// redisAPI is the example on SQLite with its limiter and audit log on the
// test Redis.
func redisAPI(t testing.TB) *api {
	dbtest.Redis(t) // skip or fail when Redis is unreachable
	path := filepath.Join(t.TempDir(), "joby.db")
	// A generous Redis timeout, as for the pods: on a loaded machine a 50 ms
	// call can time out and fall back to the per-pod limit, which the
	// limiter's own fault tests cover (TestRateLimit/redis failed so once).
	a := newAPIWith(t, stack.Options{DatabaseURL: path, RedisURL: "redis://" + dbtest.RedisAddr(), Limiter: redislimit.Options{Timeout: 2 * time.Second}})
	a.path = path
	return a
}

// eachBackend runs fn with the in-process limiter and audit log and with the
// Redis ones.
func eachBackend(t *testing.T, fn func(t *testing.T, a *api)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		fn(t, sqliteAPI(t))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		fn(t, redisAPI(t))
	})
}

// eachDB runs fn against the example on SQLite and on PostgreSQL.
func eachDB(t *testing.T, fn func(t *testing.T, a *api)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, sqliteAPI(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, newAPI(t, dbtest.PostgresSchemaURL(t)))
	})
}

type resp struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r resp) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (r resp) list() []map[string]any {
	raw, _ := r.Body["data"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, v := range raw {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

func (r resp) str(k string) string {
	s, _ := r.data()[k].(string)
	return s
}

// do sends a request; headers are name/value pairs.
func (a *api) do(method, path, body string, headers ...string) resp {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.10:5555"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	out := resp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil {
		a.t.Fatalf("%s %s: answer is not JSON: %d %q", method, path, rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	// A replayed idempotent answer keeps the original request_id in its
	// body; its X-Request-Id header is the replay's own.
	if (strings.HasPrefix(path, "/v1") || strings.HasPrefix(path, "/admin")) && rec.Header().Get("Idempotent-Replayed") != "true" {
		id, _ := out.Body["request_id"].(string)
		if id == "" || rec.Header().Get("X-Request-Id") != id {
			a.t.Fatalf("%s %s: request_id %q, X-Request-Id %q", method, path, id, rec.Header().Get("X-Request-Id"))
		}
	}
	return out
}

func (a *api) admin(method, path, body string) resp {
	a.t.Helper()
	return a.do(method, "/admin"+path, body, "Authorization", "Bearer "+testAdminToken)
}

// key calls the API with the key in the Authorization header.
func (a *api) key(key, method, path, body string) resp {
	a.t.Helper()
	return a.do(method, path, body, "Authorization", "Bearer "+key)
}

func (a *api) newOrg(enabled bool) string {
	a.t.Helper()
	r := a.admin("POST", "/orgs", `{"name":"Org"}`)
	if r.Code != 201 {
		a.t.Fatalf("create org: %d %s", r.Code, r.Raw)
	}
	id := r.str("id")
	if enabled {
		if r := a.admin("PATCH", "/orgs/"+id, `{"api_enabled":true}`); r.Code != 200 {
			a.t.Fatalf("enable org: %d %s", r.Code, r.Raw)
		}
	}
	return id
}

var allScopes = `["leads:read","leads:create","leads:update","clients:read","clients:create","clients:update",` +
	`"appointments:read","appointments:create","appointments:update","tasks:read","tasks:create","tasks:update"]`

// newKey creates a key in org; body defaults to every scope.
func (a *api) newKey(org, body string) (raw, id string) {
	a.t.Helper()
	if body == "" {
		body = `{"name":"test","scopes":` + allScopes + `}`
	}
	r := a.admin("POST", "/orgs/"+org+"/api-keys", body)
	if r.Code != 201 {
		a.t.Fatalf("create key: %d %s", r.Code, r.Raw)
	}
	return r.str("key"), r.str("id")
}

// tenant is an enabled organization with a full-scope key.
func (a *api) tenant() (org, key, keyID string) {
	org = a.newOrg(true)
	key, keyID = a.newKey(org, "")
	return org, key, keyID
}

func (a *api) create(key, res, body string) map[string]any {
	a.t.Helper()
	r := a.key(key, "POST", "/v1/"+res, body)
	if r.Code != 201 {
		a.t.Fatalf("create %s: %d %s", res, r.Code, r.Raw)
	}
	return r.data()
}

// auditOf polls the key's audit log until cond holds (the log may lag).
func (a *api) auditOf(org, keyID string, cond func([]map[string]any) bool) []map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := a.admin("GET", "/orgs/"+org+"/api-keys/"+keyID+"/audit", "")
		if r.Code != 200 {
			a.t.Fatalf("audit: %d %s", r.Code, r.Raw)
		}
		l := r.list()
		if cond(l) || time.Now().After(deadline) {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errText(r resp) string { s, _ := r.Body["error"].(string); return s }

func fieldsOf(r resp) string { return fmt.Sprint(r.Body["fields"]) }
