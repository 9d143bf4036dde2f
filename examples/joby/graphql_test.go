package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"gatehouse.dev/resource/graphql"
)

const sdlGolden = "testdata/schema.graphql"

// TestGraphQLSDLGolden compares the example's GraphQL schema with the
// committed file (go test ./examples/joby -run TestGraphQLSDLGolden
// -update rewrites it); -graphql-sdl prints the same text.
func TestGraphQLSDLGolden(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	sdl, err := a.app.GraphQLSDL()
	if err != nil {
		t.Fatal(err)
	}
	got := []byte(sdl)
	if *update {
		if err := os.WriteFile(sdlGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(sdlGolden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: the GraphQL schema changed. Review the change, then run\n\tgo test ./examples/joby -run TestGraphQLSDLGolden -update\n%s", sdlGolden, firstDiff(want, got))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-graphql-sdl"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), got) {
		t.Error("-graphql-sdl prints another schema")
	}
}

// gqlResp is a decoded GraphQL answer.
type gqlResp struct {
	Code   int
	Header http.Header
	Raw    string
	Body   map[string]any
}

func (r gqlResp) at(path ...any) any {
	var v any = r.Body
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// gql posts a GraphQL request with the key.
func (a *api) gql(key, query string, vars map[string]any, headers ...string) gqlResp {
	a.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/v1/graphql", bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.10:5555"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", graphql.MediaTypeResponse)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	out := gqlResp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil {
		a.t.Fatalf("answer is not JSON: %d %q", rec.Code, rec.Body.String())
	}
	return out
}

// TestGraphQL runs the second reference's shapes against the example over
// HTTP on SQLite and PostgreSQL: the same keys, scopes, organizations,
// audit log and records as REST.
func TestGraphQL(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		org, key, keyID := a.tenant()
		_, otherKey, _ := a.tenant()
		client := a.create(key, "clients", `{"first_name":"Cleo","last_name":"Client"}`)
		clientID := graphql.EncodeID("clients", client["id"].(string))
		for _, n := range []string{"Ann", "Bob", "Cy"} {
			a.create(key, "leads", `{"first_name":"`+n+`","status":"new","client_id":"`+client["id"].(string)+`"}`)
		}

		// First page, next page with after (a REST cursor works too).
		list := `query($after: String) { leads(first: 2, after: $after) { nodes { id databaseId firstName client { firstName } } pageInfo { hasNextPage endCursor } } }`
		r := a.gql(key, list, nil)
		if r.Code != http.StatusOK || r.at("data", "leads", "nodes", 0, "firstName") != "Cy" || r.at("data", "leads", "nodes", 0, "client", "firstName") != "Cleo" ||
			r.at("data", "leads", "pageInfo", "hasNextPage") != true || r.at("errors") != nil {
			t.Fatalf("first page: %d %s", r.Code, r.Raw)
		}
		if r.Header.Get("X-RateLimit-Limit") != "3000" || r.at("extensions", "cost", "requestedQueryCost") != float64(5) {
			t.Errorf("points: %v %v", r.Header, r.at("extensions", "cost"))
		}
		rest := a.key(key, "GET", "/v1/leads?limit=2", "")
		cursor, _ := rest.Body["next_cursor"].(string)
		r = a.gql(key, list, map[string]any{"after": cursor})
		if r.at("data", "leads", "nodes", 0, "firstName") != "Ann" || r.at("data", "leads", "pageInfo", "hasNextPage") != false {
			t.Fatalf("after a REST cursor: %s", r.Raw)
		}
		leadID, _ := r.at("data", "leads", "nodes", 0, "id").(string)

		// lead(id:) and node(id:); another organization's id is null + Not found.
		byID := `query($id: EncodedId!) { lead(id: $id) { firstName clientId } node(id: $id) { ... on Lead { databaseId } } }`
		r = a.gql(key, byID, map[string]any{"id": leadID})
		if r.at("data", "lead", "firstName") != "Ann" || r.at("data", "lead", "clientId") != clientID || r.at("data", "node", "databaseId") == nil {
			t.Fatalf("lead/node: %s", r.Raw)
		}
		r = a.gql(otherKey, byID, map[string]any{"id": leadID})
		if r.at("data", "lead") != nil || r.at("data", "node") != nil || r.at("errors", 0, "message") != "Not found" {
			t.Errorf("cross-organization: %s", r.Raw)
		}

		// leadCreate with a bad email: userErrors path ["input","email"].
		create := `mutation($input: LeadCreateInput!) { leadCreate(input: $input) { lead { id firstName } userErrors { message path } } }`
		r = a.gql(key, create, map[string]any{"input": map[string]any{"firstName": "Dee", "email": "dee@"}})
		if r.at("data", "leadCreate", "lead") != nil || r.at("data", "leadCreate", "userErrors", 0, "path", 1) != "email" ||
			r.at("data", "leadCreate", "userErrors", 0, "message") == nil {
			t.Fatalf("bad email: %s", r.Raw)
		}
		r = a.gql(key, create, map[string]any{"input": map[string]any{"firstName": "Dee", "clientId": clientID}})
		newID, _ := r.at("data", "leadCreate", "lead", "id").(string)
		if newID == "" {
			t.Fatalf("create: %s", r.Raw)
		}
		// leadUpdate: null clears, absent stays.
		r = a.gql(key, `mutation($id: EncodedId!) { leadUpdate(leadId: $id, input: {clientId: null, status: "won"}) { lead { firstName status clientId } userErrors { message } } }`, map[string]any{"id": newID})
		if r.at("data", "leadUpdate", "lead", "firstName") != "Dee" || r.at("data", "leadUpdate", "lead", "status") != "won" || r.at("data", "leadUpdate", "lead", "clientId") != nil {
			t.Fatalf("update: %s", r.Raw)
		}

		// A forbidden root field next to an allowed one.
		readLeads, _ := a.newKey(org, `{"name":"leads only","scopes":["leads:read"]}`)
		r = a.gql(readLeads, `{ leads(first: 1) { nodes { firstName } } clients { nodes { id } } }`, nil)
		if r.at("data", "clients") != nil || r.at("data", "leads", "nodes", 0, "firstName") == nil ||
			r.at("errors", 0, "extensions", "required_scope") != "clients:read" || r.at("errors", 1) != nil {
			t.Errorf("forbidden: %s", r.Raw)
		}

		// Malformed queries: 400 with locations and no data.
		r = a.gql(key, `{ leads(first: 1 { id } }`, nil)
		if r.Code != http.StatusBadRequest || r.at("data") != nil || r.at("errors", 0, "locations", 0, "line") != float64(1) {
			t.Errorf("malformed: %d %s", r.Code, r.Raw)
		}

		// The middleware's answers keep the REST shape; so do the
		// handler's own refusals.
		if r = a.gql("", `{ __typename }`, nil); r.Code != http.StatusUnauthorized || r.Body["error"] != "Missing API key" {
			t.Errorf("no key: %d %s", r.Code, r.Raw)
		}
		if r = a.gql(key, `{ __typename }`, nil, "Idempotency-Key", "k1"); r.Code != http.StatusBadRequest || r.Body["error"] != graphql.MsgIdempotencyKey {
			t.Errorf("Idempotency-Key: %d %s", r.Code, r.Raw)
		}
		if g := a.key(key, "GET", "/v1/graphql", ""); g.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d %s", g.Code, g.Raw)
		}

		// The audit log has the route and the root fields (never aliases).
		a.gql(key, `{ mine: leads(first: 1) { nodes { id } } clients { nodes { id } } }`, nil)
		hasOps := func(e map[string]any) bool {
			return e["route"] == "/v1/graphql" && e["method"] == "POST" && fmt.Sprint(e["operations"]) == "[leads clients]"
		}
		entries := a.auditOf(org, keyID, func(l []map[string]any) bool { return slices.ContainsFunc(l, hasOps) })
		if !slices.ContainsFunc(entries, hasOps) {
			t.Errorf("audit: %v", entries)
		}
	})
}
