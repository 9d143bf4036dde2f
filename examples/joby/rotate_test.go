package main

import (
	"gatehouse.dev/stack"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
)

// TestRotation: a rotated key and its replacement both work during the
// grace period, on every backend; they share one rate-limit bucket, one
// idempotency scope and the webhook subscriptions; after the grace the old
// key is refused.
func TestRotation(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testRotation(t, backend == "redis")
		})
	}
}

func testRotation(t *testing.T, withRedis bool) {
	{
		var mu sync.Mutex
		now := time.Now().UTC()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		cfg := stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db"), Now: clock, Webhook: loopbackWebhooks}
		if withRedis {
			dbtest.Redis(t) // skip or fail when Redis is unreachable
			cfg.RedisURL = "redis://" + dbtest.RedisAddr()
		}
		a := newAPIWith(t, cfg)
		org := a.newOrg(true)
		oldKey, oldID := a.newKey(org, `{"name":"zap","scopes":["leads:read","leads:create","webhooks:manage"],"rate_limit_per_minute":100}`)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
		defer recv.Close()
		if r := a.key(oldKey, "POST", "/v1/webhooks", `{"target_url":"`+recv.URL+`/before","events":["lead.created"]}`); r.Code != 201 {
			t.Fatalf("subscribe: %d %s", r.Code, r.Raw)
		}

		r := a.admin("POST", "/orgs/"+org+"/api-keys/"+oldID+"/rotate", `{"grace_seconds":3600}`)
		if r.Code != 201 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate: %d %s", r.Code, r.Raw)
		}
		newKey, newID := r.str("key"), r.str("id")

		// Idempotency: a retry with the new key replays what the old key did.
		first := a.do("POST", "/v1/leads", `{"first_name":"Once"}`, "Authorization", "Bearer "+oldKey, "Idempotency-Key", "rot-1")
		retry := a.do("POST", "/v1/leads", `{"first_name":"Once"}`, "Authorization", "Bearer "+newKey, "Idempotency-Key", "rot-1")
		if first.Code != 201 || retry.Code != 201 || retry.Header.Get("Idempotent-Replayed") != "true" || first.str("id") != retry.str("id") {
			t.Fatalf("retry with the new key: %d %d %q %s / %s", first.Code, retry.Code, retry.Header.Get("Idempotent-Replayed"), first.Raw, retry.Raw)
		}
		// A subscription the old key makes during the grace belongs to the
		// lineage: the new key lists both.
		if r := a.key(oldKey, "POST", "/v1/webhooks", `{"target_url":"`+recv.URL+`/during","events":["lead.created"]}`); r.Code != 201 {
			t.Fatalf("subscribe during grace: %d %s", r.Code, r.Raw)
		}
		if l := a.key(newKey, "GET", "/v1/webhooks", ""); l.Code != 200 || len(l.list()) != 2 {
			t.Fatalf("new key's subscriptions: %d %s", l.Code, l.Raw)
		}
		// After the grace (and a minute, for the bucket) the old key is
		// expired; the new one works and still sees the subscriptions.
		mu.Lock()
		now = now.Add(time.Hour + time.Minute)
		mu.Unlock()
		if r := a.key(oldKey, "GET", "/v1/leads", ""); r.Code != 401 || errText(r) != "API key expired" {
			t.Errorf("old key after the grace: %d %s", r.Code, r.Raw)
		}
		if r := a.key(newKey, "GET", "/v1/leads", ""); r.Code != 200 {
			t.Errorf("new key after the grace: %d %s", r.Code, r.Raw)
		}
		l := a.key(newKey, "GET", "/v1/webhooks", "")
		for _, ep := range l.list() {
			if ep["enabled"] != true {
				t.Errorf("subscription disabled after the old key expired: %v", ep)
			}
		}
		// Revoking the live key stops the lineage's subscriptions.
		a.admin("POST", "/orgs/"+org+"/api-keys/"+newID+"/revoke", "")
		if r := a.key(newKey, "GET", "/v1/leads", ""); r.Code != 401 {
			t.Errorf("revoked new key: %d", r.Code)
		}
		if r := a.admin("GET", "/orgs/"+org+"/webhooks", ""); r.Code == 200 {
			for _, ep := range r.list() {
				if ep["enabled"] != false {
					t.Errorf("subscription still enabled after the lineage's key was revoked: %v", ep)
				}
			}
		}

		// One rate-limit bucket for the lineage: 4 per minute for both keys
		// together, not 4 each.
		k1, k1ID := a.newKey(org, `{"name":"limited","scopes":["leads:read"],"rate_limit_per_minute":4}`)
		r = a.admin("POST", "/orgs/"+org+"/api-keys/"+k1ID+"/rotate", `{"grace_seconds":600}`)
		k2 := r.str("key")
		passed := 0
		for i := range 10 {
			k := k1
			if i%2 == 1 {
				k = k2
			}
			switch c := a.key(k, "GET", "/v1/leads", "").Code; c {
			case 200:
				passed++
			case 429:
			default:
				t.Fatalf("request %d: %d", i, c)
			}
		}
		if passed != 4 {
			t.Errorf("%d requests passed with a limit of 4 per minute shared by the lineage", passed)
		}
	}
}
