package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/tenancy"
)

const (
	orgA = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	orgB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
)

func createItems(t *testing.T, db dbtest.DB) tenancy.Table {
	t.Helper()
	ddl := `CREATE TABLE items (
		id TEXT PRIMARY KEY,
		organization_id TEXT NOT NULL,
		name TEXT,
		num BIGINT,
		created_at TEXT NOT NULL
	)`
	if db.Dialect == tenancy.Postgres {
		ddl = `CREATE TABLE items (
			id uuid PRIMARY KEY,
			organization_id uuid NOT NULL,
			name text,
			num bigint,
			created_at timestamptz NOT NULL
		)`
	}
	if _, err := db.DB.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	if err := tenancy.Migrate(context.Background(), db.DB, db.Dialect, "sequences", tenancy.SequenceDDL(db.Dialect)); err != nil {
		t.Fatal(err)
	}
	return tenancy.Table{Name: "items", Dialect: db.Dialect}
}

func insertItem(t *testing.T, ctx context.Context, db tenancy.Querier, tbl tenancy.Table, name string, at time.Time) string {
	t.Helper()
	id := uuid.New()
	err := tbl.Insert(ctx, db, []tenancy.Assign{
		{Column: "id", Value: id},
		{Column: "name", Value: name},
		{Column: "created_at", Value: tbl.Dialect.TimeValue(at)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func names(t *testing.T, ctx context.Context, db *sql.DB, tbl tenancy.Table, where ...tenancy.Cond) []string {
	t.Helper()
	rows, err := tbl.Select(ctx, db, tenancy.Query{
		Columns: []string{"name"},
		Where:   where,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out) // in Go: collations differ between databases
	return out
}

func TestOnDatabases(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		if d, err := tenancy.DialectOf(db.DB); err != nil || d != db.Dialect {
			t.Errorf("DialectOf = %v, %v; want %v", d, err, db.Dialect)
		}
		tbl := createItems(t, db)
		a := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: orgA})
		b := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: orgB})
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		aID := insertItem(t, a, db.DB, tbl, "Alpha", t0)
		bID := insertItem(t, b, db.DB, tbl, "Beta", t0.Add(time.Hour))
		insertItem(t, a, db.DB, tbl, "Gamma", t0.Add(2*time.Hour))

		t.Run("select is scoped", func(t *testing.T) {
			if got := names(t, a, db.DB, tbl); !slices.Equal(got, []string{"Alpha", "Gamma"}) {
				t.Errorf("org A sees %v", got)
			}
			if got := names(t, b, db.DB, tbl); !slices.Equal(got, []string{"Beta"}) {
				t.Errorf("org B sees %v", got)
			}
			if got := names(t, a, db.DB, tbl, tenancy.Eq("id", bID)); len(got) != 0 {
				t.Errorf("org A filtering by org B's id sees %v", got)
			}
			// An OR inside a condition stays inside the organization.
			or := tenancy.Cond{SQL: `"name" = ? OR 1 = 1`, Args: []any{"x"}}
			if got := names(t, b, db.DB, tbl, or); !slices.Equal(got, []string{"Beta"}) {
				t.Errorf("OR condition leaked: %v", got)
			}
			got := names(t, a, db.DB, tbl, tenancy.Gte("created_at", db.Dialect.TimeValue(t0.Add(time.Minute))))
			if !slices.Equal(got, []string{"Gamma"}) {
				t.Errorf("created_at >= : %v", got)
			}
			got = names(t, a, db.DB, tbl, tenancy.Lt("created_at", db.Dialect.TimeValue(t0.Add(time.Minute))))
			if !slices.Equal(got, []string{"Alpha"}) {
				t.Errorf("created_at < : %v", got)
			}
		})

		t.Run("get exists update are scoped", func(t *testing.T) {
			var name string
			if err := tbl.Get(b, db.DB, aID, []string{"name"}, &name); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("org B gets org A's row: %v %q", err, name)
			}
			if err := tbl.Get(a, db.DB, aID, []string{"name"}, &name); err != nil || name != "Alpha" {
				t.Errorf("Get = %q, %v", name, err)
			}
			if ok, err := tbl.Exists(b, db.DB, aID); err != nil || ok {
				t.Errorf("org B: Exists(A's row) = %v, %v", ok, err)
			}
			if ok, err := tbl.Exists(a, db.DB, aID); err != nil || !ok {
				t.Errorf("org A: Exists(A's row) = %v, %v", ok, err)
			}
			if ok, err := tbl.Update(b, db.DB, aID, []tenancy.Assign{{Column: "name", Value: "hijacked"}}); err != nil || ok {
				t.Errorf("org B updates org A's row: %v, %v", ok, err)
			}
			if ok, err := tbl.Update(a, db.DB, aID, []tenancy.Assign{{Column: "name", Value: "Alpha"}}); err != nil || !ok {
				t.Errorf("org A updates its row with the same value: %v, %v", ok, err)
			}
			if err := tbl.Get(a, db.DB, aID, []string{"name"}, &name); err != nil || name != "Alpha" {
				t.Errorf("after update: %q, %v", name, err)
			}
		})

		t.Run("search", func(t *testing.T) {
			c := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: uuid.New()})
			for _, n := range []string{"Müller", "MÜLLER", "ab%cd", "abXcd", "a_b", "axb", `back\slash`, "backXslash", "Straße"} {
				insertItem(t, c, db.DB, tbl, n, t0)
			}
			tests := []struct {
				q    string
				want []string
			}{
				{"mül", []string{"Müller"}},
				{"MÜL", []string{"MÜLLER"}},
				{"LLER", []string{"MÜLLER", "Müller"}},
				{"%", []string{"ab%cd"}},
				{"b%C", []string{"ab%cd"}},
				{"_", []string{"a_b"}},
				{"A_B", []string{"a_b"}},
				{`\`, []string{`back\slash`}},
				{`k\s`, []string{`back\slash`}},
				{"STRASSE", nil},
				{"straße", []string{"Straße"}},
				{"", []string{"MÜLLER", "Müller", "Straße", "a_b", "ab%cd", "abXcd", "axb", "backXslash", `back\slash`}},
			}
			for _, tc := range tests {
				got := names(t, c, db.DB, tbl, tenancy.Contains(db.Dialect, []string{"name"}, tc.q))
				if !slices.Equal(got, tc.want) {
					t.Errorf("Contains(%q) = %q, want %q", tc.q, got, tc.want)
				}
			}
		})

		t.Run("sequence is per organization and gap-free under concurrency", func(t *testing.T) {
			ctx := context.Background()
			c := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: uuid.New()})
			d := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: uuid.New()})
			const n = 20
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					errs <- func() error {
						tx, err := db.DB.BeginTx(c, nil)
						if err != nil {
							return err
						}
						defer func() { _ = tx.Rollback() }()
						v, err := tenancy.NextSequence(c, tx, db.Dialect, "items.num")
						if err != nil {
							return err
						}
						if err := tbl.Insert(c, tx, []tenancy.Assign{
							{Column: "id", Value: uuid.New()},
							{Column: "name", Value: fmt.Sprint("seq", i)},
							{Column: "num", Value: v},
							{Column: "created_at", Value: db.Dialect.TimeValue(t0)},
						}); err != nil {
							return err
						}
						return tx.Commit()
					}()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			rows, err := tbl.Select(c, db.DB, tenancy.Query{Columns: []string{"num"}, OrderBy: []tenancy.Order{{Column: "num"}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for rows.Next() {
				var v int64
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			_ = rows.Close()
			for i, v := range got {
				if v != int64(i+1) {
					t.Fatalf("numbers %v are not 1..%d", got, n)
				}
			}
			if len(got) != n {
				t.Fatalf("%d rows", len(got))
			}

			// A rolled-back transaction gives its number back.
			tx, err := db.DB.BeginTx(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := tenancy.NextSequence(c, tx, db.Dialect, "items.num"); err != nil || v != n+1 {
				t.Fatalf("next = %d, %v", v, err)
			}
			_ = tx.Rollback()
			if v, err := tenancy.NextSequence(c, db.DB, db.Dialect, "items.num"); err != nil || v != n+1 {
				t.Fatalf("after rollback next = %d, %v", v, err)
			}
			// Another organization starts at 1.
			if v, err := tenancy.NextSequence(d, db.DB, db.Dialect, "items.num"); err != nil || v != 1 {
				t.Fatalf("other org next = %d, %v", v, err)
			}
		})
	})
}

// TestCondCannotWiden (issue 13, "tenancy.Cond's doc promises the
// organization predicate can't be widened, but Cond{SQL: "1=1) OR (1=1"}
// does"): a condition that would close the parentheses around it, or hide
// a parenthesis from the check in a comment, dollar quote or E'…' literal,
// is refused before it runs; a well-formed OR stays inside the caller's
// organization.
func TestCondCannotWiden(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		tbl := createItems(t, db)
		ctxA := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: orgA})
		ctxB := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: orgB})
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		insertItem(t, ctxA, db.DB, tbl, "a1", now)
		insertItem(t, ctxB, db.DB, tbl, "b1", now)
		for _, sql := range []string{
			"1=1) OR (1=1",
			"1=1)) OR ((1=1",
			"(1=1",
			"1=1 --",
			"1=1 /* ) OR (1=1 */",
			"1=1; DELETE FROM items",
			"$$($$ 1=1) OR (1=1 $$)$$",
			`name = E'\'' OR (1=1) OR '' = ''`,
			"name = 'a",
			`"name = 1`,
		} {
			_, err := tbl.Select(ctxA, db.DB, tenancy.Query{Columns: []string{"name"}, Where: []tenancy.Cond{{SQL: sql}}})
			if err == nil {
				t.Errorf("%q accepted", sql)
			}
		}
		// Parentheses inside literals and identifiers do not count; an OR
		// stays within the organization.
		got := names(t, ctxA, db.DB, tbl, tenancy.Cond{SQL: `name = ')' OR "name" = '(' OR 1=1`}, tenancy.Cond{SQL: "(num IS NULL) OR (num > ?)", Args: []any{1}})
		if !slices.Equal(got, []string{"a1"}) {
			t.Fatalf("OR inside a condition: %v", got)
		}
		if got := names(t, ctxA, db.DB, tbl, tenancy.Contains(db.Dialect, []string{"name"}, ") OR (1=1")); len(got) != 0 {
			t.Fatalf("Contains: %v", got)
		}
	})
}
