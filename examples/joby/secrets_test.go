package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// TestNoSecretAtRest (issue 13, "the webhook signing secret is stored in
// plain text and replayed"): every route of the example is exercised, the
// secret-bearing writes with Idempotency-Key and replayed; then the SQLite
// file, every PostgreSQL table of the test's schema and every Redis key of
// the library's prefix are searched for "whsec_" and for each raw API key
// and signing secret the API handed out: none is there. Answers carrying a
// secret, replays included, send Cache-Control: no-store.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	t.Run("sqlite+redis", func(t *testing.T) {
		t.Parallel()
		dbtest.Redis(t)
		path := filepath.Join(t.TempDir(), "joby.db")
		a := newAPIWith(t, stack.Options{DatabaseURL: path, RedisURL: "redis://" + dbtest.RedisAddr(), Webhook: loopbackWebhooks})
		a.path = path
		secrets, org := exerciseEveryRoute(t, a)
		checkAtRest(t, a, secrets, org)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		a := newAPIWith(t, stack.Options{DatabaseURL: dbtest.PostgresSchemaURL(t), Webhook: loopbackWebhooks})
		secrets, org := exerciseEveryRoute(t, a)
		checkAtRest(t, a, secrets, org)
	})
}

// exerciseEveryRoute calls every admin and /v1 route once or more and
// returns the secrets the answers revealed.
func exerciseEveryRoute(t *testing.T, a *api) (secrets []string, org string) {
	t.Helper()
	noStore := func(what string, r resp) {
		t.Helper()
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", what, r.Header.Get("Cache-Control"))
		}
	}
	ok := func(what string, r resp, codes ...int) resp {
		t.Helper()
		for _, c := range codes {
			if r.Code == c {
				return r
			}
		}
		t.Fatalf("%s: %d %s", what, r.Code, r.Raw)
		return r
	}
	org = ok("create org", a.admin("POST", "/orgs", `{"name":"Org"}`), 201).str("id")
	ok("list orgs", a.admin("GET", "/orgs", ""), 200)
	ok("get org", a.admin("GET", "/orgs/"+org, ""), 200)
	ok("enable org", a.admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`), 200)
	scopes := strings.TrimSuffix(allScopes, "]") + `,"webhooks:manage"]`
	k := ok("create key", a.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":`+scopes+`}`), 201)
	noStore("create key", k)
	key, keyID := k.str("key"), k.str("id")
	secrets = append(secrets, key)
	keyPath := "/orgs/" + org + "/api-keys/" + keyID
	ok("list keys", a.admin("GET", "/orgs/"+org+"/api-keys", ""), 200)
	ok("get key", a.admin("GET", keyPath, ""), 200)
	ok("patch key", a.admin("PATCH", keyPath, `{"name":"k2"}`), 200)
	other := ok("create key", a.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"o","scopes":["leads:read"]}`), 201)
	secrets = append(secrets, other.str("key"))
	rot := ok("rotate key", a.admin("POST", "/orgs/"+org+"/api-keys/"+other.str("id")+"/rotate", `{}`), 200, 201)
	noStore("rotate key", rot)
	if s := rot.str("key"); s != "" {
		secrets = append(secrets, s)
	}
	ok("revoke key", a.admin("POST", "/orgs/"+org+"/api-keys/"+other.str("id")+"/revoke", ""), 200)

	// The public API: every resource route, writes with Idempotency-Key
	// and each write replayed once.
	idem := 0
	write := func(method, path, body string, codes ...int) resp {
		t.Helper()
		idem++
		hk := fmt.Sprintf("idem-%d", idem)
		r := ok(method+" "+path, a.do(method, path, body, "Authorization", "Bearer "+key, "Idempotency-Key", hk), codes...)
		again := a.do(method, path, body, "Authorization", "Bearer "+key, "Idempotency-Key", hk)
		if again.Code != r.Code || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s %s replay: %d %s", method, path, again.Code, again.Raw)
		}
		if r.Header.Get("Cache-Control") != again.Header.Get("Cache-Control") {
			t.Errorf("%s %s: replay Cache-Control %q, first %q", method, path, again.Header.Get("Cache-Control"), r.Header.Get("Cache-Control"))
		}
		return r
	}
	for _, res := range a.app.Registry().Resources() {
		body := map[string]string{
			"leads": `{"first_name":"Ann"}`, "clients": `{"first_name":"Cy"}`, "tasks": `{"title":"t"}`,
		}[res.Name]
		if body == "" {
			continue // needs references; appointments are covered below
		}
		created := write("POST", "/v1/"+res.Name, body, 201)
		ok("list "+res.Name, a.key(key, "GET", "/v1/"+res.Name, ""), 200)
		ok("get "+res.Name, a.key(key, "GET", "/v1/"+res.Name+"/"+created.str("id"), ""), 200)
		write("PATCH", "/v1/"+res.Name+"/"+created.str("id"), body, 200)
	}
	for _, route := range a.app.Registry().Routes() {
		if route.Method == http.MethodGet && !strings.Contains(route.Path, "{") && !strings.HasSuffix(route.Path, ".json") {
			ok("GET "+route.Path, a.key(key, "GET", route.Path, ""), 200)
		}
	}
	wh := write("POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/hook","events":["lead.created"]}`, 201)
	noStore("public webhook create", wh)
	secrets = append(secrets, wh.str("secret"))
	whPath := "/v1/webhooks/" + wh.str("id")
	ok("get webhook", a.key(key, "GET", whPath, ""), 200)
	write("PATCH", whPath, `{"description":"d"}`, 200)
	ok("list webhooks", a.key(key, "GET", "/v1/webhooks", ""), 200)
	if c := a.rawDelete(whPath, "Bearer "+key); c != http.StatusNoContent {
		t.Fatalf("delete webhook: %d", c)
	}

	base := "/orgs/" + org + "/webhooks"
	awh := ok("admin webhook create", a.admin("POST", base, `{"target_url":"http://127.0.0.1:9/hook","events":["*"]}`), 201)
	noStore("admin webhook create", awh)
	secrets = append(secrets, awh.str("secret"))
	item := base + "/" + awh.str("id")
	ok("admin webhook list", a.admin("GET", base, ""), 200)
	ok("admin webhook get", a.admin("GET", item, ""), 200)
	ok("admin webhook patch", a.admin("PATCH", item, `{"description":"x"}`), 200)
	r := ok("admin webhook rotate", a.admin("POST", item+"/rotate-secret", `{"grace_period_seconds":60}`), 200)
	noStore("admin webhook rotate", r)
	secrets = append(secrets, r.str("secret"))
	write("POST", "/v1/leads", `{"first_name":"Event"}`, 201) // an event for the endpoint
	ok("admin webhook deliveries", a.admin("GET", item+"/deliveries", ""), 200)
	ok("key audit", a.admin("GET", keyPath+"/audit", ""), 200)
	ok("org events", a.admin("GET", "/orgs/"+org+"/events", ""), 200)
	if c := a.rawDelete("/admin"+item, "Bearer "+testAdminToken); c != http.StatusNoContent {
		t.Fatalf("admin webhook delete: %d", c)
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an answer did not reveal its secret")
		}
	}
	return secrets, org
}

// checkAtRest searches the example's database and Redis for the secrets.
func checkAtRest(t *testing.T, a *api, secrets []string, org string) {
	t.Helper()
	ctx := context.Background()
	db, dialect := a.app.DB()
	rdb := a.app.Redis()
	var rest strings.Builder
	if a.path != "" {
		if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(a.path + suffix)
			if err == nil {
				rest.Write(b)
			}
		}
	}
	if dialect == tenancy.Postgres {
		rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, n)
		}
		rows.Close()
		if len(tables) < 5 {
			t.Fatalf("tables %v", tables)
		}
		for _, tbl := range tables {
			rows, err := db.QueryContext(ctx, `SELECT t::text FROM `+tenancy.QuoteIdent(tbl)+` t`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				rest.WriteString(tbl + " " + s + "\n")
			}
			rows.Close()
		}
	}
	if rdb != nil {
		// The library's keys: rate limits under "gatehouse:", the audit
		// log (no prefix in the example) under "audit:".
		for _, pattern := range []string{"gatehouse:*", "audit:*"} {
			iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				if v, err := rdb.Dump(ctx, iter.Val()).Result(); err == nil {
					rest.WriteString(iter.Val() + " " + v + "\n")
				}
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := rest.String()
	if !strings.Contains(at, org) {
		t.Fatalf("the organization %s is not in what was searched (%d bytes)", org, len(at))
	}
	// PostgreSQL renders bytea columns (the idempotency bodies) in hex:
	// look for both spellings.
	found := func(needle string) bool {
		return strings.Contains(at, needle) || strings.Contains(at, hex.EncodeToString([]byte(needle)))
	}
	if found("whsec_") {
		t.Errorf("whsec_ at rest")
	}
	for _, s := range secrets {
		if found(s[strings.LastIndexByte(s, '_')+1:]) { // the random part
			t.Errorf("a secret handed out by the API (%.12s…) is at rest", s)
		}
	}
}

// rawDelete sends a DELETE whose answer (204) has no body.
func (a *api) rawDelete(path, authorization string) int {
	req := httptest.NewRequest(http.MethodDelete, path, nil)
	req.RemoteAddr = "192.0.2.10:5555"
	req.Header.Set("Authorization", authorization)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec.Code
}
