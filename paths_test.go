package gatehouse_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/": true, "/admin": true, "/admin/": true, "/admin/orgs/x": true, "/v1/leads%20x": true,
		"": false, "admin": false, "//": false, "/admin//orgs": false, "/admin/./orgs": false, "/admin/orgs/..": false,
		"/admin%2forgs/x": false, "/admin%2Forgs": false, "/a/b%2f": false, "/a/.": false,
	} {
		if got := gatehouse.CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestStrictPaths (issue 13, "/admin%2forgs/… and /admin//orgs/… answer
// plain-text 404 / HTML 307"): in front of a ServeMux, every unclean path
// gets the JSON 404; clean ones reach the mux.
func TestStrictPaths(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteJSON(w, 200, map[string]string{"ok": r.URL.Path})
	})
	h := gatehouse.RequestID(gatehouse.StrictPaths(mux))
	for _, target := range []string{"/admin%2forgs/x", "/admin//orgs/x", "/admin/./orgs", "/admin/orgs/../orgs", "/admin%2F"} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
			var body map[string]any
			if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] != gatehouse.MsgNotFound {
				t.Errorf("%s %s: %d %q %s", method, target, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/orgs", nil))
	if rec.Code != 200 {
		t.Errorf("clean path: %d %s", rec.Code, rec.Body)
	}
}
