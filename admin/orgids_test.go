package admin_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// newTypedEnv is newEnv with organization ids of typ (and newID, when set,
// making ids of organizations created without one).
func newTypedEnv(t *testing.T, typ tenancy.OrgIDType, newID func(context.Context) (string, error)) *env {
	t.Helper()
	authorize, err := admin.BearerToken(token)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: auth.NewMemory(auth.MemoryOptions{}), audit: audit.NewMemory(audit.MemoryOptions{}),
		now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	h, err := admin.New(admin.Options{
		Keys: e.store, Orgs: e.store, Audit: e.audit, Authorize: authorize, KeyPrefix: "joby",
		Scopes: []scope.Scope{"leads:read"}, OrgIDType: typ, NewOrgID: newID,
		Now: func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = gatehouse.RequestID(h)
	return e
}

// TestOrgIDTypes (issue 14 item 4): the admin API takes the service's own
// organization ids, text or integer, and answers malformed ones 400 on
// every /admin/orgs/{org_id}… route.
func TestOrgIDTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ     tenancy.OrgIDType
		ids     []string // created, fetched, given keys
		invalid []string // path ids answered 400
		badBody []string // "id" members answered 400
	}{
		{tenancy.OrgIDText, []string{"1", "acme.eu:42", "A_b-c", strings.Repeat("z", 64)},
			[]string{"a%20b", "a%7Bb%7D", strings.Repeat("z", 65), "%C3%A9", "a%7Cb", "a,b"},
			[]string{`""`, `"a b"`, `"a/b"`, `".."`, `1`, `null`, `"` + strings.Repeat("z", 65) + `"`}},
		{tenancy.OrgIDInteger, []string{"1", "0", "9223372036854775807"},
			[]string{"acme", "007", "-1", "9223372036854775808", "1.5", "1e3", "%2B1"},
			[]string{`"x"`, `"01"`, `-1`, `1.0`, `1e3`, `"9223372036854775808"`, `true`}},
		{tenancy.OrgIDUUID, []string{"00000000-0000-4000-8000-000000000001"},
			[]string{"1", "acme.eu:42"},
			[]string{`"1"`, `1`}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			t.Parallel()
			e := newTypedEnv(t, tc.typ, nil)
			for _, id := range tc.ids {
				r := e.do("POST", "/admin/orgs", `{"name":"Org `+id+`","id":"`+id+`"}`)
				if r.Code != 201 || r.data()["id"] != id || r.Header.Get("Location") != "/admin/orgs/"+id {
					t.Fatalf("create %s: %d %s", id, r.Code, r.Raw)
				}
				if r := e.do("GET", "/admin/orgs/"+id, ""); r.Code != 200 || r.data()["id"] != id {
					t.Fatalf("get %s: %d %s", id, r.Code, r.Raw)
				}
				if r := e.do("PATCH", "/admin/orgs/"+id, `{"api_enabled":true}`); r.Code != 200 {
					t.Fatalf("enable %s: %d %s", id, r.Code, r.Raw)
				}
				k := e.key(id, `{"name":"k","scopes":["leads:read"]}`)
				if k["organization_id"] != id {
					t.Fatalf("key of %s: %v", id, k)
				}
				keyID := k["id"].(string)
				for _, p := range []string{"/api-keys", "/api-keys/" + keyID, "/api-keys/" + keyID + "/audit", "/events"} {
					if r := e.do("GET", "/admin/orgs/"+id+p, ""); r.Code != 200 {
						t.Errorf("GET %s%s: %d %s", id, p, r.Code, r.Raw)
					}
				}
				if r := e.do("POST", "/admin/orgs", `{"name":"Again","id":"`+id+`"}`); r.Code != 409 || r.Body["error"] != admin.MsgOrgExists {
					t.Errorf("create %s twice: %d %s", id, r.Code, r.Raw)
				}
			}
			for _, bad := range tc.invalid {
				for _, rq := range [][2]string{{"GET", ""}, {"PATCH", ""}, {"GET", "/api-keys"}, {"POST", "/api-keys"},
					{"GET", "/api-keys/00000000-0000-4000-8000-000000000000"}, {"POST", "/api-keys/00000000-0000-4000-8000-000000000000/revoke"},
					{"POST", "/api-keys/00000000-0000-4000-8000-000000000000/rotate"}, {"GET", "/events"}} {
					r := e.do(rq[0], "/admin/orgs/"+bad+rq[1], `{"name":"x"}`)
					if r.Code != 400 || r.Body["error"] != gatehouse.MsgInvalidOrgID || !strings.Contains(r.Raw, `"fields":["org_id"]`) {
						t.Errorf("%s /admin/orgs/%s%s: %d %s", rq[0], bad, rq[1], r.Code, r.Raw)
					}
				}
			}
			for _, bad := range tc.badBody {
				r := e.do("POST", "/admin/orgs", `{"name":"x","id":`+bad+`}`)
				if r.Code != 400 || r.Body["error"] != gatehouse.MsgInvalidFieldValues || !strings.Contains(r.Raw, `"fields":["id"]`) {
					t.Errorf("create with id %s: %d %s", bad, r.Code, r.Raw)
				}
			}
			// A valid id that does not exist is still 404.
			missing := map[tenancy.OrgIDType]string{tenancy.OrgIDText: "nobody", tenancy.OrgIDInteger: "77", tenancy.OrgIDUUID: "00000000-0000-4000-8000-000000000099"}[tc.typ]
			if r := e.do("GET", "/admin/orgs/"+missing, ""); r.Code != 404 {
				t.Errorf("GET missing %s: %d %s", missing, r.Code, r.Raw)
			}
			// Listing pages through them with cursors.
			seen := map[string]bool{}
			for cursor := ""; ; {
				r := e.do("GET", "/admin/orgs?limit=1"+cursor, "")
				if r.Code != 200 {
					t.Fatalf("list: %d %s", r.Code, r.Raw)
				}
				for _, o := range r.Body["data"].([]any) {
					seen[o.(map[string]any)["id"].(string)] = true
				}
				next, _ := r.Body["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = "&cursor=" + next
			}
			if len(seen) != len(tc.ids) {
				t.Errorf("listed %v, want %v", seen, tc.ids)
			}
		})
	}
}

// TestOrgIDGenerated: without "id", text and uuid organizations get a
// UUID, integer ones need "id" unless Options.NewOrgID makes one (which
// must be of the type).
func TestOrgIDGenerated(t *testing.T) {
	t.Parallel()
	for _, typ := range []tenancy.OrgIDType{"", tenancy.OrgIDText} {
		e := newTypedEnv(t, typ, nil)
		if id := e.org(true); !tenancy.OrgIDUUID.Valid(id) {
			t.Errorf("%q: generated %q", typ, id)
		}
	}
	e := newTypedEnv(t, tenancy.OrgIDInteger, nil)
	if r := e.do("POST", "/admin/orgs", `{"name":"x"}`); r.Code != 400 || !strings.Contains(r.Raw, `"fields":["id"]`) {
		t.Errorf("integer without id: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/admin/orgs", `{"name":"x","id":42}`); r.Code != 201 || r.data()["id"] != "42" {
		t.Errorf("integer id as a JSON number: %d %s", r.Code, r.Raw)
	}
	n := 100
	e = newTypedEnv(t, tenancy.OrgIDInteger, func(context.Context) (string, error) { n++; return strconv.Itoa(n), nil })
	if r := e.do("POST", "/admin/orgs", `{"name":"x"}`); r.Code != 201 || r.data()["id"] != "101" {
		t.Errorf("NewOrgID: %d %s", r.Code, r.Raw)
	}
	e = newTypedEnv(t, tenancy.OrgIDInteger, func(context.Context) (string, error) { return "x", nil })
	if r := e.do("POST", "/admin/orgs", `{"name":"x"}`); r.Code != 500 {
		t.Errorf("NewOrgID returning a non-integer: %d %s", r.Code, r.Raw)
	}
	e = newTypedEnv(t, tenancy.OrgIDInteger, func(context.Context) (string, error) { return "", errors.New("down") })
	if r := e.do("POST", "/admin/orgs", `{"name":"x"}`); r.Code != 500 {
		t.Errorf("NewOrgID failing: %d %s", r.Code, r.Raw)
	}
	if _, err := admin.New(admin.Options{OrgIDType: "bigint"}); err == nil {
		t.Error("unknown OrgIDType accepted")
	}
}
