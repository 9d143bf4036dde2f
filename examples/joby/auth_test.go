package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	_, other, _ := a.tenant()
	// A well-formed key with a valid checksum that was never issued.
	unknown := key[:len("joby_live_")] + "AAAAAAAAAAAAAAAA" + key[len("joby_live_")+16:]
	typo := key[:len(key)-10] + flip(key[len(key)-10]) + key[len(key)-9:]

	cases := []struct {
		name    string
		headers []string
		code    int
		msg     string
	}{
		{"bearer", []string{"Authorization", "Bearer " + key}, 200, ""},
		{"bearer scheme case-insensitive", []string{"Authorization", "bEaReR " + key}, 200, ""},
		{"alternative header", []string{"X-Joby-API-Key", key}, 200, ""},
		{"both headers, same key", []string{"Authorization", "Bearer " + key, "X-Joby-API-Key", key}, 200, ""},
		{"both headers, different keys", []string{"Authorization", "Bearer " + key, "X-Joby-API-Key", other}, 401, "Invalid API key"},
		{"no key", nil, 401, "Missing API key"},
		{"empty authorization", []string{"Authorization", ""}, 401, "Invalid API key"},
		{"basic scheme", []string{"Authorization", "Basic " + key}, 401, "Invalid API key"},
		{"bearer without key", []string{"Authorization", "Bearer "}, 401, "Invalid API key"},
		{"garbage", []string{"Authorization", "Bearer hello"}, 401, "Invalid API key"},
		{"checksum typo", []string{"Authorization", "Bearer " + typo}, 401, "Invalid API key"},
		{"unknown key", []string{"Authorization", "Bearer " + unknown}, 401, "Invalid API key"},
		{"wrong prefix", []string{"Authorization", "Bearer acme" + key[4:]}, 401, "Invalid API key"},
		{"admin token is not an API key", []string{"Authorization", "Bearer " + testAdminToken}, 401, "Invalid API key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("GET", "/v1/leads", "", tc.headers...)
			if r.Code != tc.code || (tc.msg != "" && errText(r) != tc.msg) {
				t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, tc.code, tc.msg)
			}
			if tc.code == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// An API key never opens the admin API.
	if r := a.do("GET", "/admin/orgs/00000000-0000-4000-8000-000000000000", "", "Authorization", "Bearer "+key); r.Code != 401 {
		t.Fatalf("API key on /admin: %d %s", r.Code, r.Raw)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		org := a.newOrg(true)
		key, id := a.newKey(org, `{"name":"k","scopes":["leads:read"],"expires_at":"`+time.Now().UTC().Add(2*time.Second).Format(time.RFC3339Nano)+`"}`)
		if r := a.key(key, "GET", "/v1/leads", ""); r.Code != 200 {
			t.Fatalf("fresh key: %d %s", r.Code, r.Raw)
		}
		// Scope change applies to the very next request.
		if r := a.key(key, "POST", "/v1/leads", `{"first_name":"A"}`); r.Code != 403 || errText(r) != "Missing scope" || r.Body["required_scope"] != "leads:create" {
			t.Fatalf("missing scope: %d %s", r.Code, r.Raw)
		}
		if r := a.admin("PATCH", "/orgs/"+org+"/api-keys/"+id, `{"scopes":["leads:read","leads:create"]}`); r.Code != 200 {
			t.Fatal(r.Raw)
		}
		if r := a.key(key, "POST", "/v1/leads", `{"first_name":"A"}`); r.Code != 201 {
			t.Fatalf("after scope change: %d %s", r.Code, r.Raw)
		}
		// Module switched off → 403; on again → 200.
		a.admin("PATCH", "/orgs/"+org, `{"api_enabled":false}`)
		if r := a.key(key, "GET", "/v1/leads", ""); r.Code != 403 || errText(r) != "Developer API is not enabled for this organization" {
			t.Fatalf("disabled module: %d %s", r.Code, r.Raw)
		}
		a.admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`)
		// Expiry.
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := a.key(key, "GET", "/v1/leads", "")
			if r.Code == 401 {
				if errText(r) != "API key expired" {
					t.Fatalf("expired: %s", r.Raw)
				}
				break
			}
			if r.Code != 200 || time.Now().After(deadline) {
				t.Fatalf("before expiry: %d %s", r.Code, r.Raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Revocation takes effect on the very next request.
		if r := a.admin("GET", "/orgs/"+org+"/events", ""); r.Code != 200 || !strings.Contains(r.Raw, `"action":"key.updated"`) || !strings.Contains(r.Raw, `"action":"org.api_disabled"`) {
			t.Fatalf("events: %d %s", r.Code, r.Raw)
		}
		key2, id2 := a.newKey(org, "")
		if r := a.key(key2, "GET", "/v1/leads", ""); r.Code != 200 {
			t.Fatal(r.Raw)
		}
		a.admin("POST", "/orgs/"+org+"/api-keys/"+id2+"/revoke", "")
		if r := a.key(key2, "GET", "/v1/leads", ""); r.Code != 401 || errText(r) != "API key revoked" {
			t.Fatalf("revoked: %d %s", r.Code, r.Raw)
		}
	})
}

func TestModuleOffByDefault(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	org := a.newOrg(false)
	key, _ := a.newKey(org, "")
	if r := a.key(key, "GET", "/v1/leads", ""); r.Code != 403 || errText(r) != "Developer API is not enabled for this organization" {
		t.Fatalf("%d %s", r.Code, r.Raw)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	eachBackend(t, testRateLimit)
}

func testRateLimit(t *testing.T, a *api) {
	org := a.newOrg(true)
	key, id := a.newKey(org, `{"name":"k","scopes":["leads:read"],"rate_limit_per_minute":3}`)
	for i := range 3 {
		r := a.key(key, "GET", "/v1/leads", "")
		if r.Code != 200 {
			t.Fatalf("request %d: %d %s", i, r.Code, r.Raw)
		}
		if r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("RateLimit-Policy") == "" {
			t.Fatalf("rate limit headers: %v", r.Header)
		}
	}
	r := a.key(key, "GET", "/v1/leads", "")
	if r.Code != 429 || errText(r) != "Rate limit exceeded" || r.Header.Get("Retry-After") == "" || r.Header.Get("Retry-After") == "0" {
		t.Fatalf("4th request: %d %s %v", r.Code, r.Raw, r.Header)
	}
	// Another key of the same organization has its own budget.
	key2, _ := a.newKey(org, `{"name":"k2","scopes":["leads:read"],"rate_limit_per_minute":3}`)
	if r := a.key(key2, "GET", "/v1/leads", ""); r.Code != 200 {
		t.Fatalf("second key: %d", r.Code)
	}
	// The 429 is not among the key's latest requests (a flood of refused
	// requests cannot erase them): the audit read counts it instead.
	entries := a.auditOf(org, id, func(l []map[string]any) bool { return len(l) >= 3 })
	if len(entries) != 3 || entries[0]["status"] != float64(200) {
		t.Fatalf("audit %v", entries)
	}
	var rl map[string]any
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := a.admin("GET", "/orgs/"+org+"/api-keys/"+id+"/audit", "")
		rl, _ = r.Body["rate_limited"].(map[string]any)
		if rl["count"] == float64(1) || time.Now().After(deadline) {
			break
		}
	}
	if rl["count"] != float64(1) || rl["last_at"] == nil {
		t.Fatalf("rate_limited %v, want count 1 with last_at", rl)
	}
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	eachBackend(t, testAuditLog)
}

func testAuditLog(t *testing.T, a *api) {
	org, key, id := a.tenant()
	lead := a.create(key, "leads", `{"first_name":"A"}`)
	a.key(key, "GET", "/v1/leads/"+lead["id"].(string)+"?secret=abc", "")
	a.key(key, "DELETE", "/v1/leads/"+lead["id"].(string), "")
	a.key(key, "GET", "/v1/nothing", "")
	a.key(key, "POST", "/v1/leads", `{"id":"x"}`)
	a.do("GET", "/v1/leads", "", "Authorization", "Bearer "+key+"x") // failed auth: not recorded
	a.do("GET", "/v1/leads", "", "User-Agent", strings.Repeat("u", 5000), "X-Joby-API-Key", key)

	entries := a.auditOf(org, id, func(l []map[string]any) bool { return len(l) >= 6 })
	if len(entries) != 6 {
		t.Fatalf("want 6 entries, got %d: %v", len(entries), entries)
	}
	want := []struct {
		method, route string
		status        float64
	}{
		{"GET", "/v1/leads", 200},
		{"POST", "/v1/leads", 400},
		{"GET", "/v1/", 404},
		{"DELETE", "/v1/leads/{id}", 405},
		{"GET", "/v1/leads/{id}", 200},
		{"POST", "/v1/leads", 201},
	}
	for i, w := range want {
		e := entries[i]
		if e["method"] != w.method || e["status"] != w.status {
			t.Errorf("entry %d = %v, want %v", i, e, w)
		}
		if w.route != "/v1/" && e["route"] != w.route {
			t.Errorf("entry %d route %v, want %s", i, e["route"], w.route)
		}
		if e["ip"] != "192.0.2.10" || e["request_id"] == "" || e["time"] == "" {
			t.Errorf("entry %d: %v", i, e)
		}
	}
	if p := entries[4]["path"].(string); strings.Contains(p, "secret") || !strings.HasPrefix(p, "/v1/leads/") {
		t.Errorf("path %q", p)
	}
	if ua := entries[0]["user_agent"].(string); len(ua) > 512 {
		t.Errorf("user agent not truncated: %d", len(ua))
	}
	// Cap: the latest 50.
	for range 60 {
		a.key(key, "GET", "/v1/schema", "")
	}
	entries = a.auditOf(org, id, func(l []map[string]any) bool { return len(l) == 50 && l[0]["path"] == "/v1/schema" })
	if len(entries) != 50 {
		t.Fatalf("cap: %d entries", len(entries))
	}
}

func TestSecretsNeverStoredOrLogged(t *testing.T) {
	t.Parallel()
	eachBackend(t, testSecretsNeverStoredOrLogged)
}

func testSecretsNeverStoredOrLogged(t *testing.T, a *api) {
	org, key, id := a.tenant()
	a.key(key, "GET", "/v1/leads", "")
	a.do("GET", "/v1/leads", "", "X-Joby-API-Key", key)
	a.do("GET", "/v1/leads", "", "Authorization", "Bearer "+key, "X-Joby-API-Key", key+"x")
	a.key(key, "GET", "/v1/nothing", "")
	a.admin("POST", "/orgs/"+org+"/api-keys/"+id+"/revoke", "")
	a.key(key, "GET", "/v1/leads", "")
	a.auditOf(org, id, func(l []map[string]any) bool { return len(l) >= 3 })
	var redisDump strings.Builder
	if rc := a.app.Redis(); rc != nil {
		ctx := context.Background()
		iter := rc.Scan(ctx, 0, "*"+org+"*", 100).Iterator()
		n := 0
		for iter.Next(ctx) {
			n++
			for _, m := range rc.ZRange(ctx, iter.Val(), 0, -1).Val() {
				redisDump.WriteString(m)
			}
		}
		if n == 0 || redisDump.Len() == 0 {
			t.Fatalf("no audit keys of the organization found in Redis (%d keys)", n)
		}
	}
	if err := a.app.Close(); err != nil { // checkpoint the WAL into the file
		t.Fatal(err)
	}
	secret := key[strings.LastIndexByte(key, '_')+1:]
	var files []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, _ := os.ReadFile(a.path + suffix)
		files = append(files, b...)
	}
	if len(files) == 0 {
		t.Fatal("database file not found")
	}
	for _, s := range []string{key, secret} {
		if strings.Contains(string(files), s) {
			t.Error("the database holds the raw key")
		}
		if strings.Contains(a.logs.String(), s) {
			t.Error("the logs hold the raw key")
		}
		if strings.Contains(redisDump.String(), s) {
			t.Error("Redis holds the raw key")
		}
	}
}
