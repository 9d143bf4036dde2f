package resource_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// existingDDL creates tables shaped the way services already have them:
// integer ids made by the database, a global lookup table without an
// organization column, timestamps under other names and in other formats,
// text ids, and a table without timestamps.
func existingDDL(t *testing.T, db dbtest.DB) {
	t.Helper()
	serial, ts, plain := "INTEGER PRIMARY KEY", "TEXT", "TEXT"
	if db.Dialect == tenancy.Postgres {
		serial, ts, plain = "bigserial PRIMARY KEY", "timestamptz", "timestamp"
	}
	r := strings.NewReplacer("$SERIAL", serial, "$TS", ts, "$PLAIN", plain)
	for _, s := range []string{
		`CREATE TABLE categories (category_id $SERIAL, name TEXT NOT NULL)`,
		`CREATE TABLE products (
			product_id $SERIAL, tenant_id TEXT NOT NULL, name TEXT NOT NULL,
			category_id BIGINT, supplier_id TEXT,
			inserted_at BIGINT NOT NULL, modified_at BIGINT NOT NULL)`,
		`CREATE TABLE suppliers (code TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT,
			created TEXT NOT NULL, updated $PLAIN NOT NULL)`,
		`CREATE TABLE notes (id $SERIAL, organization_id TEXT NOT NULL, body TEXT, product_id BIGINT)`,
		`CREATE TABLE events (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, kind TEXT, at $TS NOT NULL)`,
	} {
		if _, err := db.DB.Exec(r.Replace(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func existingResources() []resource.Resource {
	var n atomic.Int64
	return []resource.Resource{
		{
			Name: "products", IDColumn: "product_id", IDType: resource.IDInteger, OrgColumn: "tenant_id",
			Created: resource.Timestamp{Column: "inserted_at", Format: resource.TimeUnixMilli},
			Updated: resource.Timestamp{Column: "modified_at", Format: resource.TimeUnix},
			Fields: []resource.Field{
				{Name: "name", Required: true},
				{Name: "category_id", Type: resource.Integer, References: "categories", ReferenceColumn: "category_id", GlobalReference: true},
				{Name: "supplier_id", References: "suppliers"},
			},
			Filters:        []string{"id", "name", "category_id"},
			IndexedFilters: []string{"category_id"},
		},
		{
			Name: "suppliers", IDColumn: "code", IDType: resource.IDText,
			NewID:   func(context.Context) (string, error) { return "sup_" + strconv.FormatInt(n.Add(1), 10), nil },
			Created: resource.Timestamp{Column: "created", Format: resource.TimeText},
			Updated: resource.Timestamp{Column: "updated"},
			Fields:  []resource.Field{{Name: "name"}},
			Filters: []string{"id"},
		},
		{
			Name:    "notes",
			IDType:  resource.IDInteger,
			Created: resource.Timestamp{None: true}, Updated: resource.Timestamp{None: true},
			Fields:  []resource.Field{{Name: "body"}, {Name: "product_id", References: "products"}},
			Filters: []string{"id", "product_id"},
		},
		{
			Name:    "events",
			Created: resource.Timestamp{Column: "at"}, Updated: resource.Timestamp{None: true},
			Fields: []resource.Field{{Name: "kind"}},
		},
	}
}

func newExistingEnv(t *testing.T, db dbtest.DB) *env {
	t.Helper()
	return newExistingEnvFrom(t, db, false)
}

// newExistingEnvFrom is newExistingEnv; with fromDDL the resources' tables
// are created by Registry.DDL (categories, not a resource, by hand).
func newExistingEnvFrom(t *testing.T, db dbtest.DB, fromDDL bool) *env {
	t.Helper()
	if fromDDL {
		serial := "INTEGER PRIMARY KEY"
		if db.Dialect == tenancy.Postgres {
			serial = "bigserial PRIMARY KEY"
		}
		if _, err := db.DB.Exec(`CREATE TABLE categories (category_id ` + serial + `, name TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
	} else {
		existingDDL(t, db)
	}
	e := newEnvFrom(t, db, fromDDL, func(o *resource.Options) {
		o.Resources = existingResources()
		o.Keyring = testKeyring(t, "k1")
	})
	if err := e.reg.Check(context.Background()); err != nil {
		t.Fatalf("Check on the existing tables: %v", err)
	}
	return e
}

func ids(recs []map[string]any) []any {
	out := make([]any, len(recs))
	for i, r := range recs {
		out[i] = r["id"]
	}
	return out
}

// TestExistingTables serves tables the service already has, without views
// or added columns, on both databases; and the same declarations over
// tables created by Registry.DDL.
func TestExistingTables(t *testing.T) {
	t.Parallel()
	t.Run("existing tables", func(t *testing.T) {
		t.Parallel()
		testExistingTables(t, false)
	})
	t.Run("tables from DDL", func(t *testing.T) {
		t.Parallel()
		testExistingTables(t, true)
	})
}

func testExistingTables(t *testing.T, fromDDL bool) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newExistingEnvFrom(t, db, fromDDL)
		const org, other = "org-1", "org-2"
		if _, err := db.DB.Exec(`INSERT INTO categories (name) VALUES ('Tools'), ('Toys')`); err != nil {
			t.Fatal(err)
		}

		t.Run("integer ids", func(t *testing.T) {
			r := e.do("POST", "/v1/products", `{"name":"Hammer","category_id":1}`, org)
			if r.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Code, r.Raw)
			}
			id, ok := r.data()["id"].(float64) // a JSON number
			if !ok || id < 1 || id != float64(int64(id)) {
				t.Fatalf("id = %#v, want a positive JSON integer: %s", r.data()["id"], r.Raw)
			}
			path := "/v1/products/" + strconv.FormatInt(int64(id), 10)
			if loc := r.Header.Get("Location"); loc != path {
				t.Errorf("Location %q, want %q", loc, path)
			}
			for _, k := range []string{"created_at", "updated_at"} {
				if v, _ := r.data()[k].(string); !strings.HasPrefix(v, "2026-03-01T12:00:00") || !strings.HasSuffix(v, "Z") {
					t.Errorf("%s = %q", k, v)
				}
			}
			if g := e.do("GET", path, "", org); g.Code != 200 || g.data()["name"] != "Hammer" || g.data()["id"] != id {
				t.Errorf("get: %d %s", g.Code, g.Raw)
			}
			// Every other spelling of an id is malformed, hence 404.
			for _, p := range []string{"0" + strconv.FormatInt(int64(id), 10), "+1", "1.0", "abc", "-0", "99999999999999999999", "9223372036854775807", strconv.FormatInt(int64(id), 10) + " "} {
				wantError(t, e.do("GET", "/v1/products/"+strings.ReplaceAll(p, " ", "%20"), "", org), 404, "Not found")
				wantError(t, e.do("PATCH", "/v1/products/"+strings.ReplaceAll(p, " ", "%20"), `{"name":"x"}`, org), 404, "Not found")
			}
			wantError(t, e.do("GET", path, "", other), 404, "Not found")
			u := e.do("PATCH", path, `{"name":"Mallet","category_id":null}`, org)
			if u.Code != 200 || u.data()["name"] != "Mallet" || u.data()["category_id"] != nil || u.data()["id"] != id {
				t.Errorf("update: %d %s", u.Code, u.Raw)
			}
			if l := e.do("GET", "/v1/products?id="+strconv.FormatInt(int64(id), 10), "", org); len(l.list()) != 1 {
				t.Errorf("id filter: %s", l.Raw)
			}
			r = e.do("GET", "/v1/products?id=abc", "", org)
			wantError(t, r, 400, "Invalid query parameters")
			if !strings.Contains(r.Raw, "must be an integer id") {
				t.Errorf("details: %s", r.Raw)
			}
		})

		t.Run("global reference", func(t *testing.T) {
			// Categories have no organization column: every organization
			// may reference them; unknown ones are refused.
			for _, o := range []string{org, other} {
				if r := e.do("POST", "/v1/products", `{"name":"Ball","category_id":2}`, o); r.Code != 201 || r.data()["category_id"] != float64(2) {
					t.Errorf("%s: %d %s", o, r.Code, r.Raw)
				}
			}
			wantError(t, e.do("POST", "/v1/products", `{"name":"Ball","category_id":3}`, org), 400, "Invalid foreign key")
			r := e.do("POST", "/v1/products", `{"name":"Ball","category_id":"2"}`, org)
			wantError(t, r, 400, "Invalid field values")
			if l := e.do("GET", "/v1/products?category_id=2", "", other); len(l.list()) != 1 {
				t.Errorf("filter on the reference: %s", l.Raw)
			}
		})

		t.Run("text ids", func(t *testing.T) {
			r := e.do("POST", "/v1/suppliers", `{"name":"Acme"}`, org)
			if r.Code != 201 {
				t.Fatalf("%d %s", r.Code, r.Raw)
			}
			code, _ := r.data()["id"].(string)
			if !strings.HasPrefix(code, "sup_") || r.Header.Get("Location") != "/v1/suppliers/"+code {
				t.Fatalf("id %q, Location %q", code, r.Header.Get("Location"))
			}
			if g := e.do("GET", "/v1/suppliers/"+code, "", org); g.Code != 200 || g.data()["name"] != "Acme" {
				t.Errorf("get: %s", g.Raw)
			}
			wantError(t, e.do("GET", "/v1/suppliers/"+code, "", other), 404, "Not found")
			wantError(t, e.do("GET", "/v1/suppliers/sup%20"+code, "", org), 404, "Not found")
			wantError(t, e.do("GET", "/v1/suppliers/"+strings.Repeat("a", 65), "", org), 404, "Not found")
			// A reference to a resource with text ids is a string, and the
			// supplier must be the caller's.
			p := e.do("POST", "/v1/products", `{"name":"Anvil","supplier_id":"`+code+`"}`, org)
			if p.Code != 201 || p.data()["supplier_id"] != code {
				t.Errorf("reference: %d %s", p.Code, p.Raw)
			}
			wantError(t, e.do("POST", "/v1/products", `{"name":"Anvil","supplier_id":"`+code+`"}`, other), 400, "Invalid foreign key")
			wantError(t, e.do("POST", "/v1/products", `{"name":"Anvil","supplier_id":"no such"}`, org), 400, "Invalid field values")
			// updated is a plain timestamp on PostgreSQL: read as UTC.
			u := e.do("PATCH", "/v1/suppliers/"+code, `{"name":"Acme Inc"}`, org)
			if u.Code != 200 || u.data()["updated_at"] == r.data()["updated_at"] || !strings.HasSuffix(u.data()["updated_at"].(string), "Z") {
				t.Errorf("update: %s (created %s)", u.Raw, r.Raw)
			}
			var stored string
			if err := db.DB.QueryRow(`SELECT created FROM suppliers WHERE code = `+map[tenancy.Dialect]string{tenancy.SQLite: "?", tenancy.Postgres: "$1"}[db.Dialect], code).Scan(&stored); err != nil || len(stored) != len(tenancy.TimeLayout) {
				t.Errorf("created stored as %q (%v), want tenancy.TimeLayout", stored, err)
			}
		})

		t.Run("no timestamps", func(t *testing.T) {
			o := "org-notes"
			var want []any
			for i := range 5 {
				r := e.do("POST", "/v1/notes", fmt.Sprintf(`{"body":"note %d"}`, i), o)
				if r.Code != 201 {
					t.Fatalf("%d %s", r.Code, r.Raw)
				}
				if _, has := r.data()["created_at"]; has {
					t.Errorf("a table without timestamps answers created_at: %s", r.Raw)
				}
				if _, has := r.data()["updated_at"]; has {
					t.Errorf("a table without timestamps answers updated_at: %s", r.Raw)
				}
				want = append([]any{r.data()["id"]}, want...)
			}
			if got := ids(e.do("GET", "/v1/notes", "", o).list()); !slices.Equal(got, want) {
				t.Errorf("list order %v, want id descending %v", got, want)
			}
			r := e.do("GET", "/v1/notes?created_after=2026-01-01", "", o)
			wantError(t, r, 400, "Unsupported filters")
			wantError(t, e.do("POST", "/v1/notes", `{"body":"x","product_id":123456}`, o), 400, "Invalid foreign key")
		})

		t.Run("created under another name, no updated", func(t *testing.T) {
			r := e.do("POST", "/v1/events", `{"kind":"x"}`, org)
			if _, has := r.data()["updated_at"]; r.Code != 201 || has || r.data()["created_at"] == nil {
				t.Fatalf("%d %s", r.Code, r.Raw)
			}
			if u := e.do("PATCH", "/v1/events/"+r.data()["id"].(string), `{"kind":"y"}`, org); u.Code != 200 || u.data()["kind"] != "y" {
				t.Errorf("update: %s", u.Raw)
			}
		})

		t.Run("cursors with every id type", func(t *testing.T) {
			for _, c := range []struct{ name, body string }{
				{"products", `{"name":"p"}`},
				{"suppliers", `{"name":"s"}`},
				{"notes", `{"body":"n"}`},
				{"events", `{"kind":"e"}`},
			} {
				t.Run(c.name, func(t *testing.T) {
					o := "org-cursor-" + c.name
					for range 7 {
						e.mustCreate(c.name, c.body, o)
					}
					all := ids(e.do("GET", "/v1/"+c.name+"?limit=100", "", o).list())
					if len(all) != 7 {
						t.Fatalf("%d records", len(all))
					}
					var paged []any
					next := "/v1/" + c.name + "?limit=3"
					for next != "" {
						r := e.do("GET", next, "", o)
						if r.Code != 200 {
							t.Fatalf("%s: %d %s", next, r.Code, r.Raw)
						}
						paged = append(paged, ids(r.list())...)
						next = ""
						if nc, ok := r.Body["next_cursor"].(string); ok {
							next = "/v1/" + c.name + "?limit=3&cursor=" + nc
						}
					}
					if !slices.Equal(paged, all) {
						t.Errorf("paged %v, want %v", paged, all)
					}
				})
			}
		})

		t.Run("created_after on integer timestamps", func(t *testing.T) {
			// inserted_at holds milliseconds: a bound between two
			// milliseconds rounds up, so it keeps exactly the rows stored
			// at or after it.
			o := "org-bounds"
			first := e.mustCreate("products", `{"name":"a"}`, o)
			second := e.mustCreate("products", `{"name":"b"}`, o)
			t1, _ := time.Parse(time.RFC3339Nano, second["created_at"].(string))
			bound := t1.Add(-time.Microsecond).Format(time.RFC3339Nano)
			got := ids(e.do("GET", "/v1/products?created_after="+bound, "", o).list())
			if !slices.Equal(got, []any{second["id"]}) {
				t.Errorf("created_after=%s: %v (first %v, second %v)", bound, got, first["id"], second["id"])
			}
			got = ids(e.do("GET", "/v1/products?created_before="+bound, "", o).list())
			if !slices.Equal(got, []any{first["id"]}) {
				t.Errorf("created_before=%s: %v", bound, got)
			}
		})
	})
}

// TestIDTypesInChange: OnWrite sees an integer id as its decimal text in
// Change.ID and as an int64 in the record.
func TestIDTypesInChange(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newExistingEnv(t, db)
		r := e.mustCreate("products", `{"name":"x"}`, "org-change")
		e.mu.Lock()
		defer e.mu.Unlock()
		last := e.writes[len(e.writes)-1]
		if last.ID != strconv.FormatInt(int64(r["id"].(float64)), 10) || last.Record["id"] != int64(r["id"].(float64)) {
			t.Errorf("Change.ID %q, Record[id] %#v; created %v", last.ID, last.Record["id"], r["id"])
		}
	})
}

// TestDataAPIWithIntegerIDs: the Go-level data API parses ids by the
// resource's id type, as the REST paths do.
func TestDataAPIWithIntegerIDs(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newExistingEnv(t, db)
		a := e.mustCreate("products", `{"name":"a"}`, "org-data")
		b := e.mustCreate("products", `{"name":"b"}`, "org-data")
		ctx := withCaller(context.Background(), "org-data", e.all)
		key := func(m map[string]any) string { return strconv.FormatInt(int64(m["id"].(float64)), 10) }
		rec, err := e.reg.Get(ctx, "products", key(a))
		if err != nil || rec.Get("id") != int64(a["id"].(float64)) {
			t.Fatalf("Get = %v, %v", rec.Map(), err)
		}
		if _, err := e.reg.Get(ctx, "products", "0"+key(a)); err == nil {
			t.Error("Get of a non-canonical id found a record")
		}
		many, err := e.reg.GetMany(ctx, "products", []string{key(b), "abc", "0" + key(a), key(a), key(b)})
		if err != nil || len(many) != 2 || many[0].Get("name") != "b" || many[1].Get("name") != "a" {
			t.Fatalf("GetMany = %v, %v", many, err)
		}
		if _, err := e.reg.List(ctx, "notes", resource.ListQuery{CreatedAfter: time.Now()}); err == nil || !strings.Contains(err.Error(), "Unsupported filters") {
			t.Errorf("List with created_after on a table without creation time = %v", err)
		}
	})
}
