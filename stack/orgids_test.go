package stack_test

import (
	"net/url"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// TestOrgIDTypes (issue 14 item 4): a service whose organization ids are
// its own — integers in a bigint column, or text such as "acme.eu:42" —
// creates its organizations with those ids through the admin API, gives
// them keys, and the keys work: writes, reads, cursors, the audit log (in
// SQL or Redis) and the rate limit. Malformed ids are 400 on every
// /admin/orgs/{org_id}… route, webhooks included.
func TestOrgIDTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ     tenancy.OrgIDType
		column  string
		ids     []string
		invalid []string
	}{
		{tenancy.OrgIDInteger, "BIGINT", []string{"1", "9223372036854775807"}, []string{"acme", "007", "-1", "9223372036854775808"}},
		{tenancy.OrgIDText, "TEXT", []string{"acme.eu:42", "1", "A_b-c.d"}, []string{"a%20b", "a%7Bb%7D", strings.Repeat("x", 65)}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			t.Parallel()
			eachBackend(t, func(t *testing.T, db dbtest.DB, o stack.Options) {
				ts, id := "TEXT", "TEXT"
				if db.Dialect == tenancy.Postgres {
					ts, id = "timestamptz", "uuid"
				}
				if _, err := db.DB.Exec(`CREATE TABLE things (id ` + id + ` PRIMARY KEY, organization_id ` + tc.column + ` NOT NULL,
					title TEXT NOT NULL, created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL)`); err != nil {
					t.Fatal(err)
				}
				o.Resources = []resource.Resource{{Name: "things", Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}}}}
				o.OrgIDType, o.Webhooks = tc.typ, true
				e := newEnv(t, db, o)
				if err := e.s.Registry().Check(t.Context()); err != nil {
					t.Fatalf("Check: %v", err)
				}
				for _, org := range tc.ids {
					r := e.admin("POST", "/orgs", `{"name":"Tenant","id":"`+org+`"}`)
					if r.code != 201 || r.str("id") != org {
						t.Fatalf("create %s: %d %s", org, r.code, r.raw)
					}
					if r := e.admin("POST", "/orgs", `{"name":"Again","id":"`+org+`"}`); r.code != 409 {
						t.Fatalf("create %s again: %d %s", org, r.code, r.raw)
					}
					if r := e.admin("GET", "/orgs/"+org, ""); r.code != 200 || r.str("id") != org {
						t.Fatalf("get %s: %d %s", org, r.code, r.raw)
					}
					if r := e.admin("PATCH", "/orgs/"+org, `{"api_enabled":true}`); r.code != 200 {
						t.Fatalf("enable %s: %d %s", org, r.code, r.raw)
					}
					r = e.admin("POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["things:read","things:create"]}`)
					if r.code != 201 {
						t.Fatalf("key of %s: %d %s", org, r.code, r.raw)
					}
					key, keyID := r.str("key"), r.str("id")
					for _, title := range []string{"one", "two", "three"} {
						if r := e.key(key, "POST", "/v1/things", `{"title":"`+title+`"}`); r.code != 201 {
							t.Fatalf("create a thing in %s: %d %s", org, r.code, r.raw)
						}
					}
					// Every organization sees its own three things only, page by page.
					var titles []string
					for target := "/v1/things?limit=2"; target != ""; {
						r := e.key(key, "GET", target, "")
						if r.code != 200 {
							t.Fatalf("list in %s: %d %s", org, r.code, r.raw)
						}
						for _, d := range r.body["data"].([]any) {
							titles = append(titles, d.(map[string]any)["title"].(string))
						}
						target = ""
						if next, _ := r.body["next_cursor"].(string); next != "" {
							target = "/v1/things?limit=2&cursor=" + url.QueryEscape(next)
						}
					}
					if strings.Join(titles, ",") != "three,two,one" {
						t.Fatalf("%s lists %v", org, titles)
					}
					if r := e.key(key, "GET", "/v1/whoami", ""); r.code != 200 || r.str("organization_id") != org {
						t.Fatalf("whoami in %s: %d %s", org, r.code, r.raw)
					}
					if got := e.auditOf(org, keyID, 6); len(got) != 6 {
						t.Fatalf("audit of %s: %v", org, got)
					}
					if r := e.admin("GET", "/orgs/"+org+"/webhooks", ""); r.code != 200 {
						t.Fatalf("webhooks of %s: %d %s", org, r.code, r.raw)
					}
				}
				for _, bad := range tc.invalid {
					for _, p := range []string{"", "/api-keys", "/events", "/webhooks", "/webhooks/00000000-0000-4000-8000-000000000000"} {
						r := e.admin("GET", "/orgs/"+bad+p, "")
						if r.code != 400 || r.body["error"] != gatehouse.MsgInvalidOrgID {
							t.Errorf("GET /admin/orgs/%s%s: %d %s", bad, p, r.code, r.raw)
						}
					}
					r := e.admin("POST", "/orgs", `{"name":"x","id":"`+strings.ReplaceAll(bad, "%20", " ")+`"}`)
					if r.code != 400 {
						t.Errorf("create %s: %d %s", bad, r.code, r.raw)
					}
				}
			})
		})
	}
}
