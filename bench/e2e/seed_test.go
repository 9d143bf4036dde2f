package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// leadsResource is the example's leads resource (examples/joby/resources.go).
func leadsResource() resource.Resource {
	s := func(n string) resource.Field { return resource.Field{Name: n} }
	return resource.Resource{
		Name: "leads", Singular: "lead",
		Fields: []resource.Field{
			{Name: "lead_number", Type: resource.Integer, Sequence: true},
			s("first_name"), s("last_name"), s("phone"), {Name: "email", Type: resource.Email},
			s("address"), s("city"), s("state"), s("postal_code"),
			s("status"), s("sub_status"), s("job_type"), s("ad_source"),
			{Name: "scheduled_at", Type: resource.DateTime},
			{Name: "client_id", Type: resource.UUID, References: "clients"},
			{Name: "notes", Type: resource.Text, MaxLength: 10000},
		},
		Filters: []string{"id", "lead_number", "status", "phone", "email", "client_id"},
	}
}

// exampleSchema creates the example's leads table (and the clients table
// it references) with the registry's DDL, as the example does when it
// starts (stack.Options.CreateTables), and returns the registry.
func exampleSchema(t *testing.T, db dbtest.DB) *resource.Registry {
	t.Helper()
	ctx := context.Background()
	clients := resource.Resource{Name: "clients", Fields: []resource.Field{{Name: "first_name"}}}
	reg, err := resource.New(resource.Options{DB: db.DB, Dialect: db.Dialect, Resources: []resource.Resource{leadsResource(), clients}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ddl, err := reg.DDL(db.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenancy.Migrate(ctx, db.DB, db.Dialect, "joby-schema", ddl); err != nil {
		t.Fatal(err)
	}
	if err := reg.Check(ctx); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestSeedServedByRegistry seeds both dialects and reads the rows back
// through the registry's own handler: if Seed broke a convention (time
// format, ids, organization column, sequence), the registry would fail to
// read or number them.
func TestSeedServedByRegistry(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		reg := exampleSchema(t, db)
		orgs := []string{uuid.New(), uuid.New()}
		end := time.Date(2026, 7, 20, 12, 0, 0, 0, time.UTC)
		data := NewDataset(DatasetOptions{PerOrg: 300, End: end})
		if err := Seed(context.Background(), db.DB, db.Dialect, data, orgs); err != nil {
			t.Fatal(err)
		}
		var newestA, newestB Lead
		for _, l := range data {
			if l.Org == 0 {
				newestA = l
			} else {
				newestB = l
			}
		}
		h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reg.ServeHTTP(w, r.WithContext(gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: orgs[0], Scopes: []string{"leads:create", "leads:read"}})))
		}))
		send := func(method, target, body string, want int) map[string]any {
			t.Helper()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
			if rec.Code != want {
				t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		list := send("GET", "/v1/leads?limit=50", "", http.StatusOK)["data"].([]any)
		if len(list) != 50 {
			t.Fatalf("list: %d leads", len(list))
		}
		top := list[0].(map[string]any)
		if top["id"] != newestA.ID || top["created_at"] != newestA.CreatedAt.Format(time.RFC3339Nano) ||
			top["lead_number"] != float64(300) || top["organization_id"] != orgs[0] {
			t.Errorf("newest lead %v, want %s created %v number 300", top, newestA.ID, newestA.CreatedAt)
		}
		won := send("GET", "/v1/leads?status=Won&limit=50", "", http.StatusOK)["data"].([]any)
		if len(won) != 30 {
			t.Errorf("status=Won: %d leads, want 30", len(won))
		}
		for _, l := range append(list, won...) {
			if m := l.(map[string]any); m["organization_id"] != orgs[0] {
				t.Fatalf("organization B's lead listed for A: %v", m)
			}
		}
		send("GET", "/v1/leads/"+newestB.ID, "", http.StatusNotFound)
		send("GET", "/v1/leads/"+newestA.ID, "", http.StatusOK)
		created := send("POST", "/v1/leads", createBody(""), http.StatusCreated)["data"].(map[string]any)
		if created["lead_number"] != float64(301) {
			t.Errorf("created lead number %v, want 301 (the sequence continues after the seeded leads)", created["lead_number"])
		}
	})
}

// TestListPlansUseIndex checks the plans of the benchmark's list queries:
// on SQLite (whose planner has no statistics here) and in PostgreSQL's
// generic plan, the organization predicate and the order come from the
// registry's index.
func TestListPlansUseIndex(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		exampleSchema(t, db)
		orgs := []string{uuid.New(), uuid.New()}
		data := NewDataset(DatasetOptions{PerOrg: 500})
		ctx := context.Background()
		if err := Seed(ctx, db.DB, db.Dialect, data, orgs); err != nil {
			t.Fatal(err)
		}
		qs, err := ListQueries(db.Dialect, orgs[0], data[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) != 3 {
			t.Fatalf("%d queries", len(qs))
		}
		for _, q := range qs {
			p, err := Explain(ctx, db.DB, db.Dialect, q)
			if err != nil {
				t.Fatal(err)
			}
			if !q.Ordered {
				continue
			}
			plan := p.Text
			if db.Dialect == tenancy.Postgres {
				plan = p.Generic
				if p.Text == "" || !strings.Contains(p.Text, "actual time") {
					t.Errorf("%s: no EXPLAIN ANALYZE output: %q", q.Name, p.Text)
				}
			}
			if err := CheckPlan(db.Dialect, plan, ListIndex, true); err != nil {
				t.Errorf("%s: %v\n%s", q.Name, err, plan)
			}
		}
	})
}

func TestCheckPlan(t *testing.T) {
	good := map[tenancy.Dialect]string{
		tenancy.SQLite: "QUERY PLAN\n`--SEARCH leads USING INDEX leads_gatehouse_list_idx (organization_id=?)",
		tenancy.Postgres: "Limit  (cost=0.29..30.61 rows=51 width=244)\n" +
			"  ->  Index Scan using leads_gatehouse_list_idx on leads  (cost=0.29..5942.92 rows=10000 width=244)\n" +
			"        Index Cond: (organization_id = $1)\n        Filter: (status = $2)",
	}
	bad := map[tenancy.Dialect][]string{
		tenancy.SQLite: {
			"QUERY PLAN\n`--SEARCH leads USING INDEX sqlite_autoindex_leads_2 (organization_id=?)\n`--USE TEMP B-TREE FOR ORDER BY",
			"QUERY PLAN\n`--SCAN leads USING INDEX leads_gatehouse_list_idx\n`--USE TEMP B-TREE FOR ORDER BY",
		},
		tenancy.Postgres: {
			"Limit\n  ->  Sort\n        Sort Key: created_at DESC, id DESC\n        ->  Seq Scan on leads\n              Filter: ((organization_id = $1) AND (status = $2))",
			"Limit\n  ->  Index Scan Backward using leads_gatehouse_list_idx on leads\n        Index Cond: (organization_id = $1)",
			"Limit\n  ->  Index Scan using leads_gatehouse_list_idx on leads\n        Filter: (organization_id = $1)",
		},
	}
	for d, plan := range good {
		if err := CheckPlan(d, plan, ListIndex, true); err != nil {
			t.Errorf("%v: good plan refused: %v", d, err)
		}
		for _, p := range bad[d] {
			if err := CheckPlan(d, p, ListIndex, true); err == nil {
				t.Errorf("%v: bad plan accepted:\n%s", d, p)
			}
		}
	}
}
