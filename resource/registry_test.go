package resource_test

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// mockDB is a database that must never be queried.
func mockDB(t *testing.T) *sql.DB {
	t.Helper()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	})
	return db
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	one := func(r resource.Resource) []resource.Resource { return []resource.Resource{r} }
	leads := func(fields ...resource.Field) resource.Resource {
		return resource.Resource{Name: "leads", Fields: fields}
	}
	tests := []struct {
		name string
		opts resource.Options
		want string // substring of the error
	}{
		{"nil DB", resource.Options{Resources: one(leads())}, "DB is required"},
		{"nothing to serve", resource.Options{Dialect: tenancy.SQLite}, "no Resources"},
		{"undetectable dialect", resource.Options{Resources: one(leads())}, "dialect"},
		{"bad dialect", resource.Options{Dialect: 9, Resources: one(leads())}, "unknown dialect"},
		{"reserved schema", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "schema"})}, "reserved"},
		{"reserved whoami", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "whoami"})}, "reserved"},
		{"reserved webhooks", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "webhooks"})}, "reserved"},
		{"reserved openapi.json", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "openapi.json"})}, "reserved"},
		{"reserved graphql", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "graphql"})}, "reserved"},
		{"empty name", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{})}, "invalid resource name"},
		{"upper-case name", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "Leads"})}, "invalid resource name"},
		{"slash in name", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "a/b"})}, "invalid resource name"},
		{"dash name needs a table", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "job-types"})}, "invalid table name"},
		{"bad table", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Table: `x"; drop`})}, "invalid table name"},
		{"bad org column", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", OrgColumn: "org id"})}, "invalid column"},
		{"same org and id column", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", OrgColumn: "id"})}, "both"},
		{"duplicate resource", resource.Options{Dialect: tenancy.SQLite, Resources: []resource.Resource{leads(), leads()}}, "duplicate resource"},
		{"bad field name", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "First"}))}, "invalid field name"},
		{"empty field name", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{}))}, "invalid field name"},
		{"implicit field", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "created_at"}))}, "implicit"},
		{"implicit id", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "id"}))}, "implicit"},
		{"duplicate field", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a"}, resource.Field{Name: "a"}))}, "duplicate field"},
		{"duplicate column", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a"}, resource.Field{Name: "b", Column: "a"}))}, "used twice"},
		{"implicit column", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Column: "organization_id"}))}, "used twice"},
		{"bad column", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Column: "a b"}))}, "invalid column"},
		{"unknown type", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Type: "money"}))}, "unknown type"},
		{"string sequence", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Sequence: true, Type: resource.String}))}, "sequence"},
		{"required read-only", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Required: true, ReadOnly: true}))}, "read-only"},
		{"required protected", resource.Options{Dialect: tenancy.SQLite, Protected: []string{"auth_secret"}, Resources: one(leads(resource.Field{Name: "auth_secret", Required: true}))}, "protected"},
		{"required sequence", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "n", Sequence: true, Required: true}))}, "read-only"},
		{"max length on integer", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Type: resource.Integer, MaxLength: 5}))}, "MaxLength"},
		{"negative max length", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", MaxLength: -1}))}, "MaxLength"},
		{"boolean reference", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", Type: resource.Boolean, References: "clients"}))}, "a reference is a uuid, an integer or a string"},
		{"reference type against the target's ids", resource.Options{Dialect: tenancy.SQLite, Resources: []resource.Resource{
			{Name: "clients", IDType: resource.IDInteger},
			leads(resource.Field{Name: "client_id", Type: resource.UUID, References: "clients"}),
		}}, "clients has integer ids, so the reference must be of type integer"},
		{"reference column without reference", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", ReferenceColumn: "id"}))}, "without References"},
		{"global without reference", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", GlobalReference: true}))}, "without References"},
		{"bad reference column", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", References: "x", ReferenceColumn: "a b"}))}, "invalid ReferenceColumn"},
		{"unknown id type", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", IDType: "serial"})}, "unknown IDType"},
		{"text ids without NewID", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", IDType: resource.IDText})}, "text ids need NewID"},
		{"integer ids with NewID", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", IDType: resource.IDInteger,
			NewID: func(context.Context) (string, error) { return "1", nil }})}, "made by the database"},
		{"native time on SQLite", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Created: resource.Timestamp{Format: resource.TimeNative}})}, "native format is PostgreSQL's"},
		{"unknown time format", resource.Options{Dialect: tenancy.Postgres, Resources: one(resource.Resource{Name: "x", Updated: resource.Timestamp{Format: "iso"}})}, "unknown Format"},
		{"none with column", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Created: resource.Timestamp{None: true, Column: "c"}})}, "Created.None is set with a Column"},
		{"timestamp column twice", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Created: resource.Timestamp{Column: "at"}, Updated: resource.Timestamp{Column: "at"}})}, "column at is used twice"},
		{"timestamp column is a field", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Created: resource.Timestamp{Column: "at"}, Fields: []resource.Field{{Name: "at"}}})}, "column at is used twice"},
		{"timestamp column is the id", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Created: resource.Timestamp{Column: "id"}})}, "column id is used twice"},
		{"indexed filter not a filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "s"}}, IndexedFilters: []string{"s"}})}, "not in Filters"},
		{"indexed id filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Filters: []string{"id"}, IndexedFilters: []string{"id"}})}, "the id is unique"},
		{"duplicate indexed filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "s"}}, Filters: []string{"s"}, IndexedFilters: []string{"s", "s"}})}, "duplicate indexed filter"},
		{"bad reference table", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads(resource.Field{Name: "a", References: "a b"}))}, "referenced table"},
		{"unknown filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Filters: []string{"nope"}})}, "unknown filter"},
		{"duplicate filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Filters: []string{"id", "id"}})}, "duplicate filter"},
		{"object filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "o", Type: resource.JSONObject}}, Filters: []string{"o"}})}, "cannot be filtered"},
		{"reserved filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "limit", Type: resource.Integer}}, Filters: []string{"limit"}})}, "reserved"},
		{"implicit filter", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Filters: []string{"organization_id"}})}, "unknown filter"},
		{"unknown search", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Search: []string{"nope"}})}, "unknown search"},
		{"duplicate search", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "a"}}, Search: []string{"a", "a"}})}, "duplicate search"},
		{"integer search", resource.Options{Dialect: tenancy.SQLite, Resources: one(resource.Resource{Name: "x", Fields: []resource.Field{{Name: "a", Type: resource.Integer}}, Search: []string{"a"}})}, "must be string"},
		{"prefix without slash", resource.Options{Dialect: tenancy.SQLite, Prefix: "v1", Resources: one(leads())}, "invalid prefix"},
		{"prefix trailing slash", resource.Options{Dialect: tenancy.SQLite, Prefix: "/v1/", Resources: one(leads())}, "invalid prefix"},
		{"root prefix", resource.Options{Dialect: tenancy.SQLite, Prefix: "/", Resources: one(leads())}, "invalid prefix"},
		{"wildcard prefix", resource.Options{Dialect: tenancy.SQLite, Prefix: "/{v}", Resources: one(leads())}, "invalid prefix"},
		{"unclean prefix", resource.Options{Dialect: tenancy.SQLite, Prefix: "/a/../v1", Resources: one(leads())}, "invalid prefix"},
		{"limits", resource.Options{Dialect: tenancy.SQLite, Limits: resource.Limits{DefaultLimit: 100, MaxLimit: 10}, Resources: one(leads())}, "DefaultLimit"},
		{"nil middleware", resource.Options{Dialect: tenancy.SQLite, Middleware: []func(http.Handler) http.Handler{nil}, Resources: one(leads())}, "Middleware"},
		{"route method", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "get", Path: "/v1/whoami", Handler: ok}}}, "invalid method"},
		{"route without method", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Path: "/v1/whoami", Handler: ok}}}, "invalid method"},
		{"route handler", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/whoami"}}}, "nil Handler"},
		{"route outside prefix", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/whoami", Handler: ok}}}, "not a clean path"},
		{"route is prefix", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/", Handler: ok}}}, "not a clean path"},
		{"route unclean", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1//x", Handler: ok}}}, "not a clean path"},
		{"route on a resource", resource.Options{Dialect: tenancy.SQLite, Resources: one(leads()), Routes: []resource.Route{{Method: "GET", Path: "/v1/leads/{id}/notes", Handler: ok}}}, "served by the registry"},
		{"route on schema", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "DELETE", Path: "/v1/schema", Handler: ok}}}, "served by the registry"},
		{"route wildcard", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/{x}", Handler: ok}}}, "literal"},
		{"route duplicate", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/w", Handler: ok}, {Method: "GET", Path: "/v1/w", Handler: ok}}}, "duplicate route"},
		{"route bad pattern", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/w/{a", Handler: ok}}}, "routes"},
		{"route scope", resource.Options{Dialect: tenancy.SQLite, Routes: []resource.Route{{Method: "GET", Path: "/v1/w", Scope: "Bad", Handler: ok}}}, "invalid scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name != "nil DB" {
				tc.opts.DB = mockDB(t)
			}
			reg, err := resource.New(tc.opts)
			if err == nil || reg != nil {
				t.Fatalf("New = %v, %v; want an error", reg, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestRegistryAccessors(t *testing.T) {
	t.Parallel()
	in := testResources()
	reg, err := resource.New(resource.Options{
		DB: mockDB(t), Dialect: tenancy.Postgres, Resources: in,
		Routes: []resource.Route{{Method: "GET", Path: "/v1/whoami", Summary: "Who am I", Handler: http.NotFoundHandler()},
			{Method: "POST", Path: "/v1/webhooks", Scope: "webhooks:manage", Handler: http.NotFoundHandler()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sc := range reg.Scopes() {
		got = append(got, string(sc))
	}
	want := []string{"appointments:create", "appointments:read", "appointments:update", "clients:create", "clients:read", "clients:update",
		"leads:create", "leads:read", "leads:update", "tasks:create", "tasks:read", "tasks:update", "webhooks:manage"}
	if !slices.Equal(got, want) {
		t.Errorf("Scopes = %v", got)
	}
	res := reg.Resources()
	if len(res) != 4 || res[0].Singular != "lead" || res[0].Table != "leads" || res[0].OrgColumn != "organization_id" || res[0].IDColumn != "id" {
		t.Fatalf("Resources()[0] = %+v", res[0])
	}
	ln := res[0].Fields[0]
	if ln.Name != "lead_number" || ln.Type != resource.Integer || !ln.ReadOnly || ln.Column != "lead_number" {
		t.Errorf("lead_number = %+v", ln)
	}
	if f := res[0].Fields[1]; f.Type != resource.String || f.MaxLength != 255 {
		t.Errorf("first_name = %+v", f)
	}
	if f := res[0].Fields[7]; f.Name != "client_id" || f.Type != resource.UUID {
		t.Errorf("client_id = %+v", f)
	}
	// The view is a copy.
	res[0].Fields[1].Name = "mutated"
	res[0].Filters[0] = "mutated"
	if again := reg.Resources(); again[0].Fields[1].Name != "first_name" || again[0].Filters[0] != "id" {
		t.Error("Resources() shares memory with the registry")
	}
	if in[0].Fields[0].Type != "" {
		t.Error("New modified the caller's declarations")
	}
	if rs := reg.Routes(); len(rs) != 2 || rs[0].Summary != "Who am I" {
		t.Errorf("Routes = %+v", rs)
	}
	if reg.Prefix() != "/v1" || reg.Version() != "v1" || reg.Limits().MaxLimit != 1000 || reg.Limits().AuditLogSize != 0 || len(reg.Protected()) != 4 {
		t.Errorf("accessors: %s %s %+v %v", reg.Prefix(), reg.Version(), reg.Limits(), reg.Protected())
	}
	ddl := reg.IndexDDL()
	if len(ddl) != 4 || ddl[0] != `CREATE INDEX IF NOT EXISTS "leads_gatehouse_list_idx" ON "leads" ("organization_id", "created_at" DESC, "id" DESC)` ||
		!strings.Contains(ddl[2], `("org_id", "created_at" DESC, "id" DESC)`) {
		t.Errorf("IndexDDL = %q", ddl)
	}
}

func TestSingularDefaults(t *testing.T) {
	t.Parallel()
	reg, err := resource.New(resource.Options{DB: mockDB(t), Dialect: tenancy.SQLite, Resources: []resource.Resource{
		{Name: "s"}, {Name: "staff"}, {Name: "categories", Singular: "category"}, {Name: "job-types", Table: "job_types"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reg.Resources() {
		got = append(got, r.Singular)
	}
	if !slices.Equal(got, []string{"s", "staff", "category", "job-type"}) {
		t.Errorf("singulars %v", got)
	}
}

func TestRoutesAndMiddleware(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	var seen []string
	e := newEnv(t, db, func(o *resource.Options) {
		o.Prefix = "/api/v2"
		o.Version = "2026-03"
		o.Routes = []resource.Route{
			{Method: "GET", Path: "/api/v2/whoami", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				org, _ := tenancy.FromContext(r.Context())
				gatehouse.WriteData(w, r, 200, map[string]string{"organization_id": org})
			})},
			{Method: "POST", Path: "/api/v2/webhooks/{id}/ping", Scope: "webhooks:manage", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gatehouse.WriteData(w, r, 202, map[string]string{"id": r.PathValue("id")})
			})},
		}
		o.Middleware = []func(http.Handler) http.Handler{
			func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					seen = append(seen, r.Method+" "+gatehouse.RouteFromContext(r.Context()))
					w.Header().Set("X-Outer", "1")
					next.ServeHTTP(w, r)
				})
			},
		}
	})
	org := uuid.New()
	r := e.call("GET", "/api/v2/whoami", "", org, []string{})
	if r.Code != 200 || r.data()["organization_id"] != org || r.Route != "/api/v2/whoami" || r.Header.Get("X-Outer") != "1" {
		t.Errorf("whoami: %d %q %s", r.Code, r.Route, r.Raw)
	}
	r = e.do("DELETE", "/api/v2/whoami", "", org)
	wantError(t, r, 405, "Method not allowed")
	if r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	r = e.call("POST", "/api/v2/webhooks/abc/ping", "", org, []string{"leads:read"})
	wantError(t, r, 403, "Missing scope")
	if r.Body["required_scope"] != "webhooks:manage" {
		t.Errorf("required_scope %v", r.Body["required_scope"])
	}
	r = e.call("POST", "/api/v2/webhooks/abc/ping", "", org, []string{"webhooks:manage"})
	if r.Code != 202 || r.data()["id"] != "abc" || r.Route != "/api/v2/webhooks/{id}/ping" {
		t.Errorf("ping: %d %q %s", r.Code, r.Route, r.Raw)
	}
	wantError(t, e.do("GET", "/api/v2/webhooks/abc/ping", "", org), 405, "Method not allowed")
	wantError(t, e.do("GET", "/api/v2/webhooks", "", org), 404, "Unsupported resource")
	wantError(t, e.do("GET", "/v1/leads", "", org), 404, "Unsupported resource")
	if r := e.do("POST", "/api/v2/leads", `{}`, org); r.Code != 201 || !strings.HasPrefix(r.Header.Get("Location"), "/api/v2/leads/") || r.Header.Get("X-Outer") != "1" {
		t.Errorf("create under prefix: %d %v", r.Code, r.Header)
	}
	if r := e.do("GET", "/api/v2/schema", "", org); r.data()["version"] != "2026-03" {
		t.Errorf("schema version: %s", r.Raw)
	}
	// The middleware runs after the scope check: a refused request never
	// reaches it.
	seen = nil
	wantError(t, e.call("GET", "/api/v2/leads", "", org, []string{"tasks:read"}), 403, "Missing scope")
	e.call("GET", "/api/v2/leads", "", org, []string{"leads:read"})
	wantError(t, e.do("DELETE", "/api/v2/leads", "", org), 405, "Method not allowed")
	wantError(t, e.do("GET", "/api/v2/nope", "", org), 404, "Unsupported resource")
	if !slices.Equal(seen, []string{"GET /api/v2/leads"}) {
		t.Errorf("middleware saw %v", seen)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		reg, err := resource.New(resource.Options{DB: db.DB, Resources: []resource.Resource{{Name: "things"}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for range 2 {
			if err := reg.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tenancy.NextSequence(gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: "o"}), db.DB, db.Dialect, "x"); err != nil {
			t.Fatal(err)
		}
	})
}
