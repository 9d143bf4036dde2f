package keysui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/keysui"
	"gatehouse.dev/scope"
)

type env struct {
	t      *testing.T
	h      *keysui.Handler
	srv    http.Handler
	store  *auth.Memory
	events *audit.MemoryEvents
	log    *audit.Memory
	org    string
	mu     sync.Mutex
	now    time.Time
	viewer string // org the session sees; "" = no session
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func newEnv(t *testing.T, tokens keysui.FormTokens) *env {
	t.Helper()
	e := &env{t: t, store: auth.NewMemory(auth.MemoryOptions{}), events: audit.NewMemoryEvents(audit.MemoryEventsOptions{}),
		log: audit.NewMemory(audit.MemoryOptions{}), now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	ah, err := admin.New(admin.Options{
		Keys: e.store, Orgs: e.store, Audit: e.log, Events: e.events, KeyPrefix: "acme",
		Authorize:                 func(*http.Request) error { return nil },
		Scopes:                    []scope.Scope{"leads:read", "leads:create", "leads:update", "tasks:read", "webhooks:manage", "orders:export"},
		DefaultRateLimitPerMinute: 20, MaxRateLimitPerMinute: 100, Now: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.store.CreateOrg(t.Context(), auth.Org{Name: "Acme", APIEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	e.org, e.viewer = o.ID, o.ID
	if tokens == nil {
		tokens = keysui.NewMemoryTokens()
	}
	e.h, err = keysui.New(keysui.Options{
		Admin: ah, Tokens: tokens, Prefix: "/settings/api-keys", Now: e.clock,
		Viewer: func(r *http.Request) (string, string, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.viewer, "alice@example.com", e.viewer != ""
		},
		DisabledText: "Ask support to enable the API.",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = e.h
	return e
}

type page struct {
	code int
	hdr  http.Header
	body string
}

func (e *env) get(path string) page {
	e.t.Helper()
	return e.do(httptest.NewRequest("GET", "http://example.com"+path, nil))
}

func (e *env) post(path string, form url.Values, hdr ...string) page {
	e.t.Helper()
	r := httptest.NewRequest("POST", "http://example.com"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(r)
}

func (e *env) do(r *http.Request) page {
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	b, _ := io.ReadAll(rec.Result().Body)
	return page{rec.Code, rec.Header(), string(b)}
}

var tokenRe = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// formToken opens the create form and returns its one-time token.
func (e *env) formToken() string {
	e.t.Helper()
	p := e.get("/settings/api-keys/new")
	m := tokenRe.FindStringSubmatch(p.body)
	if p.code != 200 || m == nil {
		e.t.Fatalf("create form: %d %s", p.code, p.body)
	}
	return m[1]
}

var keyRe = regexp.MustCompile(`id="new-key" type="text" readonly value="([^"]+)"`)

func shownKey(p page) string {
	m := keyRe.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return m[1]
}

func validForm(token string) url.Values {
	return url.Values{"form_token": {token}, "name": {"Zapier"}, "scopes": {"leads:read", "webhooks:manage"}, "rate_limit_per_minute": {"30"}, "expires_at": {""}}
}

func TestCreateShownOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tok := e.formToken()
	p := e.post("/settings/api-keys/new", validForm(tok))
	raw := shownKey(p)
	if p.code != 201 || raw == "" || p.hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %s", p.code, p.hdr, p.body)
	}
	if !strings.Contains(p.body, "displayed once at creation and never again") {
		t.Error("no shown-once warning")
	}
	parsed, err := auth.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.store.LookupKey(t.Context(), parsed.PublicID)
	if err != nil || k.OrganizationID != e.org || k.Name != "Zapier" || k.RateLimitPerMinute != 30 || strings.Join(k.Scopes.Strings(), " ") != "leads:read webhooks:manage" {
		t.Fatalf("stored key %+v %v", k, err)
	}
	// Reload (the same post again): no second key, no key shown.
	again := e.post("/settings/api-keys/new", validForm(tok))
	if again.code != 409 || shownKey(again) != "" || strings.Contains(again.body, raw) || !strings.Contains(again.body, "already sent") {
		t.Fatalf("re-post: %d %s", again.code, again.body)
	}
	if keys, _ := e.store.ListKeys(t.Context(), e.org); len(keys) != 1 {
		t.Fatalf("%d keys after a re-post", len(keys))
	}
	// The list never shows the key; it shows the display prefix.
	l := e.get("/settings/api-keys/")
	if l.code != 200 || strings.Contains(l.body, raw) || !strings.Contains(l.body, k.DisplayPrefix) || !strings.Contains(l.body, "Active") {
		t.Fatalf("list: %d %s", l.code, l.body)
	}
	// The trail names the session's actor.
	ev, _ := e.events.List(t.Context(), e.org)
	if len(ev) != 1 || ev[0].Actor != "alice@example.com" || ev[0].Action != audit.ActionKeyCreated {
		t.Errorf("trail %+v", ev)
	}
}

func TestCreateConcurrentPosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tok := e.formToken()
	var wg sync.WaitGroup
	shown := make([]string, 8)
	for i := range shown {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shown[i] = shownKey(e.post("/settings/api-keys/new", validForm(tok)))
		}()
	}
	wg.Wait()
	n := 0
	for _, s := range shown {
		if s != "" {
			n++
		}
	}
	keys, _ := e.store.ListKeys(t.Context(), e.org)
	if n != 1 || len(keys) != 1 {
		t.Fatalf("%d keys shown, %d stored; want 1", n, len(keys))
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name  string
		edit  func(url.Values)
		field string
		msg   string
	}{
		{"no name", func(v url.Values) { v.Set("name", "  ") }, "name", "Enter a name."},
		{"long name", func(v url.Values) { v.Set("name", strings.Repeat("é", 81)) }, "name", "Use at most 80 characters."},
		{"no scopes", func(v url.Values) { v.Del("scopes") }, "scopes", "Choose at least one permission."},
		{"unknown scope", func(v url.Values) { v["scopes"] = []string{"leads:delete"} }, "scopes", "unknown scopes: leads:delete"},
		{"limit text", func(v url.Values) { v.Set("rate_limit_per_minute", "ten") }, "rate_limit_per_minute", "Enter a whole number."},
		{"limit above cap", func(v url.Values) { v.Set("rate_limit_per_minute", "101") }, "rate_limit_per_minute", "Enter a number from 1 to 100."},
		{"limit zero", func(v url.Values) { v.Set("rate_limit_per_minute", "0") }, "rate_limit_per_minute", "Enter a number from 1 to 100."},
		{"bad expiry", func(v url.Values) { v.Set("expires_at", "tomorrow") }, "expires_at", "Enter a date (2026-12-31) or a date and time (2026-12-31T18:00Z)."},
		{"past expiry", func(v url.Values) { v.Set("expires_at", "2026-06-30") }, "expires_at", "Choose a time in the future."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.formToken()
			v := validForm(tok)
			tc.edit(v)
			p := e.post("/settings/api-keys/new", v)
			want := `<p class="keysui-error" id="` + tc.field + `-error">` + template_escape(tc.msg) + `</p>`
			if p.code != 400 || !strings.Contains(p.body, want) {
				t.Fatalf("%d, want 400 with %s in\n%s", p.code, want, p.body)
			}
			// The values typed are kept; the token stays usable.
			if tc.field != "name" && !strings.Contains(p.body, `value="Zapier"`) {
				t.Error("name not kept")
			}
			if m := tokenRe.FindStringSubmatch(p.body); m == nil || m[1] != tok {
				t.Error("the form token changed after a validation error")
			}
		})
	}
	if keys, _ := e.store.ListKeys(t.Context(), e.org); len(keys) != 0 {
		t.Fatalf("%d keys created by invalid forms", len(keys))
	}
	// A forged or missing token creates nothing.
	p := e.post("/settings/api-keys/new", validForm("forged"))
	if p.code != 400 || shownKey(p) != "" || !strings.Contains(p.body, "This form has expired") {
		t.Errorf("forged token: %d %s", p.code, p.body)
	}
	// A valid expiry as a date-time works.
	v := validForm(e.formToken())
	v.Set("expires_at", "2026-12-31T18:00")
	if p := e.post("/settings/api-keys/new", v); p.code != 201 {
		t.Errorf("date-time expiry: %d %s", p.code, p.body)
	}
}

func template_escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	v := validForm(e.formToken())
	v.Set("name", `<script>alert("x")</script>`)
	p := e.post("/settings/api-keys/new", v)
	if p.code != 201 || strings.Contains(p.body, "<script>alert") {
		t.Fatalf("create: %d %s", p.code, p.body)
	}
	l := e.get("/settings/api-keys/")
	if strings.Contains(l.body, "<script>alert") || !strings.Contains(l.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Fatalf("list does not escape the name: %s", l.body)
	}
}

func TestOtherOrganizationsKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	other, _ := e.store.CreateOrg(t.Context(), auth.Org{Name: "Other", APIEnabled: true})
	_, k, err := auth.NewKey("acme", "live", auth.Key{OrganizationID: other.ID, Name: "theirs", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/keys/" + k.ID, "/keys/" + k.ID + "/revoke", "/keys/" + k.ID + "/rotate", "/keys/not-a-uuid", "/nothing"} {
		if p := e.get("/settings/api-keys" + path); p.code != 404 || strings.Contains(p.body, "theirs") {
			t.Errorf("GET %s: %d", path, p.code)
		}
	}
	for _, path := range []string{"/keys/" + k.ID + "/revoke", "/keys/" + k.ID + "/rotate"} {
		if p := e.post("/settings/api-keys"+path, url.Values{"grace_seconds": {"0"}}); p.code != 404 {
			t.Errorf("POST %s: %d", path, p.code)
		}
	}
	got, _ := e.store.GetKey(t.Context(), other.ID, k.ID)
	if got.Revoked() || got.Rotated() {
		t.Error("another organization's key was changed")
	}
	if l := e.get("/settings/api-keys/"); strings.Contains(l.body, "theirs") {
		t.Error("the list shows another organization's key")
	}
}

func TestRevokeAndRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	raw := shownKey(e.post("/settings/api-keys/new", validForm(e.formToken())))
	parsed, _ := auth.Parse(raw)
	k, _ := e.store.LookupKey(t.Context(), parsed.PublicID)

	d := e.get("/settings/api-keys/keys/" + k.ID)
	if d.code != 200 || !strings.Contains(d.body, `id="rotate-key"`) || !strings.Contains(d.body, "No requests yet.") {
		t.Fatalf("detail: %d %s", d.code, d.body)
	}
	rf := e.get("/settings/api-keys/keys/" + k.ID + "/rotate")
	for _, g := range []string{"0", "3600", "86400", "604800"} {
		if !strings.Contains(rf.body, `value="`+g+`" id="grace-`+g+`"`) {
			t.Errorf("rotate form lacks grace %s", g)
		}
	}
	if p := e.post("/settings/api-keys/keys/"+k.ID+"/rotate", url.Values{"grace_seconds": {"86401"}}); p.code != 400 {
		t.Errorf("odd grace: %d", p.code)
	}
	p := e.post("/settings/api-keys/keys/"+k.ID+"/rotate", url.Values{"grace_seconds": {"3600"}})
	newRaw := shownKey(p)
	if p.code != 201 || newRaw == "" || newRaw == raw || p.hdr.Get("Cache-Control") != "no-store" || !strings.Contains(p.body, "keeps working until 2026-07-01 13:00 UTC") {
		t.Fatalf("rotate: %d %s", p.code, p.body)
	}
	again := e.post("/settings/api-keys/keys/"+k.ID+"/rotate", url.Values{"grace_seconds": {"3600"}})
	if again.code != 409 || shownKey(again) != "" || !strings.Contains(again.body, "already rotated") {
		t.Fatalf("rotate twice: %d %s", again.code, again.body)
	}
	old, _ := e.store.GetKey(t.Context(), e.org, k.ID)
	if old.ExpiresAt == nil || !old.ExpiresAt.Equal(e.now.Add(time.Hour)) || !old.Rotated() {
		t.Fatalf("old key after rotation: %+v", old)
	}
	l := e.get("/settings/api-keys/")
	if !strings.Contains(l.body, "Expiring soon") {
		t.Errorf("list status of the rotated key: %s", l.body)
	}

	// Revoke: a confirmation page, then the post.
	np, _ := auth.Parse(newRaw)
	nk, _ := e.store.LookupKey(t.Context(), np.PublicID)
	c := e.get("/settings/api-keys/keys/" + nk.ID + "/revoke")
	if c.code != 200 || !strings.Contains(c.body, `id="revoke-confirm"`) {
		t.Fatalf("revoke confirmation: %d", c.code)
	}
	if got, _ := e.store.GetKey(t.Context(), e.org, nk.ID); got.Revoked() {
		t.Fatal("the confirmation page revoked the key")
	}
	r := e.post("/settings/api-keys/keys/"+nk.ID+"/revoke", nil)
	if r.code != 303 || r.hdr.Get("Location") != "/settings/api-keys/?done=revoked" {
		t.Fatalf("revoke: %d %v", r.code, r.hdr)
	}
	if got, _ := e.store.GetKey(t.Context(), e.org, nk.ID); !got.Revoked() {
		t.Fatal("not revoked")
	}
	if l := e.get("/settings/api-keys/?done=revoked"); !strings.Contains(l.body, "Revoked") || !strings.Contains(l.body, "The key was revoked.") {
		t.Errorf("list after revoke: %s", l.body)
	}
	ev, _ := e.events.List(t.Context(), e.org)
	var actions []string
	for _, x := range ev {
		actions = append(actions, x.Action+"/"+x.Actor)
	}
	slices.Sort(actions) // one fixed clock: the trail's order is by time only
	if strings.Join(actions, " ") != "key.created/alice@example.com key.revoked/alice@example.com key.rotated/alice@example.com" {
		t.Errorf("trail %v", actions)
	}
}

func TestActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	raw := shownKey(e.post("/settings/api-keys/new", validForm(e.formToken())))
	parsed, _ := auth.Parse(raw)
	k, _ := e.store.LookupKey(t.Context(), parsed.PublicID)
	for i := range 60 {
		e.log.Record(audit.Entry{Time: e.now.Add(time.Duration(i) * time.Second), KeyID: k.ID, OrganizationID: e.org, Method: "GET", Path: "/v1/leads/<b>", Status: 200})
	}
	d := e.get("/settings/api-keys/keys/" + k.ID)
	if n := strings.Count(d.body, "<td><code>/v1/leads/&lt;b&gt;</code></td>"); n != 50 {
		t.Errorf("activity rows %d, want 50 (escaped)", n)
	}
}

func TestHeadersAndCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, path := range []string{"/settings/api-keys/", "/settings/api-keys/new", "/settings/api-keys/nothing"} {
		p := e.get(path)
		csp := p.hdr.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'self'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			p.hdr.Get("X-Content-Type-Options") != "nosniff" || p.hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("%s headers: %v", path, p.hdr)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, " onclick") {
			t.Errorf("%s has inline script or style", path)
		}
	}
	if p := e.get("/settings/api-keys/assets/keysui.js"); p.code != 200 || !strings.Contains(p.hdr.Get("Content-Type"), "javascript") {
		t.Errorf("script: %d %v", p.code, p.hdr)
	}
	if p := e.get("/settings/api-keys/assets/keysui.css"); p.code != 200 || !strings.Contains(p.hdr.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %v", p.code, p.hdr)
	}
	tok := e.formToken()
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		p := e.post("/settings/api-keys/new", validForm(tok), hdr...)
		if p.code != 403 || shownKey(p) != "" {
			t.Errorf("cross-origin post %v: %d", hdr, p.code)
		}
	}
	if keys, _ := e.store.ListKeys(t.Context(), e.org); len(keys) != 0 {
		t.Fatal("a cross-origin post created a key")
	}
	// The same token still works from the page's own origin.
	if p := e.post("/settings/api-keys/new", validForm(tok), "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"); p.code != 201 {
		t.Errorf("same-origin post: %d %s", p.code, p.body)
	}
}

func TestViewerAndModuleOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.viewer = ""
	if p := e.get("/settings/api-keys/"); p.code != 404 {
		t.Errorf("no session: %d", p.code)
	}
	e.viewer = e.org
	if _, err := e.store.SetAPIEnabled(t.Context(), e.org, false, e.now); err != nil {
		t.Fatal(err)
	}
	if on, err := e.h.Visible(context.Background(), e.org); on || err != nil {
		t.Errorf("Visible = %v, %v; want false", on, err)
	}
	p := e.get("/settings/api-keys/")
	if p.code != 403 || !strings.Contains(p.body, "Ask support to enable the API.") || strings.Contains(p.body, "create-key") {
		t.Errorf("module off: %d %s", p.code, p.body)
	}
	if p := e.post("/settings/api-keys/new", validForm("x")); p.code != 403 {
		t.Errorf("create with module off: %d", p.code)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := keysui.New(keysui.Options{}); err == nil {
		t.Error("empty options accepted")
	}
}

// TestVisibleTo: the tab shows for a viewer whose organization's API is
// on, not without a viewer nor while the module is off.
func TestVisibleTo(t *testing.T) {
	e := newEnv(t, nil)
	r := httptest.NewRequest("GET", "/anything", nil)
	if !e.h.VisibleTo(r) {
		t.Error("hidden for a viewer whose API is on")
	}
	if _, err := e.store.SetAPIEnabled(t.Context(), e.org, false, e.now); err != nil {
		t.Fatal(err)
	}
	if e.h.VisibleTo(r) {
		t.Error("shown while the module is off")
	}
	e.mu.Lock()
	e.viewer = ""
	e.mu.Unlock()
	if e.h.VisibleTo(r) {
		t.Error("shown without a viewer")
	}
}
