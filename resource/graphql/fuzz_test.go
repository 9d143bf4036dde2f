package graphql_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// FuzzExecute runs parse → validate → cost → execute on any document and
// variables against a real registry (SQLite): never a panic, never a 5xx,
// always a JSON object with data or errors.
func FuzzExecute(f *testing.F) {
	seeds := []string{
		`{ leads(first: 2) { nodes { id firstName client { firstName } } pageInfo { hasNextPage endCursor } } }`,
		`query($id: EncodedId!) { lead(id: $id) { ...L } n: node(id: $id) { __typename ... on Lead { id } } } fragment L on Lead { id clientId }`,
		`mutation($input: LeadCreateInput!) { leadCreate(input: $input) { lead { id } userErrors { message path } } }`,
		`mutation { leadUpdate(leadId: "x", input: {email: null}) { lead { id } userErrors { message path } } }`,
		`{ __schema { types { name fields { name type { name ofType { name } } } } } }`,
		`{ leads(filter: {status: "new", createdAfter: "2026-01-01T00:00:00Z", clientId: "Y2xpZW50czp4"}, q: "a") { edges { cursor node { id } } } }`,
		`{ a: leads @skip(if: true) { nodes { id } } b: appointments @include(if: false) { nodes { id } } }`,
		`{ leads(first: 0) { nodes { id } } }`,
		`{ leads(first: 1 { id } }`,
		`{ __type(name: "Lead") { fields { name } } }`,
		`subscription { x }`,
	}
	vars := []string{`{}`, `{"id":"bGVhZHM6eA","input":{"firstName":"a","email":"x"}}`, `{"input":{"score":"12","hot":1,"customFields":{"a":1}}}`, `null`, `{"id":5}`}
	for i, s := range seeds {
		f.Add(s, vars[i%len(vars)])
	}
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(f), Dialect: tenancy.SQLite}
	e := newEnv(f, db, graphql.Options{})
	org := uuid.New()
	client := e.create(org, "clients", `{"first_name":"C"}`)
	e.create(org, "leads", `{"first_name":"L","client_id":"`+client+`"}`)
	f.Fuzz(func(t *testing.T, query, variables string) {
		var v any
		_ = json.Unmarshal([]byte(variables), &v)
		body, err := json.Marshal(map[string]any{"query": query, "variables": v})
		if err != nil {
			return
		}
		e.t = t
		r := e.raw(callerCtx(org, e.all), http.MethodPost, string(body), map[string]string{"Content-Type": "application/json", "Accept": graphql.MediaTypeResponse})
		if r.Code >= 500 {
			t.Fatalf("%d %s", r.Code, r.Raw)
		}
		if r.Code == http.StatusOK && !r.HasData && len(r.Errors) == 0 {
			t.Fatalf("neither data nor errors: %s", r.Raw)
		}
	})
}
