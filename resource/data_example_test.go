package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
)

// ExampleRegistry_Create uses the Go-level data API, as GraphQL or MCP
// front ends do: the caller's organization and scopes come from the
// context, records and errors are those of the REST API.
func ExampleRegistry_Create() {
	dir, _ := os.MkdirTemp("", "resource-data-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE leads (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		first_name TEXT, email TEXT, status TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	reg, err := resource.New(resource.Options{
		DB:  db,
		Now: func() time.Time { return time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC) },
		Resources: []resource.Resource{{
			Name:    "leads",
			Fields:  []resource.Field{{Name: "first_name"}, {Name: "email", Type: resource.Email}, {Name: "status"}},
			Filters: []string{"status"},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := gatehouse.NewCallerContext(context.Background(), gatehouse.Caller{OrgID: "org-acme", Scopes: []string{"leads:create", "leads:read"}})

	rec, err := reg.Create(ctx, "leads", map[string]json.RawMessage{"first_name": json.RawMessage(`"Ann"`), "status": json.RawMessage(`"New"`)})
	fmt.Println(rec.Get("first_name"), rec.Get("organization_id"), err)

	_, err = reg.Create(ctx, "leads", map[string]json.RawMessage{"email": json.RawMessage(`"Ann <ann@example.com>"`)})
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.Status, ge.Msg, ge.Extra["fields"])
	}

	page, err := reg.List(ctx, "leads", resource.ListQuery{Filters: []resource.Filter{{Field: "status", Value: "New"}}})
	fmt.Println(len(page.Records), page.Limit, page.HasMore, err)

	_, err = reg.Update(ctx, "leads", rec.Get("id").(string), map[string]json.RawMessage{"status": json.RawMessage(`"Won"`)})
	if errors.As(err, &ge) {
		fmt.Println(ge.Status, ge.Msg, ge.Extra["required_scope"])
	}
	// Output:
	// Ann org-acme <nil>
	// 400 Invalid field values [email]
	// 1 50 false <nil>
	// 403 Missing scope leads:update
}
