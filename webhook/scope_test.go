package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/webhook"
)

// TestScopesFollowTheData: a key subscribes only to what it can read,
// owns its subscriptions, stops receiving what it can no longer read, and
// loses its subscriptions when revoked or expired.
func TestScopesFollowTheData(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org, other := uuid.New(), uuid.New()
		tasksKey, tasksKeyID := e.addKey(org, "tasks:read", "webhooks:manage")
		writer, _ := e.addKey(org, "leads:create", "leads:update", "tasks:create")
		sibling, _ := e.addKey(org, "leads:read", "tasks:read", "webhooks:manage")
		stranger, _ := e.addKey(other, "leads:read", "tasks:read", "webhooks:manage")
		bare, _ := e.addKey(org, "webhooks:manage")
		noManage, _ := e.addKey(org, "leads:read", "tasks:read")

		rc := newReceiver(t, nil)
		sub := func(events, tok string) resp {
			return e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+rc.URL()+`","events":`+events+`}`, tok)
		}
		// Subscription time.
		r := sub(`["lead.created"]`, tasksKey)
		wantError(t, r, http.StatusForbidden, "Missing scope")
		if r.Body["required_scope"] != "leads:read" {
			t.Fatalf("required_scope %v", r.Body["required_scope"])
		}
		wantError(t, sub(`["task.created","lead.updated"]`, tasksKey), http.StatusForbidden, "Missing scope")
		wantError(t, sub(`["*"]`, bare), http.StatusBadRequest, "Invalid field values")
		r = sub(`["*"]`, noManage)
		wantError(t, r, http.StatusForbidden, "Missing scope")
		if r.Body["required_scope"] != "webhooks:manage" {
			t.Fatalf("required_scope %v", r.Body["required_scope"])
		}
		wantError(t, e.api(http.MethodGet, "/v1/webhooks", "", noManage), http.StatusForbidden, "Missing scope")
		r = sub(`["*"]`, tasksKey)
		wantCode(t, r, http.StatusCreated)
		wildID, _ := r.data()["id"].(string)
		wildSecret, _ := r.data()["secret"].(string)
		r = sub(`["task.created"]`, tasksKey)
		wantCode(t, r, http.StatusCreated)
		taskID, _ := r.data()["id"].(string)
		taskSecret, _ := r.data()["secret"].(string)
		r = sub(`["lead.created"]`, sibling)
		wantCode(t, r, http.StatusCreated)
		siblingEP, _ := r.data()["id"].(string)
		siblingSecret, _ := r.data()["secret"].(string)

		// PATCH cannot widen beyond the key's scopes either.
		r = e.api(http.MethodPatch, "/v1/webhooks/"+taskID, `{"events":["lead.created"]}`, tasksKey)
		wantError(t, r, http.StatusForbidden, "Missing scope")

		// Ownership: only the creating key sees its subscriptions.
		r = e.api(http.MethodGet, "/v1/webhooks", "", tasksKey)
		wantCode(t, r, http.StatusOK)
		if l := r.list(); len(l) != 2 || l[0]["id"] == l[1]["id"] || l[0]["id"] != taskID && l[0]["id"] != wildID ||
			l[1]["id"] != taskID && l[1]["id"] != wildID || l[0]["api_key_id"] != tasksKeyID {
			t.Fatalf("own list %s", r.Raw)
		}
		if l := e.api(http.MethodGet, "/v1/webhooks", "", sibling).list(); len(l) != 1 || l[0]["id"] != siblingEP {
			t.Fatalf("sibling list %v", l)
		}
		if l := e.api(http.MethodGet, "/v1/webhooks", "", stranger).list(); len(l) != 0 {
			t.Fatalf("stranger list %v", l)
		}
		for _, tok := range []string{sibling, stranger} {
			wantError(t, e.api(http.MethodGet, "/v1/webhooks/"+taskID, "", tok), http.StatusNotFound, "Not found")
			wantError(t, e.api(http.MethodPatch, "/v1/webhooks/"+taskID, `{"description":"mine"}`, tok), http.StatusNotFound, "Not found")
			wantError(t, e.api(http.MethodDelete, "/v1/webhooks/"+taskID, "", tok), http.StatusNotFound, "Not found")
		}
		wantCode(t, e.api(http.MethodGet, "/v1/webhooks/"+taskID, "", tasksKey), http.StatusOK)

		// Delivery time: the key reads tasks, so both endpoints get
		// task.created; "*" does not bring it leads.
		disp := e.dispatcher(nil)
		wantCode(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"a"}`, writer), http.StatusCreated)
		wantCode(t, e.api(http.MethodPost, "/v1/leads", `{"first_name":"b"}`, writer), http.StatusCreated)
		drain(t, disp)
		byType := map[string]int{}
		for _, d := range rc.deliveries() {
			byType[d.Event.Type]++
			ok := false
			for _, sec := range []string{wildSecret, taskSecret, siblingSecret} {
				ok = ok || webhook.Verify(sec, d.Header, d.Body, e.clock.Now()) == nil
			}
			if !ok {
				t.Fatalf("delivery %s verifies with no endpoint's secret", d.Event.ID)
			}
		}
		if byType["task.created"] != 2 || byType["lead.created"] != 1 { // the sibling's lead.created
			t.Fatalf("deliveries by type %v", byType)
		}
		log := e.adm(http.MethodGet, "/admin/orgs/"+org+"/webhooks/"+wildID+"/deliveries", "").list()
		if len(log) != 2 {
			t.Fatalf("wildcard log %v", log)
		}
		for _, l := range log {
			switch l["event_type"] {
			case "lead.created":
				if l["outcome"] != "skipped" || !strings.Contains(l["error"].(string), "lacks the scope leads:read") || l["status_code"] != nil {
					t.Fatalf("lead line %v", l)
				}
			case "task.created":
				if l["outcome"] != "succeeded" {
					t.Fatalf("task line %v", l)
				}
			default:
				t.Fatalf("line %v", l)
			}
		}

		// The read scope is removed: deliveries stop.
		e.setKey(tasksKey, true, "webhooks:manage")
		before := len(rc.deliveries())
		wantCode(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"c"}`, writer), http.StatusCreated)
		drain(t, disp)
		if n := len(rc.deliveries()) - before; n != 0 {
			t.Fatalf("%d deliveries after the read scope was removed", n)
		}
		if st := disp.Stats(); st.Skipped != 3 {
			t.Fatalf("stats %+v", st)
		}
		// Restored, they resume (the subscription is still there).
		e.setKey(tasksKey, true, "tasks:read", "webhooks:manage")
		wantCode(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"d"}`, writer), http.StatusCreated)
		drain(t, disp)
		if n := len(rc.deliveries()) - before; n != 2 {
			t.Fatalf("%d deliveries after the scope came back, want 2", n)
		}

		// Revoked: DisableKey disables its subscriptions at once.
		if err := e.svc.DisableKey(context.Background(), org, tasksKeyID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{wildID, taskID} {
			d := e.endpoint(org, id)
			if d["enabled"] != false || d["disabled_reason"] != webhook.ReasonKeyInactive {
				t.Fatalf("endpoint of a revoked key: %v", d)
			}
		}
		if d := e.endpoint(org, siblingEP); d["enabled"] != true {
			t.Fatalf("another key's endpoint was disabled: %v", d)
		}
		before = len(rc.deliveries())
		wantCode(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"e"}`, writer), http.StatusCreated)
		drain(t, disp)
		if n := len(rc.deliveries()) - before; n != 0 {
			t.Fatalf("%d deliveries after revocation", n)
		}

		// Expired (seen only at delivery, through KeyCheck): the sibling's
		// endpoint is disabled when its next event comes.
		e.setKey(sibling, false, "leads:read", "tasks:read", "webhooks:manage")
		wantCode(t, e.api(http.MethodPost, "/v1/leads", `{"first_name":"f"}`, writer), http.StatusCreated)
		before = len(rc.deliveries())
		drain(t, disp)
		if n := len(rc.deliveries()) - before; n != 0 {
			t.Fatalf("%d deliveries to an expired key's endpoint", n)
		}
		if d := e.endpoint(org, siblingEP); d["enabled"] != false || d["disabled_reason"] != webhook.ReasonKeyInactive {
			t.Fatalf("endpoint of an expired key: %v", d)
		}
		if err := e.svc.DisableKey(context.Background(), "", tasksKeyID); err == nil {
			t.Fatal("DisableKey without an organization succeeded")
		}
	})
}

// TestKeyOwnedWithoutKeyCheck: without Options.KeyCheck, a key-owned
// endpoint (made with the Go API) receives nothing: fail closed.
func TestKeyOwnedWithoutKeyCheck(t *testing.T) {
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: 1}, func(o *webhook.Options) {
		o.Caller, o.KeyCheck = nil, nil
	})
	if _, err := e.svc.Routes(); err == nil {
		t.Fatal("Routes without KeyCheck succeeded")
	}
	org := uuid.New()
	rc := newReceiver(t, nil)
	ep, _, err := e.svc.CreateEndpoint(context.Background(), org, webhook.EndpointInput{URL: rc.URL(), Events: []string{"*"}, KeyID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	e.emit(org, 1)
	drain(t, e.dispatcher(nil))
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("%d deliveries without KeyCheck", n)
	}
	log, err := e.svc.Attempts(context.Background(), org, ep.ID, 10)
	if err != nil || len(log) != 1 || log[0].Outcome != webhook.OutcomeSkipped {
		t.Fatalf("log %+v, %v", log, err)
	}
}
