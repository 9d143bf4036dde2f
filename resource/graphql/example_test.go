package graphql_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/sqldb"
)

// Example serves GraphQL from a registry: a mutation whose input the
// registry refuses answers userErrors, a query with a field the key has no
// scope for answers that field null with a FORBIDDEN error.
func Example() {
	dir, _ := os.MkdirTemp("", "graphql-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE leads (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		first_name TEXT, email TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	reg, err := resource.New(resource.Options{
		DB:  db,
		Now: func() time.Time { return time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC) },
		Resources: []resource.Resource{{
			Name:   "leads",
			Fields: []resource.Field{{Name: "first_name", Required: true}, {Name: "email", Type: resource.Email}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := graphql.New(graphql.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	post := func(scopes []string, query string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/graphql", strings.NewReader(`{"query":`+fmt.Sprintf("%q", query)+`}`))
		req.Header.Set("Content-Type", "application/json")
		ctx := gatehouse.NewRequestContext(context.Background(), "req-1")
		ctx = gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: "org-acme", Scopes: scopes})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	post([]string{"leads:create"}, `mutation { leadCreate(input: {email: "Ann <ann@example.com>"}) { lead { firstName } userErrors { message path } } }`)
	post([]string{"leads:create"}, `{ leads(first: 1) { nodes { firstName } } }`)
	// Output:
	// 200 {"data":{"leadCreate":{"lead":null,"userErrors":[{"message":"must be an email address without a display name","path":["input","email"]},{"message":"is required","path":["input","firstName"]}]}},"extensions":{"cost":{"actualQueryCost":10,"requestedQueryCost":10},"request_id":"req-1"}}
	// 200 {"errors":[{"message":"Missing scope","locations":[{"line":1,"column":3}],"path":["leads"],"extensions":{"code":"FORBIDDEN","required_scope":"leads:read"}}],"data":{"leads":null},"extensions":{"cost":{"actualQueryCost":0,"requestedQueryCost":1},"request_id":"req-1"}}
}

// ExampleHandler_SDL prints a part of the generated schema.
func ExampleHandler_SDL() {
	dir, _ := os.MkdirTemp("", "graphql-sdl-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	reg, err := resource.New(resource.Options{DB: db, Resources: []resource.Resource{{
		Name:   "clients",
		Fields: []resource.Field{{Name: "first_name", Required: true, MaxLength: 100}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := graphql.New(graphql.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	sdl := h.SDL()
	i := strings.Index(sdl, "type Client implements Node")
	for _, line := range strings.Split(sdl[i:i+strings.Index(sdl[i:], "\n}\n")+2], "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), `"""`) {
			fmt.Println(line) // descriptions left out
		}
	}
	// Output:
	// type Client implements Node {
	//   id: EncodedId!
	//   databaseId: ID!
	//   firstName: String
	//   organizationId: String!
	//   createdAt: DateTime
	//   updatedAt: DateTime
	// }
}

// ExampleEncodeID shows the opaque ids of GraphQL and the REST ids they
// hold.
func ExampleEncodeID() {
	id := graphql.EncodeID("leads", "3f1c7c2e-0d5a-4c1e-9a7b-2f6f0f3f9d10")
	name, raw, ok := graphql.DecodeID(id)
	fmt.Println(id)
	fmt.Println(name, raw, ok)
	// Output:
	// bGVhZHM6M2YxYzdjMmUtMGQ1YS00YzFlLTlhN2ItMmY2ZjBmM2Y5ZDEw
	// leads 3f1c7c2e-0d5a-4c1e-9a7b-2f6f0f3f9d10 true
}
