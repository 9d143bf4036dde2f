package resource

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/tenancy"
)

// TestIndexedFilterPlan: with an indexed filter, the filtered list — first
// page and a keyset page — reads the (organization, filter, created DESC,
// id DESC) index IndexDDL recommends, with no sort step, on both
// databases. The statement is the one the list handler runs
// (spec.listQuery); the plan is the database's own (EXPLAIN QUERY PLAN on
// SQLite, EXPLAIN on PostgreSQL after ANALYZE), over 6,000 rows of three
// organizations and five statuses.
func TestIndexedFilterPlan(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ctx := context.Background()
		id, ts := "TEXT", "TEXT"
		if db.Dialect == tenancy.Postgres {
			id, ts = "uuid", "timestamptz"
		}
		if _, err := db.DB.ExecContext(ctx, `CREATE TABLE items (id `+id+` PRIMARY KEY, organization_id TEXT NOT NULL,
			title TEXT, status TEXT, created_at `+ts+` NOT NULL, updated_at `+ts+` NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		rg, err := New(Options{DB: db.DB, Dialect: db.Dialect, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Resources: []Resource{{
			Name: "items", Fields: []Field{{Name: "title"}, {Name: "status"}},
			Filters: []string{"status"}, IndexedFilters: []string{"status"},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tenancy.Migrate(ctx, db.DB, db.Dialect, "items-indexes", rg.IndexDDL()); err != nil {
			t.Fatal(err)
		}
		if err := rg.Check(ctx); err != nil {
			t.Fatal(err)
		}
		tx, err := db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		ins := db.Dialect.Rebind(`INSERT INTO items (id, organization_id, title, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 6000 {
			at := db.Dialect.TimeValue(t0.Add(time.Duration(i) * time.Second))
			if _, err := tx.ExecContext(ctx, ins, uuid.New(), fmt.Sprintf("org-%d", i%3), "t", fmt.Sprintf("s%d", i%5), at, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DB.ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}

		s := rg.specs[0]
		q, err := parseList(s, rg.limits, "status=s2")
		if err != nil {
			t.Fatal(err)
		}
		after := &position{createdAt: t0.Add(3000 * time.Second), idArg: "ffffffff-ffff-4fff-bfff-ffffffffffff"}
		octx := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: "org-1"})
		for _, c := range []struct {
			name  string
			after *position
		}{{"first page", nil}, {"keyset page", after}} {
			query, args, err := s.table.SelectSQL(octx, s.listQuery(q, c.after))
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, db, query, args)
			if !strings.Contains(plan, "items_status_gatehouse_idx") {
				t.Errorf("%s: the plan does not use the indexed filter's index:\n%s\n%s", c.name, query, plan)
			}
			if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
				t.Errorf("%s: the plan sorts:\n%s\n%s", c.name, query, plan)
			}
		}
	})
}

// explain returns the plan of query: EXPLAIN QUERY PLAN's details on
// SQLite, EXPLAIN's lines on PostgreSQL (the custom plan for args).
func explain(t *testing.T, db dbtest.DB, query string, args []any) string {
	t.Helper()
	rows, err := db.DB.Query("EXPLAIN QUERY PLAN "+query, args...)
	if db.Dialect == tenancy.Postgres {
		rows, err = db.DB.Query("EXPLAIN "+query, args...)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b.WriteString(vals[len(vals)-1].String + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
