package resource_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// TestCheckListsEveryMismatch runs Check on a deliberately wrong schema:
// the one error lists every mismatch, and nothing else.
func TestCheckListsEveryMismatch(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		pg := db.Dialect == tenancy.Postgres
		ddl := []string{
			// Integer ids the database does not generate (on SQLite only
			// INTEGER PRIMARY KEY aliases the rowid), a missing column,
			// wrong types, NOT NULL columns the API cannot fill.
			`CREATE TABLE products (
				product_id BIGINT PRIMARY KEY, tenant_id TEXT NOT NULL,
				name TEXT NOT NULL, active TEXT, legacy_code TEXT NOT NULL,
				inserted_at TEXT NOT NULL, modified_at BIGINT NOT NULL,
				label VARCHAR(50), category_id BIGINT, owner_id TEXT, maker_id TEXT)`,
			`CREATE TABLE owners (id TEXT PRIMARY KEY, name TEXT)`,
		}
		for _, s := range ddl {
			if _, err := db.DB.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		var logs bytes.Buffer
		reg, err := resource.New(resource.Options{
			DB: db.DB, Dialect: db.Dialect,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Resources: []resource.Resource{
				{
					Name: "products", IDColumn: "product_id", IDType: resource.IDInteger, OrgColumn: "tenant_id",
					Created: resource.Timestamp{Column: "inserted_at", Format: resource.TimeUnix},
					Updated: resource.Timestamp{Column: "modified_at", Format: resource.TimeUnixMilli},
					Fields: []resource.Field{
						{Name: "name"},
						{Name: "sku"},
						{Name: "active", Type: resource.Boolean},
						{Name: "label"},
						{Name: "number", Sequence: true, Column: "category_id"},
						{Name: "category", Type: resource.Integer, References: "categories", Column: "maker_id"},
						{Name: "owner_id", References: "owners"},
					},
				},
				{Name: "orders"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		err = reg.Check(context.Background())
		var se *resource.SchemaError
		if !errors.As(err, &se) {
			t.Fatalf("Check = %v, want a *SchemaError", err)
		}
		want := []string{
			"resource products: table products: column product_id holds integer ids but the database does not generate them",
			"resource products: table products: column inserted_at is text; the unix format needs a bigint column",
			"resource products: table products: column name is NOT NULL but field name accepts null",
			"resource products: table products: column sku (field sku) does not exist",
			"resource products: table products: column active is text; a boolean field needs",
			"resource products: table products: column maker_id (field category) is text; integer ids need",
			"resource products: table products: column legacy_code is NOT NULL without a default and the API never writes it",
			"resource products: field category: referenced table categories does not exist",
			"resource products: field owner_id: referenced table owners has no organization column organization_id: declare the reference GlobalReference",
			"resource orders: table orders does not exist",
			"table gatehouse_sequences does not exist: run Registry.Migrate",
		}
		if pg {
			want = append(want, "resource products: table products: column label is character varying(50), shorter than field label's MaxLength 255")
		}
		for _, w := range want {
			found := false
			for _, p := range se.Problems {
				found = found || strings.Contains(p, w)
			}
			if !found {
				t.Errorf("no problem says %q", w)
			}
			if !strings.Contains(err.Error(), w) {
				t.Errorf("the error text lacks %q", w)
			}
		}
		if len(se.Problems) != len(want) {
			t.Errorf("%d problems, want %d:\n%s", len(se.Problems), len(want), err)
		}
		if !strings.Contains(logs.String(), "no index on (tenant_id, inserted_at, product_id)") {
			t.Errorf("missing list index not warned: %s", logs.String())
		}
	})
}

// TestCheckPassesAndWarns: the test schema passes; missing recommended
// indexes and plain timestamps are warnings only.
func TestCheckPassesAndWarns(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, nil)
		if err := e.reg.Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if strings.Contains(e.logs.String(), "schema check") {
			t.Errorf("warnings on a complete schema: %s", e.logs.String())
		}

		e2 := newExistingEnv(t, dbtest.DB{Name: db.Name, DB: freshDB(t, db), Dialect: db.Dialect})
		logs := e2.logs.String()
		if want := "no index on (tenant_id, category_id, inserted_at, product_id) for the indexed filter category_id"; strings.Contains(logs, want) {
			t.Errorf("IndexDDL's index reported missing: %s", logs)
		}
		if db.Dialect == tenancy.Postgres && !strings.Contains(logs, "column updated is timestamp without time zone") {
			t.Errorf("plain timestamp not warned: %s", logs)
		}
		for _, s := range e2.reg.IndexDDL() {
			if strings.Contains(s, "categor") {
				if _, err := e2.db.DB.Exec("DROP INDEX " + strings.Fields(s)[5]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := e2.reg.Check(context.Background()); err != nil {
			t.Fatalf("a missing index is an error: %v", err)
		}
		if !strings.Contains(e2.logs.String(), "no index on (tenant_id, category_id, inserted_at, product_id) for the indexed filter category_id") {
			t.Errorf("missing filter index not warned: %s", e2.logs.String())
		}
	})
}

// freshDB returns another empty database of the same kind as db.
func freshDB(t *testing.T, db dbtest.DB) *sql.DB {
	t.Helper()
	if db.Dialect == tenancy.Postgres {
		return dbtest.Postgres(t)
	}
	return dbtest.SQLite(t)
}
