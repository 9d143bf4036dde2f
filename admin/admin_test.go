package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
)

const token = "test-admin-token-0123456789abcdefghijklmnop"

type env struct {
	t     *testing.T
	h     http.Handler
	store *auth.Memory
	audit *audit.Memory
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	authorize, err := admin.BearerToken(token)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: auth.NewMemory(auth.MemoryOptions{}), audit: audit.NewMemory(audit.MemoryOptions{}),
		now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	h, err := admin.New(admin.Options{
		Keys: e.store, Orgs: e.store, Audit: e.audit, Authorize: authorize, KeyPrefix: "joby",
		Scopes: []scope.Scope{"leads:read", "leads:create", "tasks:read"},
		Now:    func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = gatehouse.RequestID(h)
	return e
}

type resp struct {
	Code   int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		e.t.Fatalf("%s %s: non-JSON answer %d %q", method, path, rec.Code, rec.Body.String())
	}
	if id, _ := m["request_id"].(string); id == "" || id != rec.Header().Get("X-Request-Id") {
		e.t.Fatalf("%s %s: request_id %q vs header %q", method, path, id, rec.Header().Get("X-Request-Id"))
	}
	return resp{Code: rec.Code, Header: rec.Header(), Body: m, Raw: rec.Body.String()}
}

func (r resp) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (e *env) org(enabled bool) string {
	e.t.Helper()
	r := e.do("POST", "/admin/orgs", `{"name":"Acme"}`)
	if r.Code != 201 || r.data()["api_enabled"] != false {
		e.t.Fatalf("create org: %d %s", r.Code, r.Raw)
	}
	id := r.data()["id"].(string)
	if enabled {
		if r := e.do("PATCH", "/admin/orgs/"+id, `{"api_enabled":true}`); r.Code != 200 || r.data()["api_enabled"] != true {
			e.t.Fatalf("enable: %d %s", r.Code, r.Raw)
		}
	}
	return id
}

func (e *env) key(org, body string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/admin/orgs/"+org+"/api-keys", body)
	if r.Code != 201 {
		e.t.Fatalf("create key: %d %s", r.Code, r.Raw)
	}
	return r.data()
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, hdr := range []string{"", "Bearer wrong-token-0123456789abcdefghijklmnop", "Basic " + token, token} {
		req := httptest.NewRequest("GET", "/admin/orgs/00000000-0000-4000-8000-000000000000", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error":"Unauthorized"`) || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %s", hdr, rec.Code, rec.Body.String())
		}
	}
	if _, err := admin.BearerToken("short"); err == nil {
		t.Error("short token accepted")
	}
	raw, _, err := auth.Generate("joby", "live")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.BearerToken(raw.Reveal()); err == nil {
		t.Error("an API key was accepted as admin token")
	}
}

func TestOrgs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.org(false)
	if r := e.do("GET", "/admin/orgs/"+id, ""); r.Code != 200 || r.data()["name"] != "Acme" {
		t.Fatalf("get: %d %s", r.Code, r.Raw)
	}
	cases := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"POST", "/admin/orgs", `{}`, 400, "Invalid field values"},
		{"POST", "/admin/orgs", `{"name":"   "}`, 400, "Invalid field values"},
		{"POST", "/admin/orgs", `{"name":"` + strings.Repeat("x", 81) + `"}`, 400, "Invalid field values"},
		{"POST", "/admin/orgs", `{"name":"A","api_enabled":true}`, 400, "Unsupported or protected fields"},
		{"POST", "/admin/orgs", `[1]`, 400, "Invalid JSON body"},
		{"POST", "/admin/orgs", `{"name":"A"} x`, 400, "Invalid JSON body"},
		{"PATCH", "/admin/orgs/" + id, `{}`, 400, "No fields to update"},
		{"PATCH", "/admin/orgs/" + id, `{"api_enabled":"yes"}`, 400, "Invalid field values"},
		{"PATCH", "/admin/orgs/" + id, `{"api_enabled":null}`, 400, "Invalid field values"},
		{"GET", "/admin/orgs/not-a-uuid", ``, 400, "Invalid organization id"},
		{"POST", "/admin/orgs/not-a-uuid/api-keys", `{}`, 400, "Invalid organization id"},
		{"POST", "/admin/orgs", `{"name":"A","id":"acme"}`, 400, "Invalid field values"},
		{"GET", "/admin/orgs/00000000-0000-4000-8000-000000000000", ``, 404, "Not found"},
		{"DELETE", "/admin/orgs/" + id, ``, 405, "Method not allowed"},
		{"DELETE", "/admin/orgs", ``, 405, "Method not allowed"},
		{"GET", "/admin/nothing", ``, 404, "Not found"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %s", tc.method, tc.path, tc.body), func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.Code != tc.code || r.Body["error"] != tc.msg {
				t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, tc.code, tc.msg)
			}
		})
	}
	if r := e.do("DELETE", "/admin/orgs/"+id, ""); r.Header.Get("Allow") != "GET, HEAD, PATCH" {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	if r := e.do("POST", "/admin/orgs", big); r.Code != 413 || r.Body["error"] != "Request body too large" {
		t.Errorf("big body: %d %s", r.Code, r.Raw[:min(len(r.Raw), 200)])
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	k := e.key(org, `{"name":"  Zapier  ","scopes":["leads:read","leads:create"]}`)
	raw, _ := k["key"].(string)
	if !strings.HasPrefix(raw, "joby_live_") || k["name"] != "Zapier" || k["rate_limit_per_minute"] != float64(60) ||
		k["expires_at"] != nil || !strings.HasSuffix(k["display_prefix"].(string), "_…") {
		t.Fatalf("created key %v", k)
	}
	parsed, err := auth.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.store.LookupKey(context.Background(), parsed.PublicID)
	if err != nil || !auth.Verify(raw, stored.Hash) || strings.Contains(fmt.Sprintf("%+v", stored), raw) {
		t.Fatalf("stored key %+v, %v", stored, err)
	}
	id := k["id"].(string)

	// The raw key is never shown again.
	for _, path := range []string{"/admin/orgs/" + org + "/api-keys", "/admin/orgs/" + org + "/api-keys/" + id} {
		r := e.do("GET", path, "")
		if r.Code != 200 || strings.Contains(r.Raw, raw) || strings.Contains(r.Raw, stored.Hash) || strings.Contains(r.Raw, `"key"`) {
			t.Fatalf("GET %s: %d %s", path, r.Code, r.Raw)
		}
	}

	cases := []struct {
		name, body string
		code       int
		msg        string
		check      func(map[string]any) bool
	}{
		{"limit capped", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":1000}`, 201, "", func(d map[string]any) bool { return d["rate_limit_per_minute"] == float64(300) }},
		{"limit kept", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":7}`, 201, "", func(d map[string]any) bool { return d["rate_limit_per_minute"] == float64(7) }},
		{"date expiry is end of day", `{"name":"a","scopes":["tasks:read"],"expires_at":"2026-07-01"}`, 201, "", func(d map[string]any) bool { return d["expires_at"] == "2026-07-02T00:00:00Z" }},
		{"rfc3339 expiry", `{"name":"a","scopes":["tasks:read"],"expires_at":"2026-08-01T10:00:00+02:00"}`, 201, "", func(d map[string]any) bool { return d["expires_at"] == "2026-08-01T08:00:00Z" }},
		{"limit zero", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":0}`, 400, "Invalid field values", nil},
		{"limit negative", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":-5}`, 400, "Invalid field values", nil},
		{"limit fraction", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":1.5}`, 400, "Invalid field values", nil},
		{"limit string", `{"name":"a","scopes":["tasks:read"],"rate_limit_per_minute":"60"}`, 400, "Invalid field values", nil},
		{"expiry past", `{"name":"a","scopes":["tasks:read"],"expires_at":"2026-06-30"}`, 400, "Invalid field values", nil},
		{"expiry garbage", `{"name":"a","scopes":["tasks:read"],"expires_at":"tomorrow"}`, 400, "Invalid field values", nil},
		{"no scopes", `{"name":"a","scopes":[]}`, 400, "Invalid field values", nil},
		{"scopes missing", `{"name":"a"}`, 400, "Invalid field values", nil},
		{"unknown scope", `{"name":"a","scopes":["leads:read","leads:delete","x"]}`, 400, "Invalid field values", nil},
		{"name too long", `{"name":"` + strings.Repeat("é", 81) + `","scopes":["tasks:read"]}`, 400, "Invalid field values", nil},
		{"protected field", `{"name":"a","scopes":["tasks:read"],"key":"joby_live_x"}`, 400, "Unsupported or protected fields", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/admin/orgs/"+org+"/api-keys", tc.body)
			if r.Code != tc.code || (tc.msg != "" && r.Body["error"] != tc.msg) {
				t.Fatalf("got %d %s", r.Code, r.Raw)
			}
			if tc.check != nil && !tc.check(r.data()) {
				t.Fatalf("unexpected data %s", r.Raw)
			}
		})
	}
	if r := e.do("POST", "/admin/orgs/"+org+"/api-keys", `{"name":"a","scopes":["leads:read","leads:delete","x"]}`); !strings.Contains(r.Raw, "leads:delete, x") {
		t.Errorf("unknown scopes not named: %s", r.Raw)
	}

	// PATCH: any subset, validated and capped as on create.
	if r := e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{}`); r.Code != 400 || r.Body["error"] != "No fields to update" {
		t.Fatalf("empty patch: %s", r.Raw)
	}
	if r := e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{"rate_limit_per_minute":5000,"scopes":["tasks:read"]}`); r.Code != 200 ||
		r.data()["rate_limit_per_minute"] != float64(300) || fmt.Sprint(r.data()["scopes"]) != "[tasks:read]" || r.data()["name"] != "Zapier" {
		t.Fatalf("patch: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{"expires_at":"2027-01-01"}`); r.Code != 200 || r.data()["expires_at"] != "2027-01-02T00:00:00Z" {
		t.Fatalf("patch expiry: %s", r.Raw)
	}
	if r := e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{"expires_at":null}`); r.Code != 200 || r.data()["expires_at"] != nil {
		t.Fatalf("clear expiry: %s", r.Raw)
	}
	if r := e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{"name":""}`); r.Code != 400 {
		t.Fatalf("empty name: %s", r.Raw)
	}

	// Revoke is idempotent and keeps the first time.
	e.now = e.now.Add(time.Minute)
	r1 := e.do("POST", "/admin/orgs/"+org+"/api-keys/"+id+"/revoke", "")
	e.now = e.now.Add(time.Minute)
	r2 := e.do("POST", "/admin/orgs/"+org+"/api-keys/"+id+"/revoke", "")
	if r1.Code != 200 || r2.Code != 200 || r1.data()["revoked_at"] == nil || r1.data()["revoked_at"] != r2.data()["revoked_at"] {
		t.Fatalf("revoke: %s / %s", r1.Raw, r2.Raw)
	}

	// Another organization's key id is not found, through every route.
	other := e.org(true)
	for _, rq := range [][2]string{{"GET", ""}, {"PATCH", "/"}, {"POST", "/revoke"}, {"GET", "/audit"}} {
		path := "/admin/orgs/" + other + "/api-keys/" + id
		if rq[1] != "/" {
			path += rq[1]
		}
		if r := e.do(rq[0], path, `{"name":"x"}`); r.Code != 404 {
			t.Errorf("%s %s across organizations: %d %s", rq[0], path, r.Code, r.Raw)
		}
	}
	if r := e.do("GET", "/admin/orgs/"+other+"/api-keys", ""); r.Code != 200 || r.Raw == "" || strings.Contains(r.Raw, id) {
		t.Errorf("other org lists our key: %s", r.Raw)
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	id := e.key(org, `{"name":"k","scopes":["leads:read"]}`)["id"].(string)
	base := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	var entries []audit.Entry
	for i := range 60 {
		entries = append(entries, audit.Entry{Time: base.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("r%02d", i),
			KeyID: id, OrganizationID: org, Method: "GET", Route: "/v1/leads", Path: "/v1/leads", Status: 200})
	}
	if err := e.audit.Write(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/admin/orgs/"+org+"/api-keys/"+id+"/audit", "")
	list, _ := r.Body["data"].([]any)
	if r.Code != 200 || len(list) != 50 || list[0].(map[string]any)["request_id"] != "r59" || list[49].(map[string]any)["request_id"] != "r10" {
		t.Fatalf("audit: %d, %d entries", r.Code, len(list))
	}
	if rl, _ := r.Body["rate_limited"].(map[string]any); rl["count"] != float64(0) || rl["last_at"] != nil {
		t.Fatalf("rate_limited without refusals: %v", r.Body["rate_limited"])
	}
}

// TestAuditRateLimitedFloodKeepsLatestValid: issue 13, a key limited to 5/min
// that sends 50 requests in a second keeps its latest valid requests; the
// refused ones show as a count with the time of the last.
func TestAuditRateLimitedFloodKeepsLatestValid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	id := e.key(org, `{"name":"k","scopes":["leads:read"]}`)["id"].(string)
	base := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	var entries []audit.Entry
	for i := range 50 {
		status := http.StatusTooManyRequests
		if i < 5 {
			status = http.StatusOK
		}
		entries = append(entries, audit.Entry{Time: base.Add(time.Duration(i) * 20 * time.Millisecond), RequestID: fmt.Sprintf("r%02d", i),
			KeyID: id, OrganizationID: org, Method: "GET", Route: "/v1/leads", Path: "/v1/leads", Status: status})
	}
	if err := e.audit.Write(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/admin/orgs/"+org+"/api-keys/"+id+"/audit", "")
	list, _ := r.Body["data"].([]any)
	if r.Code != 200 || len(list) != 5 || list[0].(map[string]any)["request_id"] != "r04" {
		t.Fatalf("audit: %d, %d entries: %v", r.Code, len(list), r.Body)
	}
	rl, _ := r.Body["rate_limited"].(map[string]any)
	if rl["count"] != float64(45) || rl["last_at"] != "2026-07-01T12:00:00.980Z" {
		t.Fatalf("rate_limited = %v, want count 45, last_at 2026-07-01T12:00:00.980Z", rl)
	}
}

func TestIssueKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	authorize, _ := admin.BearerToken(token)
	h, err := admin.New(admin.Options{Keys: e.store, Orgs: e.store, Authorize: authorize, KeyPrefix: "joby", Scopes: []scope.Scope{"leads:read"}})
	if err != nil {
		t.Fatal(err)
	}
	org := e.org(true)
	raw, k, err := h.IssueKey(context.Background(), org, "script", scope.NewSet("leads:read"), 0, nil)
	if err != nil || k.RateLimitPerMinute != 60 || !auth.Verify(raw.Reveal(), k.Hash) || strings.Contains(fmt.Sprint(raw), raw.Reveal()) {
		t.Fatalf("IssueKey: %+v %v", k, err)
	}
	if _, _, err := h.IssueKey(context.Background(), org, "x", scope.NewSet("tasks:read"), 0, nil); gatehouse.StatusOf(err) != 400 {
		t.Fatalf("unknown scope: %v", err)
	}
	if _, _, err := h.IssueKey(context.Background(), "00000000-0000-4000-8000-000000000000", "x", scope.NewSet("leads:read"), 0, nil); gatehouse.StatusOf(err) != 404 {
		t.Fatalf("unknown org: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	ok := func(*http.Request) error { return nil }
	base := admin.Options{Keys: m, Orgs: m, Authorize: ok, KeyPrefix: "joby", Scopes: []scope.Scope{"leads:read"}}
	for name, mut := range map[string]func(*admin.Options){
		"no keys":      func(o *admin.Options) { o.Keys = nil },
		"no orgs":      func(o *admin.Options) { o.Orgs = nil },
		"no authorize": func(o *admin.Options) { o.Authorize = nil },
		"no scopes":    func(o *admin.Options) { o.Scopes = nil },
		"bad prefix":   func(o *admin.Options) { o.KeyPrefix = "Joby" },
		"bad env":      func(o *admin.Options) { o.Env = "prod" },
		"bad scope":    func(o *admin.Options) { o.Scopes = []scope.Scope{"x"} },
		"bad path":     func(o *admin.Options) { o.Prefix = "admin/" },
	} {
		o := base
		mut(&o)
		if _, err := admin.New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := admin.New(base); err != nil {
		t.Fatal(err)
	}
}

func TestEventsTrail(t *testing.T) {
	t.Parallel()
	store := auth.NewMemory(auth.MemoryOptions{})
	events := audit.NewMemoryEvents(audit.MemoryEventsOptions{})
	authorize, _ := admin.BearerToken(token)
	h, err := admin.New(admin.Options{
		Keys: store, Orgs: store, Authorize: authorize, KeyPrefix: "joby", Scopes: []scope.Scope{"leads:read", "tasks:read"},
		Events: events, Principal: func(*http.Request) string { return "ops@example.com" },
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: gatehouse.RequestID(h), store: store}
	org := e.org(true)
	k := e.key(org, `{"name":"zap","scopes":["leads:read"]}`)
	id := k["id"].(string)
	e.do("PATCH", "/admin/orgs/"+org+"/api-keys/"+id, `{"scopes":["tasks:read"],"rate_limit_per_minute":10}`)
	e.do("POST", "/admin/orgs/"+org+"/api-keys/"+id+"/revoke", "")
	e.do("POST", "/admin/orgs/"+org+"/api-keys/"+id+"/revoke", "") // idempotent: recorded once
	e.do("PATCH", "/admin/orgs/"+org, `{"api_enabled":false}`)
	other := e.org(false)

	r := e.do("GET", "/admin/orgs/"+org+"/events", "")
	list, _ := r.Body["data"].([]any)
	var got []string
	for _, v := range list {
		ev := v.(map[string]any)
		if ev["actor"] != "ops@example.com" || ev["organization_id"] != org {
			t.Fatalf("event %v", ev)
		}
		got = append(got, ev["action"].(string))
	}
	want := "[org.api_disabled key.revoked key.updated key.created org.api_enabled org.created]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if strings.Contains(r.Raw, k["key"].(string)) {
		t.Fatal("the trail holds the raw key")
	}
	if !strings.Contains(r.Raw, `"changed":"rate_limit_per_minute,scopes"`) {
		t.Errorf("update details: %s", r.Raw)
	}
	if r := e.do("GET", "/admin/orgs/"+other+"/events", ""); len(r.Body["data"].([]any)) != 1 {
		t.Errorf("other org events: %s", r.Raw)
	}
}

// TestKeyCreateNoStore (issue 13, "every response carrying a secret sends
// Cache-Control: no-store"): the answer holding the raw key is never
// cached; a read of the key (no secret) keeps the default.
func TestKeyCreateNoStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	r := e.do("POST", "/admin/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"]}`)
	if r.Code != 201 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d, Cache-Control %q", r.Code, r.Header.Get("Cache-Control"))
	}
	id, _ := r.data()["id"].(string)
	if got := e.do("GET", "/admin/orgs/"+org+"/api-keys/"+id, "").Header.Get("Cache-Control"); got == "no-store" {
		t.Errorf("read: Cache-Control %q", got)
	}
}

// TestUncleanPathsJSON404 (issue 13, "/admin%2forgs/… and /admin//orgs/…
// answer plain-text 404 / HTML 307"): the handler answers them, and any
// path outside its prefix, with the JSON 404.
func TestUncleanPathsJSON404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	for _, p := range []string{
		"/admin%2forgs/" + org, "/admin//orgs/" + org, "/admin/orgs//" + org, "/admin/./orgs/" + org,
		"/admin/orgs/x/../" + org, "/admin/orgs%2F" + org, "/admin%2Forgs", "/elsewhere", "/admin/orgs/" + org + "/api-keys/",
	} {
		for _, method := range []string{"GET", "POST", "PATCH", "DELETE"} {
			if r := e.do(method, p, ""); r.Code != 404 || r.Body["error"] != "Not found" {
				t.Errorf("%s %s: %d %s", method, p, r.Code, r.Raw)
			}
		}
	}
	if r := e.do("GET", "/admin/orgs/"+org, ""); r.Code != 200 {
		t.Fatalf("clean path: %d %s", r.Code, r.Raw)
	}
}
