package resource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// TestCheckOrgIDType (issue 14 item 4): Check holds the organization
// column to Options.OrgIDType.
func TestCheckOrgIDType(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		pg := db.Dialect == tenancy.Postgres
		ts := "TEXT"
		if pg {
			ts = "timestamptz"
		}
		cases := []struct {
			column  string // the organization column's type
			typ     tenancy.OrgIDType
			problem string // "" means none
			warning string // "" means none
			pgOnly  bool
		}{
			{"TEXT", "", "", "", false},
			{"TEXT", tenancy.OrgIDText, "", "", false},
			{"TEXT", tenancy.OrgIDInteger, "", "", false},
			{"BIGINT", tenancy.OrgIDInteger, "", "", false},
			{"BIGINT", tenancy.OrgIDText, "text organization ids", "", false},
			{"BIGINT", "", "", "declare OrgIDType integer", true},
			{"uuid", tenancy.OrgIDInteger, "integer organization ids (OrgIDType) need a text or bigint column", "", true},
			{"uuid", "", "", "", true},
			{"varchar(40)", tenancy.OrgIDText, "", "text organization ids may have up to 64 characters", true},
		}
		for i, c := range cases {
			if c.pgOnly && !pg {
				continue
			}
			name := fmt.Sprintf("things%d", i)
			if _, err := db.DB.Exec(`CREATE TABLE ` + name + ` (id TEXT PRIMARY KEY, organization_id ` + c.column + ` NOT NULL,
				created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			reg, err := resource.New(resource.Options{
				DB: db.DB, Dialect: db.Dialect, OrgIDType: c.typ, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Resources: []resource.Resource{{Name: name}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			err = reg.Check(context.Background())
			var se *resource.SchemaError
			switch {
			case c.problem == "" && err != nil:
				t.Errorf("%s with %q: %v", c.column, c.typ, err)
			case c.problem != "" && (!errors.As(err, &se) || len(se.Problems) != 1 || !strings.Contains(se.Problems[0], c.problem)):
				t.Errorf("%s with %q: %v, want %q", c.column, c.typ, err, c.problem)
			}
			if got := strings.Contains(logs.String(), "(the organization)"); got != (c.warning != "") || !strings.Contains(logs.String(), c.warning) {
				t.Errorf("%s with %q: warnings %s, want %q", c.column, c.typ, logs.String(), c.warning)
			}
		}
		if _, err := resource.New(resource.Options{DB: db.DB, OrgIDType: "bigint", Resources: []resource.Resource{{Name: "x"}}}); err == nil {
			t.Error("unknown OrgIDType accepted")
		}
	})
}
