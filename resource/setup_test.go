package resource_test

import (
	"context"
	"database/sql"
	"encoding/json"
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
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// ddl creates test tables shaped like the reference API's. On PostgreSQL
// they use native types (uuid, timestamptz, date, time, jsonb, boolean) to
// prove the conversions; on SQLite plain text and integers.
func ddl(d tenancy.Dialect) []string {
	id, ts, date, clock, obj, boolean, num := "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "REAL"
	if d == tenancy.Postgres {
		id, ts, date, clock, obj, boolean, num = "uuid", "timestamptz", "date", "time", "jsonb", "boolean", "double precision"
	}
	r := strings.NewReplacer("$ID", id, "$TS", ts, "$DATE", date, "$CLOCK", clock, "$OBJ", obj, "$BOOL", boolean, "$NUM", num)
	stmts := []string{
		`CREATE TABLE job_types (id $ID PRIMARY KEY, organization_id $ID NOT NULL, name TEXT NOT NULL)`,
		`CREATE TABLE clients (
			id $ID PRIMARY KEY, organization_id $ID NOT NULL,
			first_name TEXT, last_name TEXT, company_name TEXT, phone TEXT, email TEXT, notes TEXT,
			created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
		`CREATE TABLE leads (
			id $ID PRIMARY KEY, organization_id $ID NOT NULL, lead_number BIGINT NOT NULL,
			first_name TEXT, last_name TEXT, phone TEXT, email TEXT, status TEXT,
			scheduled_at $TS, client_id $ID, notes TEXT,
			created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
		`CREATE TABLE appointments (
			id $ID PRIMARY KEY, org_id $ID NOT NULL,
			first_name TEXT, appointment_date $DATE NOT NULL, appointment_time $CLOCK, end_time $CLOCK,
			status TEXT, lead_id $ID, job_type_id $ID, custom_fields $OBJ, notes TEXT,
			created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
		`CREATE TABLE tasks (
			id $ID PRIMARY KEY, organization_id $ID NOT NULL,
			title TEXT NOT NULL, description TEXT, status TEXT, priority TEXT, due_at $TS,
			assigned_to_email TEXT, lead_id $ID, client_id $ID,
			done $BOOL, points BIGINT, estimate $NUM, source TEXT DEFAULT 'api',
			created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
	}
	for i, s := range stmts {
		stmts[i] = r.Replace(s)
	}
	return stmts
}

func testResources() []resource.Resource {
	return []resource.Resource{
		{
			Name: "leads",
			Fields: []resource.Field{
				{Name: "lead_number", Sequence: true},
				{Name: "first_name"},
				{Name: "last_name"},
				{Name: "phone"},
				{Name: "email", Type: resource.Email},
				{Name: "status"},
				{Name: "scheduled_at", Type: resource.DateTime},
				{Name: "client_id", References: "clients"},
				{Name: "notes", Type: resource.Text, MaxLength: 10000},
			},
			Filters: []string{"id", "lead_number", "status", "phone", "email", "client_id"},
			Search:  []string{"first_name", "last_name", "phone", "email"},
		},
		{
			Name: "clients",
			Fields: []resource.Field{
				{Name: "first_name"},
				{Name: "last_name"},
				{Name: "company_name"},
				{Name: "phone"},
				{Name: "email", Type: resource.Email},
				{Name: "notes", Type: resource.Text, MaxLength: 10000},
			},
			Filters: []string{"id", "phone", "email"},
			Search:  []string{"first_name", "last_name", "company_name", "phone", "email"},
		},
		{
			Name:      "appointments",
			OrgColumn: "org_id",
			Fields: []resource.Field{
				{Name: "first_name"},
				{Name: "appointment_date", Type: resource.Date, Required: true},
				{Name: "appointment_time", Type: resource.Time},
				{Name: "end_time", Type: resource.Time},
				{Name: "status"},
				{Name: "lead_id", References: "leads"},
				{Name: "job_type_id", References: "job_types"},
				{Name: "custom_fields", Type: resource.JSONObject},
				{Name: "notes", Type: resource.Text, MaxLength: 10000},
			},
			Filters: []string{"id", "status", "lead_id", "job_type_id", "appointment_date"},
			Search:  []string{"first_name"},
		},
		{
			Name: "tasks",
			Fields: []resource.Field{
				{Name: "title", Required: true},
				{Name: "description", Type: resource.Text, MaxLength: 10000},
				{Name: "status"},
				{Name: "priority"},
				{Name: "due_at", Type: resource.DateTime},
				{Name: "assigned_to_email", Type: resource.Email},
				{Name: "lead_id", References: "leads"},
				{Name: "client_id", References: "clients"},
				{Name: "done", Type: resource.Boolean},
				{Name: "points", Type: resource.Integer},
				{Name: "estimate", Type: resource.Number},
				{Name: "source", ReadOnly: true},
			},
			Filters: []string{"id", "status", "priority", "assigned_to_email", "lead_id", "client_id", "done", "points", "due_at"},
			Search:  []string{"title", "description"},
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
	all []string // every scope
	now func() time.Time
	// logs captures the registry's log.
	logs *syncBuffer
	// fromDDL: the tables were created by Registry.DDL.
	fromDDL bool
	// writes records the changes OnWrite saw; failWrite makes it fail.
	mu        sync.Mutex
	writes    []resource.Change
	failWrite error
}

func newEnv(t testing.TB, db dbtest.DB, mod func(*resource.Options)) *env {
	t.Helper()
	return newEnvFrom(t, db, false, mod)
}

// newEnvFrom is newEnv; with fromDDL the resources' tables are created by
// Registry.DDL instead of the hand-written ddl (job_types, which is not a
// resource, is created by hand either way).
func newEnvFrom(t testing.TB, db dbtest.DB, fromDDL bool, mod func(*resource.Options)) *env {
	t.Helper()
	ctx := context.Background()
	stmts := ddl(db.Dialect)
	if fromDDL {
		stmts = stmts[:1]
	}
	for _, s := range stmts {
		if _, err := db.DB.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e := &env{t: t, db: db, now: c.Now, logs: &syncBuffer{}}
	opts := resource.Options{
		DB:        db.DB,
		Dialect:   db.Dialect,
		Resources: testResources(),
		Now:       c.Now,
		Logger:    slog.New(slog.NewTextHandler(e.logs, nil)),
		OnWrite: func(ctx context.Context, tx *sql.Tx, ch resource.Change) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.failWrite != nil {
				return e.failWrite
			}
			e.writes = append(e.writes, ch)
			return nil
		},
	}
	if mod != nil {
		mod(&opts)
	}
	reg, err := resource.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if fromDDL {
		tables, err := reg.DDL(db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tables {
			if _, err := db.DB.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		e.fromDDL = true
	}
	for _, s := range reg.IndexDDL() {
		if _, err := db.DB.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	e.reg = reg
	for _, sc := range reg.Scopes() {
		e.all = append(e.all, string(sc))
	}
	return e
}

// resp is a decoded response.
type resp struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
	Route  string
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

func (r resp) strs(key string) []string {
	arr, _ := r.Body[key].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// call sends a request as a caller of org with the scopes (nil scopes: no
// caller at all; org "": a caller without an organization).
func (e *env) call(method, target, body, org string, scopes []string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	ctx := gatehouse.NewRequestContext(req.Context(), "req-"+uuid.New())
	// A caller exists only with scopes (nil: no caller at all, as a
	// request refused by authentication); org "" is a caller without an
	// organization.
	if scopes != nil {
		set, err := scope.ParseSet(scopes)
		if err != nil {
			e.t.Fatal(err)
		}
		ctx = gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: org, Scopes: set.Sorted()})
	}
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	e.reg.ServeHTTP(rec, req)
	out := resp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String(), Route: gatehouse.RouteFromContext(ctx)}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, body %s", method, target, ct, out.Raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil && method != http.MethodHead {
		e.t.Errorf("%s %s: body is not a JSON object: %v: %s", method, target, err, out.Raw)
	}
	if method != http.MethodHead && out.Body["request_id"] != gatehouse.RequestIDFromContext(ctx) {
		e.t.Errorf("%s %s: request_id %v", method, target, out.Body["request_id"])
	}
	return out
}

// do calls with every scope.
func (e *env) do(method, target, body, org string) resp {
	e.t.Helper()
	return e.call(method, target, body, org, e.all)
}

// mustCreate creates a record and returns it.
func (e *env) mustCreate(name, body, org string) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1/"+name, body, org)
	if r.Code != http.StatusCreated {
		e.t.Fatalf("create %s %s: %d %s", name, body, r.Code, r.Raw)
	}
	return r.data()
}

func (e *env) jobType(org, name string) string {
	e.t.Helper()
	id := uuid.New()
	q := e.db.Dialect.Rebind(`INSERT INTO job_types (id, organization_id, name) VALUES (?, ?, ?)`)
	if _, err := e.db.DB.Exec(q, id, org, name); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func wantError(t testing.TB, r resp, code int, msg string) {
	t.Helper()
	if r.Code != code || r.Body["error"] != msg {
		t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, code, msg)
	}
}

// withCaller returns ctx with a caller of org granted scopes.
func withCaller(ctx context.Context, org string, scopes []string) context.Context {
	set, _ := scope.ParseSet(scopes)
	return gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: org, Scopes: set.Sorted()})
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
