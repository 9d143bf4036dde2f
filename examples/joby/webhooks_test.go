package main

import (
	"encoding/json"
	"gatehouse.dev/stack"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/webhook"
)

type delivery struct {
	header http.Header
	body   []byte
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "joby.db")
	a := newAPIWith(t, stack.Options{DatabaseURL: path, Webhook: loopbackWebhooks})
	got := make(chan delivery, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer recv.Close()

	org := a.newOrg(true)
	key, keyID := a.newKey(org, `{"name":"zap","scopes":["leads:read","leads:create","webhooks:manage"]}`)
	readOnly, _ := a.newKey(org, `{"name":"tasks","scopes":["tasks:read","webhooks:manage"]}`)

	// A key cannot subscribe to events it could not read.
	if r := a.key(readOnly, "POST", "/v1/webhooks", `{"target_url":"`+recv.URL+`","events":["lead.created"]}`); r.Code != 403 {
		t.Fatalf("subscribe without leads:read: %d %s", r.Code, r.Raw)
	}
	r := a.key(key, "POST", "/v1/webhooks", `{"target_url":"`+recv.URL+`/hook","events":["lead.created"]}`)
	if r.Code != 201 {
		t.Fatalf("subscribe: %d %s", r.Code, r.Raw)
	}
	secret, _ := r.data()["secret"].(string)
	hookID, _ := r.data()["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || hookID == "" {
		t.Fatalf("subscription %s", r.Raw)
	}
	if l := a.key(key, "GET", "/v1/webhooks", ""); l.Code != 200 || strings.Contains(l.Raw, secret) {
		t.Fatalf("list: %d %s", l.Code, l.Raw)
	}
	lead := a.create(key, "leads", `{"first_name":"Hooked"}`)

	select {
	case d := <-got:
		if err := webhook.Verify(secret, d.header, d.body, time.Now()); err != nil {
			t.Fatalf("signature: %v", err)
		}
		var ev map[string]any
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		data, _ := ev["data"].(map[string]any)
		if ev["type"] != "lead.created" || ev["organization_id"] != org || data["id"] != lead["id"] || data["first_name"] != "Hooked" {
			t.Fatalf("event %s", d.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}

	// The admin API sees the delivery (recorded just after the receiver
	// answered).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := a.admin("GET", "/orgs/"+org+"/webhooks/"+hookID+"/deliveries", "")
		if r.Code != 200 {
			t.Fatalf("deliveries: %d %s", r.Code, r.Raw)
		}
		if len(r.list()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery in the log: %s", r.Raw)
		}
	}
	// Revoking the key disables its subscriptions.
	a.admin("POST", "/orgs/"+org+"/api-keys/"+keyID+"/revoke", "")
	if r := a.admin("GET", "/orgs/"+org+"/webhooks/"+hookID, ""); r.Code != 200 || r.data()["enabled"] != false {
		t.Fatalf("after revoke: %d %s", r.Code, r.Raw)
	}
	// Unsubscribe is the API's one DELETE.
	key2, _ := a.newKey(org, `{"name":"z2","scopes":["leads:read","webhooks:manage"]}`)
	r = a.key(key2, "POST", "/v1/webhooks", `{"target_url":"`+recv.URL+`","events":["*"]}`)
	id2, _ := r.data()["id"].(string)
	req := httptest.NewRequest("DELETE", "/v1/webhooks/"+id2, nil)
	req.Header.Set("Authorization", "Bearer "+key2)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("unsubscribe: %d %s", rec.Code, rec.Body.String())
	}
}
