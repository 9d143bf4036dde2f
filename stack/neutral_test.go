package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// TestNeutralDefaults (issue 14 item 5): /schema reports the key and audit
// figures the admin API and the audit log enforce (their defaults, or what
// Options.Limits sets for both), and the 403 of an organization whose API
// is off is neutral unless the service words it (in the answer and in the
// OpenAPI document alike).
func TestNeutralDefaults(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		for _, tc := range []struct {
			o        stack.Options
			limits   string
			disabled string
			keyLimit float64
		}{
			{stack.Options{}, "map[audit_log_size:50 default_limit:50 default_rate_limit_per_minute:60 max_limit:1000 max_offset:10000 max_rate_limit_per_minute:300]",
				gatehouse.MsgModuleDisabled, 60},
			{stack.Options{Limits: resource.Limits{DefaultRateLimitPerMinute: 20, MaxRateLimitPerMinute: 40, AuditLogSize: 10}, DisabledMessage: "Acme API is off for you"},
				"map[audit_log_size:10 default_limit:50 default_rate_limit_per_minute:20 max_limit:1000 max_offset:10000 max_rate_limit_per_minute:40]",
				"Acme API is off for you", 20},
		} {
			e := newEnv(t, freshDB(t, db), tc.o)
			org, key, keyID := e.tenant("notes:read")
			r := e.key(key, "GET", "/v1/schema", "")
			if r.code != 200 || fmt.Sprint(r.data()["limits"]) != tc.limits {
				t.Errorf("schema limits: %d %v, want %s", r.code, r.data()["limits"], tc.limits)
			}
			if p := fmt.Sprint(r.data()["protected_fields"]); p != "[id organization_id created_at updated_at]" {
				t.Errorf("protected fields %s", p)
			}
			if r := e.admin("GET", "/orgs/"+org+"/api-keys/"+keyID, ""); r.data()["rate_limit_per_minute"] != tc.keyLimit {
				t.Errorf("new key's limit: %s", r.raw)
			}
			doc := e.key(key, "GET", "/v1/openapi.json", "")
			e.admin("PATCH", "/orgs/"+org, `{"api_enabled":false}`)
			e.s.KeyChanged(t.Context(), org, "")
			if r := e.key(key, "GET", "/v1/notes", ""); r.code != 403 || r.body["error"] != tc.disabled {
				t.Errorf("API off: %d %s, want %q", r.code, r.raw, tc.disabled)
			}
			if !strings.Contains(doc.raw, `"`+tc.disabled+`"`) || (tc.disabled != gatehouse.MsgModuleDisabled && strings.Contains(doc.raw, gatehouse.MsgModuleDisabled)) {
				t.Errorf("the OpenAPI document does not say %q", tc.disabled)
			}
		}
	})
}

// freshDB is another empty database of db's kind.
func freshDB(t *testing.T, db dbtest.DB) dbtest.DB {
	t.Helper()
	if db.Dialect == tenancy.Postgres {
		return dbtest.DB{Name: db.Name, DB: dbtest.Postgres(t), Dialect: db.Dialect}
	}
	return dbtest.DB{Name: db.Name, DB: dbtest.SQLite(t), Dialect: db.Dialect}
}
