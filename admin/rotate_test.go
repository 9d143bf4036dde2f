package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
)

func TestRotate(t *testing.T) {
	t.Parallel()
	store := auth.NewMemory(auth.MemoryOptions{})
	events := audit.NewMemoryEvents(audit.MemoryEventsOptions{})
	authorize, _ := admin.BearerToken(token)
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	var changed []string
	h, err := admin.New(admin.Options{
		Keys: store, Orgs: store, Authorize: authorize, KeyPrefix: "joby", Scopes: []scope.Scope{"leads:read", "tasks:read"},
		Events: events, Principal: func(*http.Request) string { return "ops@example.com" },
		OnKeyChange: func(_ context.Context, orgID, keyID string) {
			if keyID != "" {
				changed = append(changed, keyID)
			}
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: gatehouse.RequestID(h), store: store}
	org := e.org(true)
	k := e.key(org, `{"name":"zap","scopes":["leads:read"],"rate_limit_per_minute":7,"expires_at":"2026-12-31T00:00:00Z"}`)
	id := k["id"].(string)
	path := "/admin/orgs/" + org + "/api-keys/" + id + "/rotate"

	for _, tc := range []struct{ body, msg string }{
		{`{"grace_seconds":-1}`, "Invalid field values"},
		{`{"grace_seconds":604801}`, "Invalid field values"},
		{`{"grace_seconds":1.5}`, "Invalid field values"},
		{`{"grace_seconds":"60"}`, "Invalid field values"},
		{`{"grace_seconds":null}`, "Invalid field values"},
		{`{"grace":60}`, "Unsupported or protected fields"},
		{`[]`, "Invalid JSON body"},
	} {
		if r := e.do("POST", path, tc.body); r.Code != 400 || r.Body["error"] != tc.msg {
			t.Errorf("%s: %d %s", tc.body, r.Code, r.Raw)
		}
	}
	if r := e.do("POST", path, `{"grace_seconds":-1}`); !strings.Contains(r.Raw, `"field":"grace_seconds","message":"must be an integer from 0 to 604800"`) {
		t.Errorf("grace message: %s", r.Raw)
	}
	if r := e.do("POST", "/admin/orgs/"+e.org(true)+"/api-keys/"+id+"/rotate", `{}`); r.Code != 404 {
		t.Errorf("other organization's key: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", path, ``); r.Code != 405 || r.Header.Get("Allow") != "POST" {
		t.Errorf("GET rotate: %d %v", r.Code, r.Header)
	}

	r := e.do("POST", path, `{"grace_seconds":86400}`)
	if r.Code != 201 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotate: %d %v %s", r.Code, r.Header, r.Raw)
	}
	d := r.data()
	raw, _ := d["key"].(string)
	newID, _ := d["id"].(string)
	if _, err := auth.Parse(raw); err != nil || newID == id {
		t.Fatalf("rotate answer: %s", r.Raw)
	}
	if r.Header.Get("Location") != "/admin/orgs/"+org+"/api-keys/"+newID {
		t.Errorf("Location = %q", r.Header.Get("Location"))
	}
	if d["name"] != "zap" || d["rate_limit_per_minute"] != float64(7) || d["expires_at"] != "2026-12-31T00:00:00Z" ||
		fmt.Sprint(d["scopes"]) != "[leads:read]" || d["lineage"] != id || d["replaced_by"] != nil {
		t.Errorf("new key: %s", r.Raw)
	}
	old, _ := d["replaced_key"].(map[string]any)
	if old["id"] != id || old["replaced_by"] != newID || old["expires_at"] != "2026-07-02T12:00:00Z" || old["key"] != nil {
		t.Errorf("replaced key: %v", old)
	}
	if fmt.Sprint(changed) != "["+id+"]" {
		t.Errorf("OnKeyChange calls %v, want the old key", changed)
	}
	// Both keys resolve; the old one expires after the grace.
	for _, pid := range []string{strings.Split(raw, "_")[2], strings.Split(strings.TrimSuffix(k["display_prefix"].(string), "_…"), "_")[2]} {
		got, err := store.LookupKey(t.Context(), pid)
		if err != nil || got.LineageID() != id {
			t.Errorf("lookup %s: %+v %v", pid, got.Lineage, err)
		}
	}
	if r := e.do("POST", path, `{"grace_seconds":0}`); r.Code != 409 || r.Body["error"] != admin.MsgKeyRotated {
		t.Errorf("rotate twice: %d %s", r.Code, r.Raw)
	}
	e.do("POST", "/admin/orgs/"+org+"/api-keys/"+newID+"/revoke", "")
	if r := e.do("POST", "/admin/orgs/"+org+"/api-keys/"+newID+"/rotate", ``); r.Code != 409 || r.Body["error"] != admin.MsgKeyRevoked {
		t.Errorf("rotate revoked: %d %s", r.Code, r.Raw)
	}
	// A key of the lineage lists with it.
	if r := e.do("GET", "/admin/orgs/"+org+"/api-keys/"+id, ""); r.data()["replaced_by"] != newID {
		t.Errorf("get old: %s", r.Raw)
	}
	// The trail names who rotated what.
	list, _ := events.List(t.Context(), org)
	var rotated *audit.Event
	for i := range list {
		if list[i].Action == audit.ActionKeyRotated {
			rotated = &list[i]
		}
	}
	if rotated == nil || rotated.Actor != "ops@example.com" || rotated.Target != newID || rotated.Details["replaces"] != id ||
		rotated.Details["grace_seconds"] != "86400" || rotated.Details["old_expires_at"] != "2026-07-02T12:00:00Z" {
		t.Errorf("trail: %+v", rotated)
	}
	if strings.Contains(fmt.Sprint(list), raw) {
		t.Error("the trail holds the raw key")
	}
}

func TestRotateGraceCappedByExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	k := e.key(org, `{"name":"soon","scopes":["leads:read"],"expires_at":"2026-07-01T13:00:00Z"}`)
	r := e.do("POST", "/admin/orgs/"+org+"/api-keys/"+k["id"].(string)+"/rotate", `{"grace_seconds":604800}`)
	if r.Code != 201 {
		t.Fatalf("%d %s", r.Code, r.Raw)
	}
	if old := r.data()["replaced_key"].(map[string]any); old["expires_at"] != "2026-07-01T13:00:00Z" {
		t.Errorf("old expiry %v, want its own earlier expiry", old["expires_at"])
	}
	if r.data()["expires_at"] != "2026-07-01T13:00:00Z" {
		t.Errorf("new expiry %v, want the same expiry", r.data()["expires_at"])
	}
	// Default grace is 0: the old key expires at once.
	k2 := e.key(org, `{"name":"now","scopes":["leads:read"]}`)
	r = e.do("POST", "/admin/orgs/"+org+"/api-keys/"+k2["id"].(string)+"/rotate", ``)
	if r.Code != 201 || r.data()["replaced_key"].(map[string]any)["expires_at"] != "2026-07-01T12:00:00Z" {
		t.Errorf("no body: %d %s", r.Code, r.Raw)
	}
}

func TestListOrgs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		name := []string{"Acme", "Globex", "acme labs", "Initech", "Umbrella"}[i]
		r := e.do("POST", "/admin/orgs", `{"name":"`+name+`"}`)
		ids = append(ids, r.data()["id"].(string))
		e.now = e.now.Add(time.Second)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "/admin/orgs?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do("GET", q, "")
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", q, r.Code, r.Raw)
		}
		for _, v := range r.Body["data"].([]any) {
			got = append(got, v.(map[string]any)["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if (next != "") != (r.Body["has_more"] == true) || pages > 5 {
			t.Fatalf("page: %s", r.Raw)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages %v, want %v", got, want)
	}
	r := e.do("GET", "/admin/orgs?q=ACME", "")
	if list := r.Body["data"].([]any); len(list) != 2 || list[0].(map[string]any)["name"] != "acme labs" || r.Body["has_more"] != false || r.Body["next_cursor"] != nil {
		t.Errorf("q=ACME: %s", r.Raw)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=!!", "cursor=" + url.QueryEscape("bm90LWEtY3Vyc29y"), "sort=name", "q=" + strings.Repeat("x", 201)} {
		if r := e.do("GET", "/admin/orgs?"+q, ""); r.Code != 400 || r.Body["error"] != "Invalid query parameters" {
			t.Errorf("%s: %d %s", q, r.Code, r.Raw)
		}
	}
}

func TestExpiryYear10000(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.org(true)
	// "9999-12-31" means through that day, which ends in year 10000: JSON
	// cannot write it, so it is refused, not stored.
	r := e.do("POST", "/admin/orgs/"+org+"/api-keys", `{"name":"far","scopes":["leads:read"],"expires_at":"9999-12-31"}`)
	if r.Code != 400 || r.Body["error"] != "Invalid field values" {
		t.Fatalf("%d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/admin/orgs/"+org+"/api-keys", `{"name":"far","scopes":["leads:read"],"expires_at":"9999-12-30"}`); r.Code != 201 {
		t.Fatalf("9999-12-30: %d %s", r.Code, r.Raw)
	}
}
