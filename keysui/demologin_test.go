package keysui_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gatehouse.dev/keysui"
)

// TestDemoLoginLinkIsSingleUseAndExpires: a link logs in once (cookie,
// redirect, Viewer sees the organization); reusing it, an unknown token and
// an expired link are 403; a request without the cookie has no viewer.
func TestDemoLoginLinkIsSingleUseAndExpires(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d, err := keysui.NewDemoLogin(keysui.DemoLoginOptions{Path: "/demo-login", Redirect: "/keys/", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	link := d.Link("org-1")
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}
	rec := get(link)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/keys/" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("login: %d %v", rec.Code, rec.Header())
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("cookies %v", cookies)
	}
	r := httptest.NewRequest(http.MethodGet, "/keys/", nil)
	r.AddCookie(cookies[0])
	if org, actor, ok := d.Viewer(r); !ok || org != "org-1" || actor != "demo admin" {
		t.Fatalf("viewer %q %q %v", org, actor, ok)
	}
	if rec := get(link); rec.Code != http.StatusForbidden {
		t.Fatalf("reused link: %d", rec.Code)
	}
	if rec := get("/demo-login?token=nope"); rec.Code != http.StatusForbidden {
		t.Fatalf("unknown token: %d", rec.Code)
	}
	late := d.Link("org-1")
	now = now.Add(11 * time.Minute)
	if rec := get(late); rec.Code != http.StatusForbidden {
		t.Fatalf("expired link: %d", rec.Code)
	}
	if _, _, ok := d.Viewer(httptest.NewRequest(http.MethodGet, "/keys/", nil)); ok {
		t.Fatal("viewer without a session")
	}
	if _, err := keysui.NewDemoLogin(keysui.DemoLoginOptions{}); err == nil {
		t.Fatal("NewDemoLogin without Path accepted")
	}
}
