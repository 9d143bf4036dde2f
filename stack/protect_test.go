package stack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// orders is a host handler: it answers the caller's organization and the
// path value.
func orders(w http.ResponseWriter, r *http.Request) {
	k, _ := gatehouse.CallerFromContext(r.Context())
	org, _ := tenancy.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"id": r.PathValue("id"), "org": org, "key": k.KeyID})
}

var orderDoc = &resource.RouteDoc{
	OperationID: "getOrder",
	Responses:   []resource.ResponseDoc{{Status: http.StatusOK, Description: "The order.", Body: json.RawMessage(`{"type":"object"}`)}},
}

func TestProtect(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, db dbtest.DB, o stack.Options) {
		e := newEnv(t, db, o)
		// Mounted three ways: a ServeMux pattern, under http.StripPrefix, and
		// with a RoutePattern func (what a router without r.Pattern gives).
		shop := http.NewServeMux()
		shop.Handle("GET /orders/{id}", e.s.Protect("orders:read", http.HandlerFunc(orders)))
		mux := http.NewServeMux()
		mux.Handle("GET /api/orders/{id}", e.s.Protect("orders:read", http.HandlerFunc(orders),
			stack.ProtectOptions{Method: "GET", Path: "/api/orders/{id}", Summary: "An order", Doc: orderDoc}))
		mux.Handle("/shop/", http.StripPrefix("/shop", shop))
		mux.Handle("POST /api/refunds", e.s.Protect("orders:refund", http.HandlerFunc(orders),
			stack.ProtectOptions{RoutePattern: func(*http.Request) string { return "/api/refunds/custom" }}))
		mux.Handle("/", e.h)

		// The admin API accepts the new scopes for keys; unknown ones stay 400.
		org, key, keyID := e.tenant("orders:read", "orders:refund", "notes:read")
		if r := e.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"x","scopes":["orders:write"]}`); r.code != 400 {
			t.Fatalf("unknown scope: %d %s", r.code, r.raw)
		}
		_, readOnly, _ := e.tenant("notes:read")
		got := e.s.Scopes()
		for _, want := range []string{"orders:read", "orders:refund", "notes:read"} {
			if !strings.Contains(strings.Join(scopeStrings(got), " "), want) {
				t.Errorf("Scopes() %v lacks %s", got, want)
			}
		}

		bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
		cases := []struct {
			name, method, target string
			headers              []string
			code                 int
		}{
			{"pattern", "GET", "/api/orders/7", bearer(key), 200},
			{"strip prefix", "GET", "/shop/orders/8", bearer(key), 200},
			{"route func", "POST", "/api/refunds", bearer(key), 200},
			{"no key", "GET", "/api/orders/7", nil, 401},
			{"bad key", "GET", "/api/orders/7", bearer(key + "x"), 401},
			{"missing scope", "GET", "/api/orders/7", bearer(readOnly), 403},
		}
		for _, tc := range cases {
			r := call(t, mux, tc.method, tc.target, "", tc.headers...)
			if r.code != tc.code {
				t.Errorf("%s: %s %s → %d %s, want %d", tc.name, tc.method, tc.target, r.code, r.raw, tc.code)
			}
			if tc.code == 200 && (r.body["org"] != org || r.body["key"] != keyID) {
				t.Errorf("%s: handler saw %v", tc.name, r.body)
			}
			if tc.code == 403 && r.body["required_scope"] != "orders:read" {
				t.Errorf("%s: %s", tc.name, r.raw)
			}
		}
		// The audit log has the route patterns, the prefix put back.
		entries := e.auditOf(org, keyID, 3)
		routes := map[string]bool{}
		for _, en := range entries {
			routes[en["route"].(string)] = true
		}
		for _, want := range []string{"/api/orders/{id}", "/shop/orders/{id}", "/api/refunds/custom"} {
			if !routes[want] {
				t.Errorf("audit routes %v lack %s", routes, want)
			}
		}
		// The documented route is in the OpenAPI document, with its scope.
		doc := e.key(key, "GET", "/v1/openapi.json", "")
		paths, _ := doc.body["paths"].(map[string]any)
		op, _ := paths["/api/orders/{id}"].(map[string]any)["get"].(map[string]any)
		if op["operationId"] != "getOrder" || op["x-required-scope"] != "orders:read" {
			t.Fatalf("document: %v", paths["/api/orders/{id}"])
		}
	})
}

// TestProtectRateLimit: the key's limit covers the host's handlers too.
func TestProtectRateLimit(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{})
	h := e.s.Protect("orders:read", http.HandlerFunc(orders))
	org := e.admin("POST", "/orgs", `{"name":"o"}`).str("id")
	e.admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	key := e.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["orders:read"],"rate_limit_per_minute":2}`).str("key")
	codes := []int{}
	for range 3 {
		codes = append(codes, call(t, h, "GET", "/orders/1", "", "Authorization", "Bearer "+key).code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("codes %v", codes)
	}
}

func TestProtectPanicsOnBadLiterals(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, stack.Options{})
	e.s.Protect("a:b", http.NotFoundHandler(), stack.ProtectOptions{Method: "GET", Path: "/a", Doc: orderDoc})
	for name, f := range map[string]func(){
		"scope":       func() { e.s.Protect("not a scope", http.NotFoundHandler()) },
		"doc no path": func() { e.s.Protect("a:b", http.NotFoundHandler(), stack.ProtectOptions{Doc: orderDoc}) },
		"duplicate id": func() {
			e.s.Protect("a:b", http.NotFoundHandler(), stack.ProtectOptions{Method: "GET", Path: "/b", Doc: orderDoc})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// The failed registration left the document as it was.
	if b, _ := e.s.OpenAPI().JSON(""); strings.Contains(string(b), `"/b"`) {
		t.Error("a refused route is in the document")
	}
}

func scopeStrings[S ~string](ss []S) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
