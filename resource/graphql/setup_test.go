package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/scope"
)

// testResources are shaped like the reference API's: leads reference
// clients, appointments reference leads and job_types (a table that is
// not a resource).
func testResources() []resource.Resource {
	return []resource.Resource{
		{
			Name: "leads",
			Fields: []resource.Field{
				{Name: "lead_number", Sequence: true},
				{Name: "first_name"},
				{Name: "last_name"},
				{Name: "email", Type: resource.Email},
				{Name: "status"},
				{Name: "scheduled_at", Type: resource.DateTime},
				{Name: "client_id", References: "clients"},
				{Name: "notes", Type: resource.Text, MaxLength: 10000},
				{Name: "score", Type: resource.Integer},
				{Name: "hot", Type: resource.Boolean},
				{Name: "budget", Type: resource.Number},
			},
			Filters: []string{"id", "lead_number", "status", "email", "client_id"},
			Search:  []string{"first_name", "last_name", "email"},
		},
		{
			Name: "clients",
			Fields: []resource.Field{
				{Name: "first_name", Required: true},
				{Name: "last_name"},
				{Name: "email", Type: resource.Email},
				{Name: "phone"},
			},
			Filters: []string{"id", "email"},
			Search:  []string{"first_name", "last_name"},
		},
		{
			Name:      "appointments",
			OrgColumn: "org_id",
			Fields: []resource.Field{
				{Name: "appointment_date", Type: resource.Date, Required: true},
				{Name: "appointment_time", Type: resource.Time},
				{Name: "lead_id", References: "leads"},
				{Name: "job_type_id", References: "job_types"},
				{Name: "custom_fields", Type: resource.JSONObject},
			},
			Filters: []string{"id", "lead_id"},
		},
	}
}

// clock is an injected Now that advances one millisecond per call.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

type env struct {
	t   testing.TB
	db  dbtest.DB
	reg *resource.Registry
	h   *graphql.Handler
	all []string
}

// newEnv creates the tables of testResources on db, a registry with
// cursors, and its GraphQL handler (opts.Registry is filled in).
func newEnv(t testing.TB, db dbtest.DB, opts graphql.Options) *env {
	t.Helper()
	ctx := context.Background()
	if _, err := db.DB.ExecContext(ctx, `CREATE TABLE job_types (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	k, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("gql"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	reg, err := resource.New(resource.Options{DB: db.DB, Dialect: db.Dialect, Resources: testResources(), Keyring: k, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stmts, err := reg.DDL(db.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(stmts, reg.IndexDDL()...) {
		if _, err := db.DB.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	opts.Registry = reg
	h, err := graphql.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, reg: reg, h: h}
	for _, sc := range reg.Scopes() {
		e.all = append(e.all, string(sc))
	}
	return e
}

// ctx is the context of a caller of org with scopes.
func callerCtx(org string, scopes []string) context.Context {
	set, _ := scope.ParseSet(scopes)
	ctx := gatehouse.NewRequestContext(context.Background(), "req-"+uuid.New())
	return gatehouse.NewCallerContext(ctx, gatehouse.Caller{KeyID: "key-" + uuid.New(), PublicID: "pub", OrgID: org, Scopes: set.Sorted(), RateLimitPerMinute: 60})
}

// create creates a record through the data API and returns its REST id.
func (e *env) create(org, name, body string) string {
	e.t.Helper()
	var in map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		e.t.Fatal(err)
	}
	rec, err := e.reg.Create(callerCtx(org, e.all), name, in)
	if err != nil {
		e.t.Fatalf("create %s %s: %v", name, body, err)
	}
	switch id := rec.Get("id").(type) {
	case string:
		return id
	default:
		e.t.Fatalf("id %v", id)
	}
	return ""
}

// result is a decoded GraphQL response.
type result struct {
	Code    int
	Header  http.Header
	Raw     string
	Data    map[string]any
	Errors  []map[string]any
	Ext     map[string]any
	HasData bool
}

// post sends a GraphQL request over HTTP as a caller of org with scopes.
func (e *env) post(org string, scopes []string, query string, vars map[string]any) result {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.raw(callerCtx(org, scopes), http.MethodPost, string(body), map[string]string{"Content-Type": "application/json", "Accept": graphql.MediaTypeResponse})
}

// raw sends any request.
func (e *env) raw(ctx context.Context, method, body string, headers map[string]string) result {
	e.t.Helper()
	req := httptest.NewRequest(method, "/v1/graphql", strings.NewReader(body)).WithContext(ctx)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	out := result{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		e.t.Fatalf("body is not a JSON object: %v: %s", err, out.Raw)
	}
	if d, ok := m["data"]; ok {
		out.HasData = true
		dec := json.NewDecoder(bytes.NewReader(d))
		_ = dec.Decode(&out.Data)
	}
	_ = json.Unmarshal(m["errors"], &out.Errors)
	_ = json.Unmarshal(m["extensions"], &out.Ext)
	return out
}

// get follows a path of keys and indices in v.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
