package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
)

const adminToken = "existing-test-admin-token-0123456789abcdefghijklmnop"

// TestAdoption drives the adopted shop over HTTP on SQLite and PostgreSQL:
// integer ids and its own timestamp columns through the API, a global
// lookup table as a reference, its session page untouched, and its own
// handler behind API keys with the route pattern in the audit log.
func TestAdoption(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ctx := context.Background()
		svc, err := NewService(ctx, db.DB, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
		if err != nil {
			t.Fatal(err)
		}
		api, err := adopt(ctx, svc, keyring, adminToken)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = api.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-done; _ = api.Close() })
		srv := httptest.NewServer(svc.Mux)
		t.Cleanup(srv.Close)

		call := func(method, path, body string, headers ...string) (int, http.Header, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var out map[string]any
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("%s %s: not JSON: %d %s", method, path, res.StatusCode, b)
			}
			return res.StatusCode, res.Header, out
		}
		admin := func(method, path, body string) map[string]any {
			t.Helper()
			code, _, out := call(method, "/admin"+path, body, "Authorization", "Bearer "+adminToken)
			if code >= 300 {
				t.Fatalf("admin %s %s: %d %v", method, path, code, out)
			}
			d, _ := out["data"].(map[string]any)
			return d
		}
		// Tenants are the shop's bigint ids: given on creation, decimal in paths.
		org := admin("POST", "/orgs", `{"id":42,"name":"Shop tenant"}`)["id"].(string)
		if org != "42" {
			t.Fatalf("org id %q", org)
		}
		if code, _, out := call("POST", "/admin/orgs", `{"name":"no id"}`, "Authorization", "Bearer "+adminToken); code != 400 {
			t.Fatalf("org without an id: %d %v", code, out)
		}
		for _, bad := range []string{"abc", "007", "-1", "1.5"} {
			if code, _, out := call("GET", "/admin/orgs/"+bad, "", "Authorization", "Bearer "+adminToken); code != 400 || out["error"] != "Invalid organization id" {
				t.Fatalf("GET /admin/orgs/%s: %d %v", bad, code, out)
			}
		}
		if code, _, out := call("GET", "/admin/orgs/43", "", "Authorization", "Bearer "+adminToken); code != 404 {
			t.Fatalf("unknown org: %d %v", code, out)
		}
		admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`)
		k := admin("POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["products:read","products:create","reports:read"]}`)
		key, keyID := k["key"].(string), k["id"].(string)
		bearer := []string{"Authorization", "Bearer " + key, "Content-Type", "application/json"}

		code, h, out := call("POST", "/v1/products", `{"name":"Hammer","price_cents":1999,"category_id":1}`, bearer...)
		p, _ := out["data"].(map[string]any)
		id, isNumber := p["id"].(float64)
		if code != 201 || !isNumber || h.Get("Location") != "/v1/products/1" || p["created_at"] == nil {
			t.Fatalf("create: %d %v %v", code, out, h)
		}
		var n int
		if err := db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM products WHERE tenant_id = 42").Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows of tenant 42 (bigint): %d %v", n, err)
		}
		if code, _, out := call("POST", "/v1/products", `{"name":"Saw","category_id":999}`, bearer...); code != 400 || out["error"] != "Invalid foreign key" {
			t.Fatalf("unknown category: %d %v", code, out)
		}
		if code, _, out := call("GET", "/v1/products?category_id=1", "", bearer...); code != 200 || len(out["data"].([]any)) != 1 {
			t.Fatalf("list: %d %v", code, out)
		}
		// The shop's own handler, through an API key and through its session.
		path := "/reports/products/" + jsonNumber(id)
		if code, _, out := call("GET", path, "", bearer...); code != 200 || out["product"] != "Hammer" || out["category"] != "Tools" {
			t.Fatalf("protected report: %d %v", code, out)
		}
		if code, _, _ := call("GET", path, ""); code != 401 {
			t.Fatalf("report without a key: %d", code)
		}
		svc.Login("s1", org)
		if code, _, out := call("GET", "/app"+path, "", "Cookie", "session=s1"); code != 200 || out["product"] != "Hammer" {
			t.Fatalf("session page: %d %v", code, out)
		}
		// The audit log has the report's route pattern.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, _, out := call("GET", "/admin/orgs/"+org+"/api-keys/"+keyID+"/audit", "", "Authorization", "Bearer "+adminToken)
			entries, _ := out["data"].([]any)
			if len(entries) > 0 && entries[0].(map[string]any)["route"] == "/reports/products/{id}" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit %v", entries)
			}
		}
	})
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}
