package stack_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// TestGraphQL serves Options.GraphQL through the stack: a key reads and
// writes over GraphQL, each query is paid in points (the RateLimit headers
// speak points), the audit log records the route and the root fields, the
// OpenAPI document lists it, and GraphQLSDL gives the schema it serves.
func TestGraphQL(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, db dbtest.DB, o stack.Options) {
		o.GraphQL.Path = "/v1/graphql"
		e := newEnv(t, db, o)
		org, key, keyID := e.tenant("notes:read", "notes:create")
		if r := e.key(key, "POST", "/v1/notes", `{"title":"one"}`); r.code != 201 {
			t.Fatalf("REST create: %d %s", r.code, r.raw)
		}
		// 1 for the root field, 10 for first: 11 of 60 × 50 points.
		r := e.key(key, "POST", "/v1/graphql", `{"query":"{ notes(first: 10) { nodes { title databaseId } } }"}`)
		nodes, _ := r.data()["notes"].(map[string]any)["nodes"].([]any)
		if r.code != 200 || len(nodes) != 1 || nodes[0].(map[string]any)["title"] != "one" {
			t.Fatalf("query: %d %s", r.code, r.raw)
		}
		// The headers speak points: the bucket of 60 requests a minute
		// holds 3000, of which the query took 11 (one less on Redis,
		// whose GCRA rounds to the millisecond).
		remaining := func(r answer) int { n, _ := strconv.Atoi(r.header.Get("X-RateLimit-Remaining")); return n }
		r1 := remaining(r)
		if got := r.header.Get("X-RateLimit-Limit"); got != "3000" || r1 < 2988 || r1 > 2989 {
			t.Errorf("X-RateLimit-Limit %q, -Remaining %d: want 3000 and 3000 - 11", got, r1)
		}
		cost, _ := r.body["extensions"].(map[string]any)["cost"].(map[string]any)
		if cost["requestedQueryCost"] != float64(11) {
			t.Errorf("extensions.cost %v, want requestedQueryCost 11", cost)
		}
		// A mutation costs 10 (the bucket refills 50 points a second
		// meanwhile, never above 3000).
		r = e.key(key, "POST", "/v1/graphql", `{"query":"mutation { noteCreate(input: {title: \"two\"}) { note { title } userErrors { message path } } }"}`)
		if r2 := remaining(r); r.code != 200 || r2 < r1-11 || r2 > 2990 || !strings.Contains(r.raw, `"title":"two"`) {
			t.Fatalf("mutation: %d %s (remaining %d after %d)", r.code, r.raw, r2, r1)
		}
		// A key of 1 request a minute has 50 points: a query of 41 passes,
		// the next has to wait (429 with Retry-After, the REST envelope).
		r = e.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"slow","scopes":["notes:read"],"rate_limit_per_minute":1}`)
		slow := r.str("key")
		const q40 = `{"query":"{ notes(first: 40) { nodes { title } } }"}`
		if r := e.key(slow, "POST", "/v1/graphql", q40); r.code != 200 || r.header.Get("X-RateLimit-Limit") != "50" {
			t.Fatalf("slow key, first query: %d %s %v", r.code, r.raw, r.header)
		}
		if r := e.key(slow, "POST", "/v1/graphql", q40); r.code != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("slow key, second query: %d %s %v", r.code, r.raw, r.header)
		}
		// The same chain as REST: no key is the REST 401.
		if r := call(t, e.h, "POST", "/v1/graphql", `{"query":"{ notes { nodes { title } } }"}`); r.code != 401 || r.body["request_id"] == "" {
			t.Fatalf("no key: %d %s", r.code, r.raw)
		}
		entries := e.auditOf(org, keyID, 3)
		if len(entries) != 3 || entries[0]["route"] != "/v1/graphql" || entries[1]["route"] != "/v1/graphql" || entries[0]["status"] != float64(200) ||
			fmt.Sprint(entries[0]["operations"]) != "[noteCreate]" || fmt.Sprint(entries[1]["operations"]) != "[notes]" {
			t.Errorf("audit: %v", entries)
		}
		doc := e.key(key, "GET", "/v1/openapi.json", "")
		op, _ := doc.body["paths"].(map[string]any)["/v1/graphql"].(map[string]any)["post"].(map[string]any)
		if op["operationId"] != "graphql" || op["summary"] != stack.DefaultGraphQLSummary {
			t.Errorf("OpenAPI /v1/graphql: %v", op)
		}
		sdl, err := e.s.GraphQLSDL()
		if err != nil || sdl != e.s.GraphQL().SDL() || !strings.Contains(sdl, "type Note ") {
			t.Errorf("GraphQLSDL: %v\n%s", err, sdl)
		}
	})
}

// TestGraphQLOff: without Options.GraphQL nothing is served, and the
// schema can still be printed.
func TestGraphQLOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, stack.Options{})
	if e.s.GraphQL() != nil {
		t.Error("GraphQL() is not nil while off")
	}
	_, key, _ := e.tenant("notes:read")
	if r := e.key(key, "POST", "/v1/graphql", `{"query":"{ notes { nodes { title } } }"}`); r.code != 404 {
		t.Errorf("POST /v1/graphql while off: %d %s", r.code, r.raw)
	}
	if sdl, err := e.s.GraphQLSDL(); err != nil || !strings.Contains(sdl, "notes(") {
		t.Errorf("GraphQLSDL: %v\n%s", err, sdl)
	}
	doc := e.key(key, "GET", "/v1/openapi.json", "")
	if _, ok := doc.body["paths"].(map[string]any)["/v1/graphql"]; ok {
		t.Error("the OpenAPI document lists /v1/graphql while off")
	}
}

func TestGraphQLOptionsErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"v1/graphql", "/v1/graphql/"} {
		_, err := stack.New(context.Background(), stack.Options{DB: dbtest.SQLite(t), KeyPrefix: "test", Keyring: keyring(t), GraphQL: stack.GraphQLOptions{Path: p}})
		if err == nil || !strings.Contains(err.Error(), "Options.GraphQL.Path") {
			t.Errorf("Path %q: %v", p, err)
		}
	}
}
