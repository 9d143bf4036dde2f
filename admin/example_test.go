package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"gatehouse.dev/admin"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
)

// An organization is created, its API switched on and a key issued; the
// raw key appears only in the create response.
func Example() {
	store := auth.NewMemory(auth.MemoryOptions{})
	authorize, err := admin.BearerToken("an-admin-token-of-at-least-32-characters")
	if err != nil {
		panic(err)
	}
	h, err := admin.New(admin.Options{
		Keys: store, Orgs: store, Authorize: authorize,
		KeyPrefix: "joby", Scopes: []scope.Scope{"leads:read", "leads:create"},
	})
	if err != nil {
		panic(err)
	}
	call := func(method, path, body string) map[string]any {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer an-admin-token-of-at-least-32-characters")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct{ Data map[string]any }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		fmt.Println(method, rec.Code)
		return out.Data
	}
	org := call(http.MethodPost, "/admin/orgs", `{"name":"Acme"}`)["id"].(string)
	call(http.MethodPatch, "/admin/orgs/"+org, `{"api_enabled":true}`)
	key := call(http.MethodPost, "/admin/orgs/"+org+"/api-keys", `{"name":"Zapier","scopes":["leads:read"],"rate_limit_per_minute":1000}`)
	fmt.Println(strings.HasPrefix(key["key"].(string), "joby_live_"), key["rate_limit_per_minute"])
	// Output:
	// POST 201
	// PATCH 200
	// POST 201
	// true 300
}
