package main

import (
	"net/http"
	"testing"
)

// TestPrefixesAnswerJSON (issue 13, "/admin%2forgs/… and /admin//orgs/…
// answer plain-text 404 / HTML 307"): every path under /v1 and /admin,
// encoded and doubled slashes included, gets a JSON 404 or 405, never
// ServeMux's redirect or plain text (harness's do fails on non-JSON).
func TestPrefixesAnswerJSON(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	org, key, _ := a.tenant()
	lead := a.create(key, "leads", `{"first_name":"Ann"}`)["id"].(string)
	for _, p := range []string{
		"/admin%2forgs/" + org, "/admin//orgs/" + org, "/admin/orgs//" + org, "/admin/./orgs/" + org, "/admin%2Forgs",
		"/admin/orgs/" + org + "/webhooks//x", "/admin/orgs/" + org + "%2fwebhooks", "/admin/orgs/" + org + "/webhooks/./x",
		"/admin/nope", "/admin",
	} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			r := a.admin(m, p[len("/admin"):], "")
			if r.Code != http.StatusNotFound || errText(r) != "Not found" {
				t.Errorf("%s %s: %d %s", m, p, r.Code, r.Raw)
			}
		}
	}
	for _, p := range []string{"/v1%2fleads", "/v1//leads", "/v1/leads//" + lead, "/v1/./leads", "/v1/leads%2f" + lead, "/v1/nope", "/v1"} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if r := a.key(key, m, p, ""); r.Code != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", m, p, r.Code, r.Raw)
			}
		}
	}
	if r := a.key(key, http.MethodDelete, "/v1/leads/"+lead, ""); r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") == "" {
		t.Errorf("DELETE lead: %d %s", r.Code, r.Raw)
	}
	if r := a.admin(http.MethodDelete, "/orgs/"+org, ""); r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") == "" {
		t.Errorf("DELETE org: %d %s", r.Code, r.Raw)
	}
}
