package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestKeysPageMount: the demo login link opens a session once; the page is
// mounted behind it and shows the organization's keys and the menu tab.
func TestKeysPageMount(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	org := a.newOrg(true)
	_, _ = a.newKey(org, `{"name":"<b>zap</b>","scopes":["leads:read"]}`)
	get := func(path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		a.h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get(keysPath + "/"); rec.Code != 404 {
		t.Fatalf("page without a session: %d", rec.Code)
	}
	link := a.app.DemoLogin().Link(org)
	rec := get(link)
	cookies := rec.Result().Cookies()
	if rec.Code != 303 || rec.Header().Get("Location") != keysPath+"/" || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("login: %d %v %v", rec.Code, rec.Header(), cookies)
	}
	if again := get(link); again.Code != 403 {
		t.Errorf("second use of the login link: %d", again.Code)
	}
	page := get(keysPath+"/", cookies...)
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, "&lt;b&gt;zap&lt;/b&gt;") || !strings.Contains(body, `id="api-keys-tab"`) ||
		!strings.Contains(page.Header().Get("Content-Security-Policy"), "frame-ancestors 'self'") {
		t.Fatalf("page: %d %s", page.Code, body)
	}
	a.admin("PATCH", "/orgs/"+org, `{"api_enabled":false}`)
	off := get(keysPath+"/", cookies...)
	if off.Code != 403 || strings.Contains(off.Body.String(), `id="api-keys-tab"`) || !strings.Contains(off.Body.String(), "contact Joby Support") {
		t.Errorf("module off: %d %s", off.Code, off.Body.String())
	}
}
