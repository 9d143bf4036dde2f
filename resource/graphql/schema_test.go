package graphql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// TestNameClashes: names the schema cannot hold fail New with an error
// naming both sides.
func TestNameClashes(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	cases := []struct {
		name string
		res  []resource.Resource
		want string
	}{
		{"built-in type", []resource.Resource{{Name: "page_infos", Singular: "page_info"}}, `type "PageInfo" of resource page_infos clashes with a built-in type`},
		{"node type", []resource.Resource{{Name: "nodes", Singular: "node"}}, `type "Node" of resource nodes clashes with a built-in type`},
		{"root field", []resource.Resource{{Name: "leads"}, {Name: "lead_creates", Singular: "lead_create"}}, `root field "leadCreate" of resource lead_creates clashes with resource leads`},
		{"two resources", []resource.Resource{{Name: "leads"}, {Name: "lead-s", Singular: "lead", Table: "leads2"}}, `type "Lead" of resource lead-s clashes with resource leads`},
		{"plural is singular", []resource.Resource{{Name: "sheep", Singular: "sheep"}}, `both "sheep"`},
		{"implicit field", []resource.Resource{{Name: "leads", Fields: []resource.Field{{Name: "database_id"}}}}, `field "databaseId" of type Lead (from database_id) clashes with id`},
		{"reference object", []resource.Resource{
			{Name: "leads", Fields: []resource.Field{{Name: "client"}, {Name: "client_id", References: "clients"}}},
			{Name: "clients"},
		}, `field "client" of type Lead (from client_id) clashes with client`},
		{"filter", []resource.Resource{{Name: "leads", Fields: []resource.Field{{Name: "created_after"}}, Filters: []string{"created_after"}}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := resource.New(resource.Options{DB: db, Dialect: tenancy.SQLite, Resources: tc.res})
			if err != nil {
				if tc.want == "" {
					return // the registry refuses it already
				}
				t.Fatal(err)
			}
			_, err = graphql.New(graphql.Options{Registry: reg})
			if tc.want == "" {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := graphql.New(graphql.Options{}); err == nil {
		t.Error("New without a registry")
	}
}

// TestCursorsAndFilters: a REST next_cursor is a valid after and an
// endCursor a valid REST cursor; filters and q narrow the list as the
// REST query parameters do.
func TestCursorsAndFilters(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, graphql.Options{})
		org := uuid.New()
		client := e.create(org, "clients", `{"first_name":"C"}`)
		for i := range 6 {
			status := "new"
			if i%2 == 1 {
				status = "won"
			}
			e.create(org, "leads", fmt.Sprintf(`{"first_name":"L%d","status":%q,"client_id":%q}`, i, status, client))
		}
		ctx := callerCtx(org, e.all)
		rest, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: 1, Filters: []resource.Filter{{Field: "status", Value: "new"}}})
		if err != nil || rest.NextCursor == "" {
			t.Fatal(rest, err)
		}
		q := `query($after: String, $f: LeadFilter) { leads(first: 1, after: $after, filter: $f) { edges { cursor node { firstName } } pageInfo { startCursor endCursor hasNextPage } } }`
		r := e.post(org, e.all, q, map[string]any{"after": rest.NextCursor, "f": map[string]any{"status": "new"}})
		if get(r.Data, "leads", "edges", 0, "node", "firstName") != "L2" || len(r.Errors) != 0 {
			t.Fatalf("REST cursor as after: %s", r.Raw)
		}
		end, _ := get(r.Data, "leads", "pageInfo", "endCursor").(string)
		if end != get(r.Data, "leads", "edges", 0, "cursor") || end != get(r.Data, "leads", "pageInfo", "startCursor") {
			t.Errorf("cursors: %s", r.Raw)
		}
		p, err := e.reg.List(ctx, "leads", resource.ListQuery{Cursor: end, Filters: []resource.Filter{{Field: "status", Value: "new"}}})
		if err != nil || len(p.Records) != 1 || p.Records[0].Get("first_name") != "L0" {
			t.Fatalf("endCursor as REST cursor: %v %v", p, err)
		}
		// A cursor is bound to its filters.
		r = e.post(org, e.all, q, map[string]any{"after": end})
		if get(r.Data, "leads") != nil || len(r.Errors) != 1 || r.Errors[0]["message"] != "Invalid cursor" {
			t.Errorf("cursor with other filters: %s", r.Raw)
		}
		// Filters: reference ids as EncodedIds; a malformed one matches nothing.
		r = e.post(org, e.all, `query($c: EncodedId) { a: leads(filter: {clientId: $c, status: "won"}) { nodes { firstName } } b: leads(filter: {clientId: "bad"}) { nodes { id } } c: leads(q: "l5") { nodes { firstName } } }`,
			map[string]any{"c": graphql.EncodeID("clients", client)})
		if n, _ := get(r.Data, "a", "nodes").([]any); len(n) != 3 || len(get(r.Data, "b", "nodes").([]any)) != 0 || get(r.Data, "c", "nodes", 0, "firstName") != "L5" {
			t.Errorf("filters: %s", r.Raw)
		}
		// created filters and bad filter values.
		r = e.post(org, e.all, `{ a: leads(filter: {createdAfter: "2100-01-01T00:00:00Z"}) { nodes { id } } b: leads(filter: {createdAfter: "yesterday"}) { nodes { id } } c: leads(filter: {leadNumber: "x"}) { nodes { id } } }`, nil)
		if len(get(r.Data, "a", "nodes").([]any)) != 0 || get(r.Data, "b") != nil || get(r.Data, "c") != nil || len(r.Errors) != 2 {
			t.Errorf("bad filters: %s", r.Raw)
		}
		_ = context.Background
	})
}
