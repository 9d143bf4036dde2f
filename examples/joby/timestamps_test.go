package main

import (
	"gatehouse.dev/stack"
	"net/http"
	"path/filepath"
	"testing"

	"gatehouse.dev/internal/dbtest"
)

// TestWriteTimestampsEqualReads (issue 13, "an API key's created_at in
// the create response has nanoseconds and the same key read back has
// microseconds"): every timestamp a create or update answers equals what a
// later read answers, on SQLite and PostgreSQL, with the real clock (which
// has nanoseconds).
func TestWriteTimestampsEqualReads(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, a *api) {
		same := func(what string, write, read resp, fields ...string) {
			t.Helper()
			if read.Code != http.StatusOK {
				t.Fatalf("%s: read %d %s", what, read.Code, read.Raw)
			}
			for _, f := range fields {
				if w, r := write.data()[f], read.data()[f]; w == nil || w != r {
					t.Errorf("%s %s: write answered %v, read answers %v", what, f, w, r)
				}
			}
		}
		org := a.admin("POST", "/orgs", `{"name":"Org"}`)
		id := org.str("id")
		same("org create", org, a.admin("GET", "/orgs/"+id, ""), "created_at", "updated_at")
		patched := a.admin("PATCH", "/orgs/"+id, `{"api_enabled":true}`)
		same("org update", patched, a.admin("GET", "/orgs/"+id, ""), "created_at", "updated_at")

		k := a.admin("POST", "/orgs/"+id+"/api-keys", `{"name":"k","scopes":["leads:read","leads:create","leads:update","webhooks:manage"]}`)
		keyPath := "/orgs/" + id + "/api-keys/" + k.str("id")
		same("key create", k, a.admin("GET", keyPath, ""), "created_at", "updated_at")
		kp := a.admin("PATCH", keyPath, `{"name":"k2"}`)
		same("key update", kp, a.admin("GET", keyPath, ""), "created_at", "updated_at")
		raw := k.str("key")

		lead := a.key(raw, "POST", "/v1/leads", `{"first_name":"Ann"}`)
		if lead.Code != http.StatusCreated {
			t.Fatalf("lead: %d %s", lead.Code, lead.Raw)
		}
		leadPath := "/v1/leads/" + lead.str("id")
		same("lead create", lead, a.key(raw, "GET", leadPath, ""), "created_at", "updated_at")
		lp := a.key(raw, "PATCH", leadPath, `{"first_name":"Bo"}`)
		same("lead update", lp, a.key(raw, "GET", leadPath, ""), "created_at", "updated_at")

		wh := a.admin("POST", "/orgs/"+id+"/webhooks", `{"target_url":"http://127.0.0.1:9/in","events":["lead.created"]}`)
		if wh.Code == http.StatusCreated {
			whPath := "/orgs/" + id + "/webhooks/" + wh.str("id")
			same("webhook create", wh, a.admin("GET", whPath, ""), "created_at", "updated_at")
			rot := a.admin("POST", whPath+"/rotate-secret", `{"grace_period_seconds":3600}`)
			same("webhook rotate", rot, a.admin("GET", whPath, ""), "created_at", "updated_at", "previous_secret_expires_at")
		} else {
			t.Logf("webhook create: %d %s (endpoint checks skipped)", wh.Code, wh.Raw)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, newAPIWith(t, stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db"), Webhook: loopbackWebhooks}))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		run(t, newAPIWith(t, stack.Options{DatabaseURL: dbtest.PostgresSchemaURL(t), Webhook: loopbackWebhooks}))
	})
}
