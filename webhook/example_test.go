package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/webhook"
)

// An endpoint subscribes to lead.created; a change emits the event in its
// transaction; the dispatcher delivers it, signed; the receiver verifies it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "webhook-example")
	defer os.RemoveAll(dir)
	db, _ := sqldb.OpenSQLite(filepath.Join(dir, "app.db"))
	defer db.Close()
	kr, _ := gatehouse.NewKeyring(gatehouse.GenerateSecret("2026-03"))

	wh, err := webhook.New(webhook.Options{
		DB:      db,
		Keyring: kr,
		Types:   []webhook.EventType{{Name: "lead.created", Scope: "leads:read"}},
		// A local receiver: development settings.
		AllowHTTP: true, AllowAnyPort: true, AllowLoopback: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := wh.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	var secret string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var ev struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		fmt.Println("received", ev.Type, ev.Data["first_name"], strings.HasPrefix(r.Header.Get("webhook-id"), "evt_"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	org := "3b241101-e2bb-4255-8caf-4136c566a962"
	_, s, err := wh.CreateEndpoint(ctx, org, webhook.EndpointInput{URL: receiver.URL, Events: []string{"lead.created"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	secret = s.Reveal() // shown once; printing s redacts it
	fmt.Println("secret:", s)

	tx, _ := db.BeginTx(ctx, nil)
	// ... the service's own INSERT INTO leads ... in tx, then:
	if _, err := wh.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"first_name": "Ann"}}); err != nil {
		fmt.Println(err)
		return
	}
	_ = tx.Commit()

	d, _ := webhook.NewDispatcher(webhook.DispatcherOptions{Service: wh})
	n, err := d.Dispatch(ctx) // a host runs d.Run(ctx) instead
	fmt.Println("dispatched:", n, err)
	fmt.Println("successes:", d.Stats().Successes)
	// Output:
	// secret: whsec_[redacted]
	// received lead.created Ann true
	// dispatched: 1 <nil>
	// successes: 1
}

// Verify checks the Standard Webhooks signature of a request, here the
// specification's example.
func ExampleVerify() {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1614265330, 0).Add(time.Minute)

	fmt.Println(webhook.Verify(secret, h, []byte(`{"test": 2432232314}`), now))
	fmt.Println(webhook.Verify(secret, h, []byte(`{"test": 2432232315}`), now))
	fmt.Println(webhook.Verify(secret, h, []byte(`{"test": 2432232314}`), now.Add(time.Hour)))
	// Output:
	// <nil>
	// webhook: no matching signature
	// webhook: webhook-timestamp too old or too new
}
