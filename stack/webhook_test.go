package stack_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/stack"
	"gatehouse.dev/webhook"
)

// TestWebhookDeliveredOnCommit: issue 17 item 5. With the stack's wiring
// a write's event goes out once the write commits, not at the next poll
// (an hour here), on SQLite and PostgreSQL.
func TestWebhookDeliveredOnCommit(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		var got atomic.Int64
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		defer rc.Close()
		e := newEnv(t, db, stack.Options{
			Webhooks:   true,
			Webhook:    webhook.Options{AllowLoopback: true, AllowHTTP: true, AllowAnyPort: true},
			Dispatcher: webhook.DispatcherOptions{PollInterval: time.Hour},
			PublicURL:  "https://example.com/developer",
		})
		_, key, _ := e.tenant("notes:read", "notes:create", "webhooks:manage")
		r := e.key(key, "POST", "/v1/webhooks", `{"target_url":"`+rc.URL+`/hooks","events":["note.created"]}`)
		if r.code != 201 {
			t.Fatalf("subscribe: %d %s", r.code, r.raw)
		}
		// One public base URL (issue 14): the webhook create's Location
		// uses it as the registry's does.
		if loc := r.header.Get("Location"); loc != "https://example.com/developer/v1/webhooks/"+r.str("id") {
			t.Fatalf("Location %q", loc)
		}
		time.Sleep(300 * time.Millisecond) // the dispatcher's first claim is over
		start := time.Now()
		if r := e.key(key, "POST", "/v1/notes", `{"title":"hello"}`); r.code != 201 {
			t.Fatalf("create: %d %s", r.code, r.raw)
		}
		for got.Load() == 0 {
			if time.Since(start) > 10*time.Second {
				t.Fatal("no delivery within 10 s")
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Logf("write to delivery: %s", time.Since(start))
	})
}
