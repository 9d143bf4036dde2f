package webhook_test

import (
	"fmt"
	"net/http"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/webhook"
)

// TestOneKeyCannotExhaustOrganizationWebhooks: issue 13 found one key
// creating the organization's 100 endpoints, after which every other key
// and the admin got "Webhook endpoint limit reached". A key now has its
// own quota (default 25) below the organization's.
func TestOneKeyCannotExhaustOrganizationWebhooks(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		rc := newReceiver(t, nil)
		tok, _ := e.addKey(org, "leads:read", "webhooks:manage")
		other, _ := e.addKey(org, "leads:read", "webhooks:manage")
		body := func(i int) string {
			return fmt.Sprintf(`{"target_url":"%s?n=%d","events":["lead.created"]}`, rc.URL(), i)
		}
		for i := range webhook.DefaultMaxEndpointsPerKey {
			wantCode(t, e.api(http.MethodPost, "/v1/webhooks", body(i), tok), http.StatusCreated)
		}
		r := e.api(http.MethodPost, "/v1/webhooks", body(99), tok)
		wantError(t, r, http.StatusBadRequest, webhook.MsgTooManyKeyEndpoints)
		if r.Body["limit"] != float64(webhook.DefaultMaxEndpointsPerKey) {
			t.Fatalf("limit %s", r.Raw)
		}
		wantCode(t, e.api(http.MethodPost, "/v1/webhooks", body(100), other), http.StatusCreated)
		wantCode(t, e.adm(http.MethodPost, "/admin/orgs/"+org+"/webhooks", body(101)), http.StatusCreated)
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints WHERE organization_id = ?`, org); n != webhook.DefaultMaxEndpointsPerKey+2 {
			t.Fatalf("%d endpoints", n)
		}
	})
}

func TestMaxEndpointsPerKeyOption(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.MaxEndpointsPerKey = 2; o.MaxEndpoints = 3 })
		org := uuid.New()
		rc := newReceiver(t, nil)
		a, _ := e.addKey(org, "leads:read", "webhooks:manage")
		b, _ := e.addKey(org, "leads:read", "webhooks:manage")
		post := func(tok string, i int) resp {
			return e.api(http.MethodPost, "/v1/webhooks", fmt.Sprintf(`{"target_url":"%s?n=%d","events":["lead.created"]}`, rc.URL(), i), tok)
		}
		wantCode(t, post(a, 1), http.StatusCreated)
		wantCode(t, post(a, 2), http.StatusCreated)
		wantError(t, post(a, 3), http.StatusBadRequest, webhook.MsgTooManyKeyEndpoints)
		wantCode(t, post(b, 4), http.StatusCreated)
		// The organization's limit still applies first.
		wantError(t, post(b, 5), http.StatusBadRequest, webhook.MsgTooManyEndpoints)
	})
	if _, err := webhook.New(webhook.Options{DB: dbtest.SQLite(t), Keyring: keyring(t), MaxEndpointsPerKey: -1}); err == nil {
		t.Fatal("negative MaxEndpointsPerKey accepted")
	}
}
