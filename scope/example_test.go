package scope_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"gatehouse.dev"
	"gatehouse.dev/scope"
)

// Require guards a route; the authentication middleware records the key's
// scopes as the request's gatehouse.Caller (here NewCallerContext).
func ExampleRequire() {
	create := scope.Require("leads:create")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))

	for _, granted := range []scope.Set{scope.NewSet("leads:read"), scope.NewSet("leads:read", "leads:create")} {
		req := httptest.NewRequest("POST", "/v1/leads", nil)
		req = req.WithContext(gatehouse.NewCallerContext(req.Context(), gatehouse.Caller{Scopes: granted.Strings()}))
		rec := httptest.NewRecorder()
		create.ServeHTTP(rec, req)
		fmt.Println(granted.Strings(), rec.Code)
	}
	// Output:
	// [leads:read] 403
	// [leads:create leads:read] 201
}
