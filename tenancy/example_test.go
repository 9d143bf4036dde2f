package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gatehouse.dev"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

func Example() {
	dir, _ := os.MkdirTemp("", "tenancy-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "example.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, body TEXT)`)

	notes := tenancy.Table{Name: "notes", Dialect: tenancy.SQLite}
	acme := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: "org-acme"})
	globex := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: "org-globex"})
	_ = notes.Insert(acme, db, []tenancy.Assign{{Column: "id", Value: "n1"}, {Column: "body", Value: "Call back 50% Off customer"}})
	_ = notes.Insert(globex, db, []tenancy.Assign{{Column: "id", Value: "n2"}, {Column: "body", Value: "call back tomorrow"}})

	search := func(ctx context.Context, q string) {
		rows, err := notes.Select(ctx, db, tenancy.Query{
			Columns: []string{"id"},
			Where:   []tenancy.Cond{tenancy.Contains(tenancy.SQLite, []string{"body"}, q)},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			fmt.Printf("%q finds %s\n", q, id)
		}
	}
	search(acme, "CALL BACK") // only Acme's note
	search(globex, "call")    // only Globex's note
	search(acme, "50% off")   // '%' matches itself
	search(acme, "5_")        // '_' matches itself: nothing
	ok, _ := notes.Exists(globex, db, "n1")
	fmt.Println("Globex sees n1:", ok)

	_, err = notes.Select(ctx, db, tenancy.Query{Columns: []string{"id"}})
	fmt.Println(errors.Is(err, tenancy.ErrNoOrganization))
	// Output:
	// "CALL BACK" finds n1
	// "call" finds n2
	// "50% off" finds n1
	// Globex sees n1: false
	// true
}
