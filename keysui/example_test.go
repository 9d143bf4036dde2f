package keysui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"gatehouse.dev/admin"
	"gatehouse.dev/auth"
	"gatehouse.dev/keysui"
	"gatehouse.dev/scope"
)

// The host mounts the page in its settings area; its own session says
// which organization is looking and who acts.
func Example() {
	store := auth.NewMemory(auth.MemoryOptions{})
	org, _ := store.CreateOrg(context.Background(), auth.Org{Name: "Acme", APIEnabled: true})
	adm, err := admin.New(admin.Options{
		Keys: store, Orgs: store, KeyPrefix: "acme",
		Authorize: func(*http.Request) error { return nil },
		Scopes:    []scope.Scope{"orders:read", "orders:create"},
	})
	if err != nil {
		panic(err)
	}
	page, err := keysui.New(keysui.Options{
		Admin: adm, Tokens: keysui.NewMemoryTokens(), Prefix: "/settings/api-keys",
		Viewer: func(r *http.Request) (orgID, actor string, ok bool) {
			// The host's session lookup goes here.
			return org.ID, "alice@example.com", true
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/settings/api-keys/", page)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/settings/api-keys/new", nil))
	body := rec.Body.String()
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"))
	fmt.Println(strings.Contains(body, `value="orders:create"`), strings.Contains(body, `name="form_token"`))
	// Output:
	// 200 no-store
	// true true
}
