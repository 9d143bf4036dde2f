package resource_test

import (
	"context"
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
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
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
			ctx := tenancy.NewContext(r.Context(), "org-acme")
			ctx = scope.NewContext(ctx, scope.NewSet("leads:read", "leads:create"))
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
