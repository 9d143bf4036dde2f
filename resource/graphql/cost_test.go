package graphql_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// bucket is a points bucket for tests: capacity points, refilled at rate
// points per second of the injected clock.
type bucket struct {
	mu        sync.Mutex
	capacity  int
	available float64
	rate      float64
	now       time.Time
	last      time.Time
	charged   []int
}

func (b *bucket) charge(_ context.Context, cost int) (graphql.Throttle, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.available = min(float64(b.capacity), b.available+b.now.Sub(b.last).Seconds()*b.rate)
	b.last = b.now
	th := graphql.Throttle{Maximum: b.capacity, RestoreRate: b.rate}
	if cost > b.capacity || float64(cost) > b.available {
		th.Available = int(b.available)
		if cost <= b.capacity {
			th.RetryAfter = time.Duration((float64(cost) - b.available) / b.rate * float64(time.Second))
		}
		return th, nil
	}
	b.available -= float64(cost)
	b.charged = append(b.charged, cost)
	th.Allowed, th.Available = true, int(b.available)
	return th, nil
}

// TestCost checks the requested cost of queries and the limits enforced
// before execution.
func TestCost(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	b := &bucket{capacity: 3000, available: 3000, rate: 50, now: time.Unix(1e9, 0)}
	b.last = b.now
	e := newEnv(t, db, graphql.Options{Charge: b.charge})
	org := uuid.New()
	client := e.create(org, "clients", `{"first_name":"C"}`)
	for i := range 3 {
		e.create(org, "leads", fmt.Sprintf(`{"first_name":"L%d","client_id":%q}`, i, client))
	}
	cases := []struct {
		name, query string
		cost        int
	}{
		{"reference", `{ leads(first: 20) { nodes { client { firstName } } } }`, 41},
		{"default first", `{ leads { nodes { id } } }`, 51},
		{"no references", `{ leads(first: 20) { nodes { firstName } pageInfo { hasNextPage } } }`, 21},
		{"aliases count twice", `{ a: leads(first: 10) { nodes { id } } b: leads(first: 10) { nodes { id } } }`, 22},
		{"fragments expand", `{ leads(first: 20) { ...C } } fragment C on LeadConnection { nodes { client { id } } edges { node { client { id } } } }`, 61},
		{"skip counts", `{ leads(first: 20) { nodes { client @skip(if: true) { id } } } }`, 41},
		{"get", `{ lead(id: "x") { client { id } } }`, 2},
		{"node", `{ node(id: "x") { id ... on Appointment { lead { client { id } } } } }`, 3},
		{"introspection", `{ __schema { queryType { name } } __type(name: "Lead") { name } }`, 2},
		{"typename", `{ __typename }`, 0},
		{"mutation", `mutation { leadCreate(input: {firstName: "x"}) { lead { client { id } } userErrors { message } } }`, 11},
		{"two mutations", `mutation { a: clientCreate(input: {firstName: "x"}) { client { id } } b: clientCreate(input: {firstName: "y"}) { client { id } } }`, 20},
		{"first clamps", `{ leads(first: 5000) { nodes { id } } }`, 1001},
	}
	for _, tc := range cases {
		r := e.post(org, e.all, tc.query, nil)
		if got := get(r.Ext, "cost", "requestedQueryCost"); got != float64(tc.cost) {
			t.Errorf("%s: requestedQueryCost %v, want %d: %s", tc.name, got, tc.cost, r.Raw)
		}
		if get(r.Ext, "cost", "throttleStatus", "maximumAvailable") != float64(3000) || get(r.Ext, "cost", "throttleStatus", "restoreRate") != float64(50) {
			t.Errorf("%s: throttleStatus %v", tc.name, get(r.Ext, "cost"))
		}
	}
	// The cost-41 query took 41 points; its actual cost counts what ran:
	// 1 + 4 leads (one made by the mutation case) + 3 clients.
	b.available, b.charged = 3000, nil
	r := e.post(org, e.all, `{ leads(first: 20) { nodes { client { firstName } } } }`, nil)
	if len(b.charged) != 1 || b.charged[0] != 41 || get(r.Ext, "cost", "actualQueryCost") != float64(8) ||
		get(r.Ext, "cost", "throttleStatus", "currentlyAvailable") != float64(3000-41) {
		t.Errorf("charged %v, cost %v", b.charged, get(r.Ext, "cost"))
	}

	// Over capacity: refused before execution, nothing charged.
	b.charged = nil
	r = e.post(org, e.all, `{ a: leads(first: 1000) { nodes { client { id } } } b: leads(first: 1000) { nodes { id } } }`, nil)
	if r.Code != http.StatusBadRequest || r.HasData || get(r.Errors[0], "extensions", "code") != "MAX_COST_EXCEEDED" || len(b.charged) != 0 {
		t.Errorf("over capacity: %d %s", r.Code, r.Raw)
	}
	// The bucket cannot pay now: 429 with Retry-After, in the REST shape.
	b.available = 10
	r = e.post(org, e.all, `{ leads(first: 20) { nodes { id } } }`, nil)
	if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Raw, `"error":"Rate limit exceeded"`) {
		t.Errorf("429: %d %v %s", r.Code, r.Header, r.Raw)
	}
	// Time refills the bucket.
	b.now = b.now.Add(time.Second)
	if r = e.post(org, e.all, `{ leads(first: 20) { nodes { id } } }`, nil); r.Code != http.StatusOK {
		t.Errorf("after refill: %d %s", r.Code, r.Raw)
	}

	// Depth and aliases are refused before execution.
	b.available = 3000
	deep := `{ appointments { nodes { lead { client { firstName } } } } }`
	if r = e.post(org, e.all, deep, nil); r.Code != http.StatusOK {
		t.Errorf("depth 5: %s", r.Raw)
	}
	e2 := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{MaxDepth: 4, MaxAliases: 2})
	r = e2.post(org, e2.all, deep, nil)
	if r.Code != http.StatusBadRequest || get(r.Errors[0], "extensions", "code") != "MAX_DEPTH_EXCEEDED" {
		t.Errorf("depth: %d %s", r.Code, r.Raw)
	}
	r = e2.post(org, e2.all, `{ a: __typename b: __typename c: __typename }`, nil)
	if r.Code != http.StatusBadRequest || get(r.Errors[0], "extensions", "code") != "MAX_ALIASES_EXCEEDED" {
		t.Errorf("aliases: %d %s", r.Code, r.Raw)
	}
	// Aliases count after fragment expansion.
	r = e2.post(org, e2.all, `{ ...F x: __typename } fragment F on Query { a: __typename b: __typename }`, nil)
	if r.Code != http.StatusBadRequest || get(r.Errors[0], "extensions", "code") != "MAX_ALIASES_EXCEEDED" {
		t.Errorf("aliases in fragments: %d %s", r.Code, r.Raw)
	}
	// Introspection does not count for the depth.
	r = e2.post(org, e2.all, `{ __type(name: "Lead") { fields { type { ofType { ofType { name } } } } } }`, nil)
	if r.Code != http.StatusOK || len(r.Errors) != 0 {
		t.Errorf("introspection depth: %d %s", r.Code, r.Raw)
	}
}
