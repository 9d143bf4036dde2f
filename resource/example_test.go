package resource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
)

var uuids = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func Example() {
	dir, _ := os.MkdirTemp("", "resource-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	// The service's own table; the registry never alters it.
	_, _ = db.ExecContext(ctx, `CREATE TABLE leads (
		id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, lead_number INTEGER NOT NULL,
		first_name TEXT, email TEXT, status TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)

	reg, err := resource.New(resource.Options{
		DB:  db,
		Now: func() time.Time { return time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC) },
		Resources: []resource.Resource{{
			Name: "leads",
			Fields: []resource.Field{
				{Name: "lead_number", Sequence: true},
				{Name: "first_name", Required: true},
				{Name: "email", Type: resource.Email},
				{Name: "status"},
			},
			Filters: []string{"id", "lead_number", "status", "email"},
			Search:  []string{"first_name", "email"},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Migrate(ctx); err != nil { // gatehouse_sequences only
		fmt.Println(err)
		return
	}

	// In production the auth middleware puts the key's organization and
	// scopes into the context; here we do it by hand.
	caller := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: "org-acme", Scopes: []string{"leads:create", "leads:read"}})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	h := gatehouse.RequestID(caller(reg))
	send := func(method, target, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		out := uuids.ReplaceAllString(strings.TrimSpace(rec.Body.String()), "<uuid>") // ids are random
		fmt.Println(rec.Code, out)
	}
	send("POST", "/v1/leads", `{"first_name":"Ann","email":"ann@example.com","status":"New"}`)
	send("POST", "/v1/leads", `{"first_name":"Bob","email":"Bob <bob@example.com>"}`)
	send("POST", "/v1/leads", `{"first_name":"Bob","lead_number":7}`)
	send("GET", "/v1/leads?q=ANN&limit=5000", "")
	send("GET", "/v1/leads?colour=red", "")
	send("PATCH", "/v1/leads", "")
	send("DELETE", "/v1/leads/00000000-0000-4000-8000-000000000000", "")
	send("GET", "/v1/invoices", "")
	send("PATCH", "/v1/leads/00000000-0000-4000-8000-000000000000", `{"status":"Won"}`)
	// Output:
	// 201 {"data":{"id":"<uuid>","lead_number":1,"first_name":"Ann","email":"ann@example.com","status":"New","organization_id":"org-acme","created_at":"2026-07-20T10:00:00Z","updated_at":"2026-07-20T10:00:00Z"},"request_id":"<uuid>"}
	// 400 {"details":[{"field":"email","message":"must be an email address without a display name"}],"error":"Invalid field values","fields":["email"],"request_id":"<uuid>"}
	// 400 {"error":"Unsupported or protected fields","fields":["lead_number"],"request_id":"<uuid>"}
	// 200 {"data":[{"id":"<uuid>","lead_number":1,"first_name":"Ann","email":"ann@example.com","status":"New","organization_id":"org-acme","created_at":"2026-07-20T10:00:00Z","updated_at":"2026-07-20T10:00:00Z"}],"limit":1000,"offset":0,"has_more":false,"next_cursor":null,"request_id":"<uuid>"}
	// 400 {"error":"Unsupported filters","fields":["colour"],"request_id":"<uuid>"}
	// 405 {"error":"Method not allowed","request_id":"<uuid>"}
	// 405 {"error":"Method not allowed","request_id":"<uuid>"}
	// 404 {"error":"Unsupported resource","request_id":"<uuid>"}
	// 403 {"error":"Missing scope","request_id":"<uuid>","required_scope":"leads:update"}
}

// Paging with cursors: each page's next_cursor (also in the Link header)
// continues after its last row; the last page has has_more false and
// next_cursor null.
func Example_cursor() {
	dir, _ := os.MkdirTemp("", "resource-cursor")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		body TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	// All pods share the keyring (e.g. from GATEHOUSE_SECRET_KEYS).
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("2026-07"))
	if err != nil {
		fmt.Println(err)
		return
	}
	t := time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC)
	reg, err := resource.New(resource.Options{
		DB:        db,
		Now:       func() time.Time { t = t.Add(time.Second); return t }, // one request at a time here
		Keyring:   keyring,
		Resources: []resource.Resource{{Name: "notes", Fields: []resource.Field{{Name: "body"}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.ServeHTTP(w, r.WithContext(gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: "org-acme", Scopes: []string{"notes:create", "notes:read"}})))
	}))
	for i := range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/notes", strings.NewReader(fmt.Sprintf(`{"body":"note %d"}`, i))))
	}
	target := "/v1/notes?limit=2"
	for target != "" {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		var page struct {
			Data       []struct{ Body string }
			HasMore    bool    `json:"has_more"`
			NextCursor *string `json:"next_cursor"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &page)
		fmt.Println(rec.Code, page.Data, "has_more:", page.HasMore, "Link:", rec.Header().Get("Link") != "")
		target = ""
		if page.NextCursor != nil {
			target = "/v1/notes?limit=2&cursor=" + *page.NextCursor
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/notes?limit=2&cursor=bm90LWEtY3Vyc29y", nil))
	fmt.Println(rec.Code, uuids.ReplaceAllString(strings.TrimSpace(rec.Body.String()), "<uuid>"))
	// Output:
	// 200 [{note 4} {note 3}] has_more: true Link: true
	// 200 [{note 2} {note 1}] has_more: true Link: true
	// 200 [{note 0}] has_more: false Link: false
	// 400 {"error":"Invalid cursor","request_id":"<uuid>"}
}

// An existing table as a service already has it: integer ids the database
// makes (bigserial on PostgreSQL, INTEGER PRIMARY KEY on SQLite), its own
// tenant column and timestamp names in Unix seconds, and a reference to a
// global lookup table without an organization column. Check compares the
// declaration with the live schema before serving.
func Example_existingTable() {
	dir, _ := os.MkdirTemp("", "resource-existing")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "shop.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE categories (category_id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
	_, _ = db.ExecContext(ctx, `INSERT INTO categories (name) VALUES ('Tools')`)
	_, _ = db.ExecContext(ctx, `CREATE TABLE products (
		product_id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL,
		category_id INTEGER REFERENCES categories, inserted_at INTEGER NOT NULL, modified_at INTEGER NOT NULL)`)

	reg, err := resource.New(resource.Options{
		DB:  db,
		Now: func() time.Time { return time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC) },
		Resources: []resource.Resource{{
			Name:      "products",
			IDColumn:  "product_id",
			IDType:    resource.IDInteger,
			OrgColumn: "tenant_id",
			Created:   resource.Timestamp{Column: "inserted_at", Format: resource.TimeUnix},
			Updated:   resource.Timestamp{Column: "modified_at", Format: resource.TimeUnix},
			Fields: []resource.Field{
				{Name: "name", Required: true},
				{Name: "category_id", Type: resource.Integer, References: "categories",
					ReferenceColumn: "category_id", GlobalReference: true},
			},
			Filters: []string{"id", "category_id"},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := reg.Check(ctx); err != nil { // at startup: every mismatch in one error
		fmt.Println(err)
		return
	}
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.ServeHTTP(w, r.WithContext(gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: "42", Scopes: []string{"products:create", "products:read"}})))
	}))
	send := func(method, target, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		out := uuids.ReplaceAllString(strings.TrimSpace(rec.Body.String()), "<uuid>")
		fmt.Println(rec.Code, rec.Header().Get("Location"), out)
	}
	send("POST", "/v1/products", `{"name":"Hammer","category_id":1}`)
	send("POST", "/v1/products", `{"name":"Saw","category_id":2}`)
	send("GET", "/v1/products/1", "")
	send("GET", "/v1/products/01", "")
	// Output:
	// 201 /v1/products/1 {"data":{"id":1,"name":"Hammer","category_id":1,"organization_id":"42","created_at":"2026-07-20T10:00:00Z","updated_at":"2026-07-20T10:00:00Z"},"request_id":"<uuid>"}
	// 400  {"error":"Invalid foreign key","fields":["category_id"],"request_id":"<uuid>"}
	// 200  {"data":{"id":1,"name":"Hammer","category_id":1,"organization_id":"42","created_at":"2026-07-20T10:00:00Z","updated_at":"2026-07-20T10:00:00Z"},"request_id":"<uuid>"}
	// 404  {"error":"Not found","request_id":"<uuid>"}
}
