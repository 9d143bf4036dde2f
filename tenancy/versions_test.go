package tenancy_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// shippedWidgets is the DDL a component shipped before versions were
// recorded: what existing databases hold.
func shippedWidgets(d tenancy.Dialect) []string {
	_ = d
	return []string{
		`CREATE TABLE IF NOT EXISTS widgets (id TEXT PRIMARY KEY, name TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS widgets_name_idx ON widgets (name)`,
	}
}

// widgetVersions converts the shipped DDL to version 1 and adds two
// versions that are not idempotent: running either twice fails.
func widgetVersions() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "shipped schema", Statements: shippedWidgets},
		{Version: 2, Description: "widgets.refused", Statements: func(tenancy.Dialect) []string {
			return []string{`ALTER TABLE widgets ADD COLUMN refused BIGINT NOT NULL DEFAULT 0`}
		}},
		{Version: 3, Description: "widget_log", Statements: func(tenancy.Dialect) []string {
			return []string{
				`CREATE TABLE widget_log (n INTEGER NOT NULL)`,
				`INSERT INTO widget_log (n) VALUES (1)`,
			}
		}},
	}
}

func versionRows(t *testing.T, db *sql.DB, component string) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM gatehouse_schema_versions WHERE component = '` + component + `' ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateVersionsFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		// The database as the shipped release left it: tables made by
		// Migrate, data in them, no version recorded.
		if err := tenancy.Migrate(ctx, db.DB, db.Dialect, "widgets", shippedWidgets(db.Dialect)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DB.Exec(`INSERT INTO widgets (id, name) VALUES ('w1', 'kept')`); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second run finds everything applied
			if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", widgetVersions()); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, "widgets"); err != nil || v != 3 {
			t.Fatalf("SchemaVersion = %d, %v; want 3", v, err)
		}
		if got := versionRows(t, db.DB, "widgets"); len(got) != 3 || got[0] != 1 || got[2] != 3 {
			t.Fatalf("version rows %v, want [1 2 3]", got)
		}
		var name string
		var refused int64
		if err := db.DB.QueryRow(`SELECT name, refused FROM widgets WHERE id = 'w1'`).Scan(&name, &refused); err != nil {
			t.Fatal(err)
		}
		if name != "kept" || refused != 0 {
			t.Fatalf("row after migration: %q %d", name, refused)
		}
		var n int
		if err := db.DB.QueryRow(`SELECT COUNT(*) FROM widget_log`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("widget_log rows %d, %v; want 1", n, err)
		}
		var applied string
		if err := db.DB.QueryRow(`SELECT CAST(applied_at AS TEXT) FROM gatehouse_schema_versions WHERE component = 'widgets' AND version = 2`).Scan(&applied); err != nil || applied == "" {
			t.Fatalf("applied_at %q, %v", applied, err)
		}
		// Another component's history is separate.
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, "other"); err != nil || v != 0 {
			t.Fatalf("SchemaVersion(other) = %d, %v", v, err)
		}
	})
}

func TestMigrateVersionsFreshDatabase(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", widgetVersions()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DB.Exec(`INSERT INTO widgets (id, name) VALUES ('w1', 'x')`); err != nil {
			t.Fatal(err)
		}
		var refused int64
		if err := db.DB.QueryRow(`SELECT refused FROM widgets`).Scan(&refused); err != nil {
			t.Fatal(err)
		}
	})
}

// Pods starting together: each opens its own pool and migrates at once;
// every non-idempotent version runs exactly once and nobody fails.
func TestMigrateVersionsConcurrentPods(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pods.db")
	cases := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return path }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresSchemaURL(t) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := tc.dsn(t)
			ctx := context.Background()
			const pods = 6
			dbs := make([]*sql.DB, pods)
			var d tenancy.Dialect
			for i := range dbs {
				db, dialect, err := sqldb.Open(dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				dbs[i], d = db, dialect
			}
			if err := tenancy.Migrate(ctx, dbs[0], d, "widgets", shippedWidgets(d)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, pods)
			for i := range dbs {
				wg.Go(func() { errs[i] = tenancy.MigrateVersions(ctx, dbs[i], d, "widgets", widgetVersions()) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("pod %d: %v", i, err)
				}
			}
			var n int
			if err := dbs[0].QueryRow(`SELECT COUNT(*) FROM widget_log`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("widget_log rows %d, %v; want 1 (version 3 applied once)", n, err)
			}
			if got := versionRows(t, dbs[0], "widgets"); len(got) != 3 {
				t.Fatalf("version rows %v", got)
			}
		})
	}
}

// A version that fails halfway leaves neither its changes nor its row; a
// later run applies it.
func TestMigrateVersionsFailedVersionRollsBack(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		bad := widgetVersions()[:2]
		bad[1].Statements = func(tenancy.Dialect) []string {
			return []string{
				`ALTER TABLE widgets ADD COLUMN refused BIGINT NOT NULL DEFAULT 0`,
				`ALTER TABLE no_such_table ADD COLUMN x INTEGER`,
			}
		}
		err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", bad)
		if err == nil || !strings.Contains(err.Error(), "widgets version 2 statement 2") {
			t.Fatalf("err = %v, want the failing statement named", err)
		}
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, "widgets"); err != nil || v != 1 {
			t.Fatalf("SchemaVersion = %d, %v; want 1", v, err)
		}
		if _, err := db.DB.Exec(`SELECT refused FROM widgets`); err == nil {
			t.Fatal("column of the failed version exists")
		}
		if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", widgetVersions()); err != nil {
			t.Fatal(err)
		}
		if v, _ := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, "widgets"); v != 3 {
			t.Fatalf("SchemaVersion = %d, want 3", v)
		}
	})
}

// A database a newer release migrated further is left as it is.
func TestMigrateVersionsNewerDatabase(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", widgetVersions()); err != nil {
			t.Fatal(err)
		}
		if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, "widgets", widgetVersions()[:1]); err != nil {
			t.Fatalf("older list: %v", err)
		}
		if v, _ := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, "widgets"); v != 3 {
			t.Fatalf("SchemaVersion = %d, want 3", v)
		}
	})
}

func TestMigrateVersionsRejectsBadLists(t *testing.T) {
	t.Parallel()
	stmts := func(tenancy.Dialect) []string { return nil }
	cases := []struct {
		name      string
		component string
		list      []tenancy.Migration
	}{
		{"empty component", "", []tenancy.Migration{{Version: 1, Statements: stmts}}},
		{"no versions", "c", nil},
		{"starts at 2", "c", []tenancy.Migration{{Version: 2, Statements: stmts}}},
		{"gap", "c", []tenancy.Migration{{Version: 1, Statements: stmts}, {Version: 3, Statements: stmts}}},
		{"nil statements", "c", []tenancy.Migration{{Version: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := dbtest.SQLite(t)
			if err := tenancy.MigrateVersions(context.Background(), db, tenancy.SQLite, tc.component, tc.list); err == nil {
				t.Fatal("accepted")
			}
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'gatehouse_schema_versions'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("database touched: %d, %v", n, err)
			}
		})
	}
}
