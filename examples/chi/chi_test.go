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
	"gatehouse.dev/tenancy"
)

const adminToken = "chi-test-admin-token-0123456789abcdefghijklmnopqrstu"

// TestChi drives the chi service over HTTP on SQLite and PostgreSQL: the
// API under chi's Mount, and a protected chi route whose audit entries
// carry chi's pattern.
func TestChi(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ddl := notesTable
		if db.Dialect == tenancy.Postgres {
			ddl = `CREATE TABLE notes (id uuid PRIMARY KEY, organization_id uuid NOT NULL, title text NOT NULL,
				created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)`
		}
		if _, err := db.DB.Exec(ddl); err != nil {
			t.Fatal(err)
		}
		keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		api, h, err := newRouter(ctx, db.DB, keyring, adminToken)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = api.Run(runCtx) }()
		t.Cleanup(func() { stop(); <-done; _ = api.Close() })
		srv := httptest.NewServer(h)
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
		org := admin("POST", "/orgs", `{"name":"Org"}`)["id"].(string)
		admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`)
		k := admin("POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["notes:read","notes:create","orders:read"]}`)
		key, keyID := k["key"].(string), k["id"].(string)
		bearer := []string{"Authorization", "Bearer " + key, "Content-Type", "application/json"}

		code, hdr, out := call("POST", "/api/v1/notes", `{"title":"x"}`, bearer...)
		if d, _ := out["data"].(map[string]any); code != 201 || hdr.Get("Location") != "/api/v1/notes/"+d["id"].(string) {
			t.Fatalf("create: %d %v %v", code, out, hdr)
		}
		if code, _, out := call("GET", "/shop/orders/7", "", bearer...); code != 200 || out["order"] != "7" || out["organization"] != org {
			t.Fatalf("protected chi route: %d %v", code, out)
		}
		if code, _, _ := call("GET", "/shop/orders/7", ""); code != 401 {
			t.Fatalf("without a key: %d", code)
		}
		if code, _, _ := call("GET", "/api/nothing", "", bearer...); code != 404 {
			t.Fatalf("unknown path under the mount: %d", code)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, _, out := call("GET", "/admin/orgs/"+org+"/api-keys/"+keyID+"/audit", "", "Authorization", "Bearer "+adminToken)
			entries, _ := out["data"].([]any)
			if len(entries) >= 2 && entries[0].(map[string]any)["route"] == "/shop/orders/{id}" && entries[1].(map[string]any)["route"] == "/api/v1/notes" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit %v", entries)
			}
		}
	})
}
