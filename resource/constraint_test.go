package resource_test

import (
	"context"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// TestForeignKeyConstraints runs references over tables with real FOREIGN
// KEY constraints (as the example's): a dangling reference in an update is
// 400 "Invalid foreign key", never the database's constraint error (a 500),
// and a missing record is still 404.
func TestForeignKeyConstraints(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		id, ts := "TEXT", "TEXT"
		if db.Dialect == tenancy.Postgres {
			id, ts = "uuid", "timestamptz"
		}
		for _, s := range []string{
			`CREATE TABLE owners (id $ID PRIMARY KEY, organization_id $ID NOT NULL, name TEXT, created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
			`CREATE TABLE pets (id $ID PRIMARY KEY, organization_id $ID NOT NULL, name TEXT, owner_id $ID REFERENCES owners(id),
				created_at $TS NOT NULL, updated_at $TS NOT NULL)`,
		} {
			if _, err := db.DB.ExecContext(context.Background(), strings.NewReplacer("$ID", id, "$TS", ts).Replace(s)); err != nil {
				t.Fatal(err)
			}
		}
		e := newEnv(t, db, func(o *resource.Options) {
			o.Resources = []resource.Resource{
				{Name: "owners", Fields: []resource.Field{{Name: "name"}}},
				{Name: "pets", Fields: []resource.Field{{Name: "name"}, {Name: "owner_id", References: "owners"}}},
			}
		})
		org := uuid.New()
		owner := e.mustCreate("owners", `{"name":"Ann"}`, org)["id"].(string)
		pet := e.mustCreate("pets", `{"name":"Rex","owner_id":"`+owner+`"}`, org)["id"].(string)
		wantError(t, e.do("POST", "/v1/pets", `{"owner_id":"`+uuid.New()+`"}`, org), 400, "Invalid foreign key")
		wantError(t, e.do("PATCH", "/v1/pets/"+pet, `{"name":"Max","owner_id":"`+uuid.New()+`"}`, org), 400, "Invalid foreign key")
		wantError(t, e.do("PATCH", "/v1/pets/"+uuid.New(), `{"owner_id":"`+uuid.New()+`"}`, org), 404, "Not found")
		if r := e.do("GET", "/v1/pets/"+pet, "", org); r.data()["name"] != "Rex" || r.data()["owner_id"] != owner {
			t.Errorf("refused update was applied: %s", r.Raw)
		}
		if r := e.do("PATCH", "/v1/pets/"+pet, `{"owner_id":null}`, org); r.Code != 200 {
			t.Errorf("clearing the reference: %d %s", r.Code, r.Raw)
		}
	})
}
