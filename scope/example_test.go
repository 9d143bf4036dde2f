package scope_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"gatehouse.dev/scope"
)

// Require guards a route; the authentication middleware puts the key's
// scopes in the context with NewContext.
func ExampleRequire() {
	create := scope.Require("leads:create")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))

	for _, granted := range []scope.Set{scope.NewSet("leads:read"), scope.NewSet("leads:read", "leads:create")} {
		req := httptest.NewRequest("POST", "/v1/leads", nil)
		req = req.WithContext(scope.NewContext(req.Context(), granted))
		rec := httptest.NewRecorder()
		create.ServeHTTP(rec, req)
		fmt.Println(granted.Strings(), rec.Code)
	}
	// Output:
	// [leads:read] 403
	// [leads:create leads:read] 201
}
