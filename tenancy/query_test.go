package tenancy_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

const org = "11111111-1111-4111-8111-111111111111"

func orgCtx() context.Context {
	return gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: org})
}

func newMock(t *testing.T) (*sql.DB, sqlmock.Sqlmock) {
	t.Helper()
	db, mock, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	})
	return db, mock
}

func TestSelectSQLShape(t *testing.T) {
	t.Parallel()
	q := tenancy.Query{
		Columns: []string{"id", "first_name"},
		Where: []tenancy.Cond{
			tenancy.Eq("status", "new"),
			tenancy.Contains(tenancy.SQLite, []string{"first_name", "email"}, "Ab%"),
		},
		OrderBy: []tenancy.Order{{Column: "created_at", Desc: true}, {Column: "id", Desc: true}},
		Limit:   50,
		Offset:  10,
	}
	tests := []struct {
		name  string
		table tenancy.Table
		q     tenancy.Query
		want  string
		args  []any
	}{
		{
			name:  "sqlite",
			table: tenancy.Table{Name: "leads", Dialect: tenancy.SQLite},
			q:     q,
			want: `SELECT "id", "first_name" FROM "leads" WHERE "organization_id" = ? AND ("status" = ?)` +
				` AND ("first_name" LIKE ? ESCAPE '\' OR "email" LIKE ? ESCAPE '\')` +
				` ORDER BY "created_at" DESC, "id" DESC LIMIT ? OFFSET ?`,
			args: []any{org, "new", `%ab\%%`, `%ab\%%`, 50, 10},
		},
		{
			name:  "postgres",
			table: tenancy.Table{Name: "crm.leads", OrgColumn: "org_id", Dialect: tenancy.Postgres},
			q: tenancy.Query{
				Columns: []string{"id"},
				Where:   []tenancy.Cond{tenancy.Contains(tenancy.Postgres, []string{"first_name"}, "x_Y"), tenancy.Gte("created_at", "t")},
				Limit:   5,
			},
			want: `SELECT "id" FROM "crm"."leads" WHERE "org_id" = $1 AND (lower("first_name" COLLATE "C") LIKE $2 ESCAPE '\')` +
				` AND ("created_at" >= $3) LIMIT $4`,
			args: []any{org, `%x\_y%`, "t", 5},
		},
		{
			name:  "sqlite offset without limit",
			table: tenancy.Table{Name: "t", Dialect: tenancy.SQLite},
			q:     tenancy.Query{Columns: []string{"id"}, Offset: 3},
			want:  `SELECT "id" FROM "t" WHERE "organization_id" = ? LIMIT -1 OFFSET ?`,
			args:  []any{org, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, args, err := tc.table.SelectSQL(orgCtx(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SQL\n got %s\nwant %s", got, tc.want)
			}
			if len(args) != len(tc.args) {
				t.Fatalf("args %v, want %v", args, tc.args)
			}
			for i := range args {
				if args[i] != tc.args[i] {
					t.Errorf("arg %d = %v, want %v", i, args[i], tc.args[i])
				}
			}
		})
	}
}

func TestStatementsThroughMock(t *testing.T) {
	t.Parallel()
	for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ph := func(sqlite, pg string) string {
				if d == tenancy.Postgres {
					return pg
				}
				return sqlite
			}
			db, mock := newMock(t)
			tbl := tenancy.Table{Name: "leads", Dialect: d}
			ctx := orgCtx()

			mock.ExpectQuery(ph(`SELECT 1 FROM "leads" WHERE "organization_id" = ? AND "id" = ?`,
				`SELECT 1 FROM "leads" WHERE "organization_id" = $1 AND "id" = $2`)).
				WithArgs(org, "x").WillReturnRows(sqlmock.NewRows([]string{"1"}).AddRow(1))
			if ok, err := tbl.Exists(ctx, db, "x"); err != nil || !ok {
				t.Fatalf("Exists = %v, %v", ok, err)
			}

			mock.ExpectQuery(ph(`SELECT 1 FROM "leads" WHERE "organization_id" = ? AND "id" = ?`,
				`SELECT 1 FROM "leads" WHERE "organization_id" = $1 AND "id" = $2`)).
				WithArgs(org, "y").WillReturnRows(sqlmock.NewRows([]string{"1"}))
			if ok, err := tbl.Exists(ctx, db, "y"); err != nil || ok {
				t.Fatalf("Exists(missing) = %v, %v", ok, err)
			}

			mock.ExpectExec(ph(`INSERT INTO "leads" ("organization_id", "id", "name") VALUES (?, ?, ?)`,
				`INSERT INTO "leads" ("organization_id", "id", "name") VALUES ($1, $2, $3)`)).
				WithArgs(org, "x", "n").WillReturnResult(sqlmock.NewResult(0, 1))
			if err := tbl.Insert(ctx, db, []tenancy.Assign{{Column: "id", Value: "x"}, {Column: "name", Value: "n"}}); err != nil {
				t.Fatal(err)
			}

			mock.ExpectExec(ph(`UPDATE "leads" SET "name" = ?, "status" = ? WHERE "organization_id" = ? AND "id" = ?`,
				`UPDATE "leads" SET "name" = $1, "status" = $2 WHERE "organization_id" = $3 AND "id" = $4`)).
				WithArgs("n", nil, org, "x").WillReturnResult(sqlmock.NewResult(0, 0))
			if ok, err := tbl.Update(ctx, db, "x", []tenancy.Assign{{Column: "name", Value: "n"}, {Column: "status", Value: nil}}); err != nil || ok {
				t.Fatalf("Update(other org) = %v, %v", ok, err)
			}

			mock.ExpectQuery(ph(`SELECT "id", "name" FROM "leads" WHERE "organization_id" = ? AND "id" = ?`,
				`SELECT "id", "name" FROM "leads" WHERE "organization_id" = $1 AND "id" = $2`)).
				WithArgs(org, "x").WillReturnRows(sqlmock.NewRows([]string{"id", "name"}).AddRow("x", "n"))
			var id, name string
			if err := tbl.Get(ctx, db, "x", []string{"id", "name"}, &id, &name); err != nil || id != "x" || name != "n" {
				t.Fatalf("Get = %q %q %v", id, name, err)
			}

			mock.ExpectQuery(ph(`INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES (?, ?, 1) ON CONFLICT (organization_id, name) DO UPDATE SET value = gatehouse_sequences.value + 1 RETURNING value`,
				`INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES ($1, $2, 1) ON CONFLICT (organization_id, name) DO UPDATE SET value = gatehouse_sequences.value + 1 RETURNING value`)).
				WithArgs(org, "leads.lead_number").WillReturnRows(sqlmock.NewRows([]string{"value"}).AddRow(7))
			if v, err := tenancy.NextSequence(ctx, db, d, "leads.lead_number"); err != nil || v != 7 {
				t.Fatalf("NextSequence = %d, %v", v, err)
			}
		})
	}
}

// TestFailClosed: with no organization in the context nothing reaches the
// database (the mock has no expectations, so any statement fails the test).
func TestFailClosed(t *testing.T) {
	t.Parallel()
	db, _ := newMock(t)
	tbl := tenancy.Table{Name: "leads", Dialect: tenancy.SQLite}
	for name, ctx := range map[string]context.Context{
		"no organization":    context.Background(),
		"empty organization": gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: ""}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tbl.Select(ctx, db, tenancy.Query{Columns: []string{"id"}}); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("Select: %v", err)
			}
			var id string
			if err := tbl.Get(ctx, db, "x", []string{"id"}, &id); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("Get: %v", err)
			}
			if err := tbl.Insert(ctx, db, []tenancy.Assign{{Column: "id", Value: "x"}}); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("Insert: %v", err)
			}
			if _, err := tbl.Update(ctx, db, "x", []tenancy.Assign{{Column: "name", Value: "x"}}); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("Update: %v", err)
			}
			if _, err := tbl.Exists(ctx, db, "x"); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("Exists: %v", err)
			}
			if _, err := tenancy.NextSequence(ctx, db, tenancy.SQLite, "s"); !errors.Is(err, tenancy.ErrNoOrganization) {
				t.Errorf("NextSequence: %v", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	db, _ := newMock(t)
	ctx := orgCtx()
	tbl := tenancy.Table{Name: "leads", Dialect: tenancy.Postgres}
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"insert sets org column", func() error {
			return tbl.Insert(ctx, db, []tenancy.Assign{{Column: "organization_id", Value: "other"}})
		}, nil},
		{"insert column twice", func() error {
			return tbl.Insert(ctx, db, []tenancy.Assign{{Column: "a", Value: 1}, {Column: "a", Value: 2}})
		}, nil},
		{"update org column", func() error {
			_, err := tbl.Update(ctx, db, "x", []tenancy.Assign{{Column: "organization_id", Value: "other"}})
			return err
		}, nil},
		{"update id column", func() error {
			_, err := tbl.Update(ctx, db, "x", []tenancy.Assign{{Column: "id", Value: "y"}})
			return err
		}, nil},
		{"update nothing", func() error { _, err := tbl.Update(ctx, db, "x", nil); return err }, nil},
		{"bad column", func() error {
			_, err := tbl.Select(ctx, db, tenancy.Query{Columns: []string{`id"; DROP TABLE x; --`}})
			return err
		}, tenancy.ErrInvalidIdentifier},
		{"bad table", func() error {
			_, err := tenancy.Table{Name: "a.b.c", Dialect: tenancy.SQLite}.Exists(ctx, db, "x")
			return err
		}, tenancy.ErrInvalidIdentifier},
		{"bad org column", func() error {
			_, err := tenancy.Table{Name: "t", OrgColumn: "1org", Dialect: tenancy.SQLite}.Exists(ctx, db, "x")
			return err
		}, tenancy.ErrInvalidIdentifier},
		{"bad order column", func() error {
			_, err := tbl.Select(ctx, db, tenancy.Query{Columns: []string{"id"}, OrderBy: []tenancy.Order{{Column: "x y"}}})
			return err
		}, tenancy.ErrInvalidIdentifier},
		{"placeholder mismatch", func() error {
			_, err := tbl.Select(ctx, db, tenancy.Query{Columns: []string{"id"}, Where: []tenancy.Cond{{SQL: "a = ? OR b = ?", Args: []any{1}}}})
			return err
		}, nil},
		{"empty condition", func() error {
			_, err := tbl.Select(ctx, db, tenancy.Query{Columns: []string{"id"}, Where: []tenancy.Cond{{SQL: " "}}})
			return err
		}, nil},
		{"no columns", func() error { _, err := tbl.Select(ctx, db, tenancy.Query{}); return err }, nil},
		{"zero dialect", func() error { _, err := tenancy.Table{Name: "t"}.Exists(ctx, db, "x"); return err }, nil},
		{"sequence zero dialect", func() error { _, err := tenancy.NextSequence(ctx, db, 0, "s"); return err }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestEscapeLikeAndQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":         "",
		"abc":      "abc",
		"50%":      `50\%`,
		"a_b":      `a\_b`,
		`c:\x`:     `c:\\x`,
		`%_\`:      `\%\_\\`,
		"ünï_Çode": `ünï\_Çode`,
	} {
		if got := tenancy.EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
	if got := tenancy.QuoteIdent(`a"b`); got != `"a""b"` {
		t.Errorf("QuoteIdent = %s", got)
	}
	for name, want := range map[string]bool{"a": true, "_x1": true, "Lead_Number": true, "1a": false, "": false, "a-b": false, "a b": false, "ä": false} {
		if got := tenancy.ValidIdent(name); got != want {
			t.Errorf("ValidIdent(%q) = %v", name, got)
		}
	}
}

func TestContainsFoldsASCIIOnly(t *testing.T) {
	t.Parallel()
	c := tenancy.Contains(tenancy.Postgres, []string{"a"}, "ÄbC")
	if got := c.Args[0]; got != "%Äbc%" {
		t.Errorf("pattern = %q", got)
	}
	if c := tenancy.Contains(tenancy.SQLite, nil, "x"); c.SQL != "1 = 0" || len(c.Args) != 0 {
		t.Errorf("no columns: %+v", c)
	}
}
