package audit_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// TestMiddlewareRecordsOperations (issue 18 item 5): what a handler
// records with gatehouse.SetOperations (a GraphQL handler: the root fields
// it validated) is the entry's Operations; the route stays the route.
func TestMiddlewareRecordsOperations(t *testing.T) {
	t.Parallel()
	col := &collector{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/graphql", func(w http.ResponseWriter, r *http.Request) {
		names := []string{"leads", "leadCreate", "leads"}
		gatehouse.SetOperations(r.Context(), names)
		names[0] = "mutated" // the recorded names are a copy
	})
	mux.HandleFunc("GET /v1/leads", func(w http.ResponseWriter, r *http.Request) {})
	h := newChain(t, audit.Options{Sink: col}, mux)
	for _, target := range []string{"/v1/graphql", "/v1/leads"} {
		method := http.MethodGet
		if target == "/v1/graphql" {
			method = http.MethodPost
		}
		req := httptest.NewRequest(method, target, nil)
		req.Header.Set("Authorization", "Bearer good-k1")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	es := col.entries()
	if len(es) != 2 || es[0].Route != "/v1/graphql" || !slices.Equal(es[0].Operations, []string{"leads", "leadCreate"}) ||
		es[1].Operations != nil {
		t.Fatalf("entries %+v", es)
	}
}
