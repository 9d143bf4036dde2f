package graphql_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// TestHTTP checks the GraphQL-over-HTTP rules and the REST-shaped refusals.
func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{MaxBodyBytes: 4096})
	org := uuid.New()
	ctx := callerCtx(org, e.all)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name    string
		method  string
		body    string
		headers map[string]string
		code    int
		msg     string
	}{
		{"GET", http.MethodGet, "", nil, http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed},
		{"batch", http.MethodPost, `[{"query":"{ __typename }"}]`, jsonCT, http.StatusBadRequest, graphql.MsgBatchNotSupported},
		{"text/plain", http.MethodPost, `{"query":"{ __typename }"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, graphql.MsgUnsupportedMediaType},
		{"no content type", http.MethodPost, `{"query":"{ __typename }"}`, nil, http.StatusUnsupportedMediaType, graphql.MsgUnsupportedMediaType},
		{"Idempotency-Key", http.MethodPost, `{"query":"{ __typename }"}`, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k1"}, http.StatusBadRequest, graphql.MsgIdempotencyKey},
		{"too large", http.MethodPost, `{"query":"` + strings.Repeat(" ", 5000) + `{ __typename }"}`, jsonCT, http.StatusRequestEntityTooLarge, gatehouse.MsgBodyTooLarge},
		{"invalid JSON", http.MethodPost, `{"query":`, jsonCT, http.StatusBadRequest, gatehouse.MsgInvalidJSON},
		{"query not a string", http.MethodPost, `{"query":5}`, jsonCT, http.StatusBadRequest, gatehouse.MsgInvalidJSON},
		{"variables not an object", http.MethodPost, `{"query":"{ __typename }","variables":[1]}`, jsonCT, http.StatusBadRequest, gatehouse.MsgInvalidJSON},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(ctx, tc.method, tc.body, tc.headers)
			if r.Code != tc.code || !strings.Contains(r.Raw, `"error":"`+tc.msg+`"`) || !strings.Contains(r.Raw, `"request_id"`) {
				t.Errorf("%d %s, want %d %q", r.Code, r.Raw, tc.code, tc.msg)
			}
			if tc.code == http.StatusMethodNotAllowed && r.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", r.Header.Get("Allow"))
			}
		})
	}

	// GraphQL answers: request_id in extensions; the content type follows
	// Accept; operationName picks the operation.
	r := e.raw(ctx, http.MethodPost, `{"query":"query A { __typename } query B { b: __typename }","operationName":"B","variables":null}`,
		map[string]string{"Content-Type": "application/json; charset=utf-8", "Accept": "application/graphql-response+json, application/json;q=0.9"})
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != graphql.MediaTypeResponse || get(r.Data, "b") != "Query" ||
		get(r.Ext, "request_id") != gatehouse.RequestIDFromContext(ctx) {
		t.Errorf("operationName: %d %v %s", r.Code, r.Header, r.Raw)
	}
	for _, body := range []string{`{"query":"query A { __typename } query B { __typename }"}`, `{"query":""}`, `{"query":"{ __typename }","operationName":"X"}`, `{"query":"subscription { __typename }"}`} {
		r = e.raw(ctx, http.MethodPost, body, map[string]string{"Content-Type": "application/json", "Accept": graphql.MediaTypeResponse})
		if r.Code != http.StatusBadRequest || r.HasData || len(r.Errors) != 1 {
			t.Errorf("%s: %d %s", body, r.Code, r.Raw)
		}
	}
	// Variables of the wrong type are request errors.
	r = e.post(org, e.all, `query($n: Int) { leads(first: $n) { nodes { id } } }`, map[string]any{"n": "many"})
	if r.Code != http.StatusBadRequest || r.HasData || get(r.Errors[0], "extensions", "code") != "BAD_USER_INPUT" {
		t.Errorf("variables: %d %s", r.Code, r.Raw)
	}
	// Unknown and protected input fields are validation errors of the query.
	for _, q := range []string{
		`mutation { leadCreate(input: {nope: 1}) { lead { id } } }`,
		`mutation { leadCreate(input: {leadNumber: 3}) { lead { id } } }`,
		`mutation { leadCreate(input: {organizationId: "x"}) { lead { id } } }`,
	} {
		r = e.post(org, e.all, q, nil)
		if r.Code != http.StatusBadRequest || r.HasData {
			t.Errorf("%s: %d %s", q, r.Code, r.Raw)
		}
	}
	r = e.post(org, e.all, `mutation($in: LeadCreateInput!) { leadCreate(input: $in) { lead { id } } }`, map[string]any{"in": map[string]any{"leadNumber": 3}})
	if r.Code != http.StatusBadRequest || r.HasData {
		t.Errorf("protected field in variables: %d %s", r.Code, r.Raw)
	}
	// first < 1 is an error of the field.
	r = e.post(org, e.all, `{ leads(first: 0) { nodes { id } } }`, nil)
	if r.Code != http.StatusOK || get(r.Data, "leads") != nil || len(r.Errors) != 1 || get(r.Errors[0], "extensions", "code") != "BAD_USER_INPUT" {
		t.Errorf("first 0: %d %s", r.Code, r.Raw)
	}
	// A cursor that does not verify.
	r = e.post(org, e.all, `{ leads(after: "bm9wZQ") { nodes { id } } }`, nil)
	if get(r.Data, "leads") != nil || len(r.Errors) != 1 || r.Errors[0]["message"] != "Invalid cursor" {
		t.Errorf("bad cursor: %s", r.Raw)
	}
}

// TestRouteAndRootFields: the route is recorded for the audit log and the
// root field names (never aliases) reach Options.RootFields.
func TestRouteAndRootFields(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got [][]string
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{
		Route: "/v1/graphql",
		RootFields: func(_ context.Context, names []string) {
			mu.Lock()
			got = append(got, names)
			mu.Unlock()
		},
	})
	ctx := callerCtx(uuid.New(), e.all)
	r := e.raw(ctx, http.MethodPost, `{"query":"{ mine: leads(first: 1) { nodes { id } } ...F c: clients { nodes { id } } } fragment F on Query { leads { nodes { id } } __typename }"}`, map[string]string{"Content-Type": "application/json"})
	if r.Code != http.StatusOK || gatehouse.RouteFromContext(ctx) != "/v1/graphql" {
		t.Fatalf("%d %s, route %q", r.Code, r.Raw, gatehouse.RouteFromContext(ctx))
	}
	if ops := gatehouse.OperationsFromContext(ctx); strings.Join(ops, ",") != "leads,__typename,clients" {
		t.Errorf("operations %v", ops)
	}
	e.raw(ctx, http.MethodPost, `{"query":"{ nope }"}`, map[string]string{"Content-Type": "application/json"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || strings.Join(got[0], ",") != "leads,__typename,clients" {
		t.Errorf("root fields %v", got)
	}
}

// TestConcurrentRequests: requests share cached documents; run with -race.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{})
	org := uuid.New()
	client := e.create(org, "clients", `{"first_name":"C"}`)
	e.create(org, "leads", `{"first_name":"L","client_id":"`+client+`"}`)
	queries := []string{
		`{ leads(first: 5) { nodes { id firstName client { firstName } } pageInfo { endCursor } } }`,
		`query($id: EncodedId!) { node(id: $id) { id ... on Client { firstName } } }`,
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				q := queries[(i+j)%len(queries)]
				resp, err := e.h.Execute(callerCtx(org, e.all), graphql.Request{Query: q, Variables: map[string]any{"id": graphql.EncodeID("clients", client)}})
				if err != nil || len(resp.Errors) != 0 {
					t.Errorf("%s: %+v %v", q, resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
