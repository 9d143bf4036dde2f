package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/webhook"
)

// TestEndToEnd creates and patches records through the registry and checks
// that exactly the subscribed endpoints of the organization get one signed
// delivery each.
func TestEndToEnd(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.Dial = loopbackOnly(t) })
		orgA, orgB := uuid.New(), uuid.New()
		tokA, keyA := e.addKey(orgA, "leads:read", "leads:create", "leads:update", "tasks:create", "webhooks:manage")
		tokB, _ := e.addKey(orgB, "leads:read", "leads:create", "tasks:read", "tasks:create", "webhooks:manage")

		// Org A: a key's subscription to lead created+updated, an admin
		// endpoint for lead.created only, and one for tasks only.
		recKey, recAdmin, recTasks, recB := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
		r := e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+recKey.URL()+`","events":["lead.updated","lead.created","lead.created"],"description":"zap"}`, tokA)
		wantCode(t, r, http.StatusCreated)
		keySecret, _ := r.data()["secret"].(string)
		keyEP, _ := r.data()["id"].(string)
		if !strings.HasPrefix(keySecret, "whsec_") || len(keySecret) != len("whsec_")+32 {
			t.Fatalf("secret %q", keySecret)
		}
		if got := r.Header.Get("Location"); got != "/v1/webhooks/"+keyEP {
			t.Fatalf("Location %q", got)
		}
		d := r.data()
		if d["api_key_id"] != keyA || d["organization_id"] != orgA || d["enabled"] != true || d["description"] != "zap" ||
			d["disabled_reason"] != nil || d["target_url"] != recKey.URL() {
			t.Fatalf("created %s", r.Raw)
		}
		if ev, _ := json.Marshal(d["events"]); string(ev) != `["lead.created","lead.updated"]` {
			t.Fatalf("events normalized to %s", ev)
		}
		r = e.adm(http.MethodPost, "/admin/orgs/"+orgA+"/webhooks", `{"target_url":"`+recAdmin.URL()+`","events":["lead.created"]}`)
		wantCode(t, r, http.StatusCreated)
		adminSecret, _ := r.data()["secret"].(string)
		if r.data()["api_key_id"] != nil {
			t.Fatalf("admin endpoint has a key: %s", r.Raw)
		}
		r = e.adm(http.MethodPost, "/admin/orgs/"+orgA+"/webhooks", `{"target_url":"`+recTasks.URL()+`","events":["task.created","task.updated"]}`)
		wantCode(t, r, http.StatusCreated)
		// Org B subscribes to everything it can read.
		r = e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+recB.URL()+`","events":["*"]}`, tokB)
		wantCode(t, r, http.StatusCreated)
		secretB, _ := r.data()["secret"].(string)

		disp := e.dispatcher(nil)
		lead := e.api(http.MethodPost, "/v1/leads", `{"first_name":"Ann","email":"ann@example.com"}`, tokA)
		wantCode(t, lead, http.StatusCreated)
		leadID, _ := lead.data()["id"].(string)
		if n := drain(t, disp); n != 2 {
			t.Fatalf("dispatched %d deliveries after the create, want 2", n)
		}
		e.clock.Advance(time.Minute)
		wantCode(t, e.api(http.MethodPatch, "/v1/leads/"+leadID, `{"status":"won"}`, tokA), http.StatusOK)
		if n := drain(t, disp); n != 1 {
			t.Fatalf("dispatched %d deliveries after the patch, want 1", n)
		}
		now := e.clock.Now()
		if got := recKey.verified(keySecret, now); !slices.Equal(got, []string{"lead.created", "lead.updated"}) {
			t.Fatalf("key endpoint got %v", got)
		}
		if got := recAdmin.verified(adminSecret, now); !slices.Equal(got, []string{"lead.created"}) {
			t.Fatalf("admin endpoint got %v", got)
		}
		if n := len(recTasks.deliveries()); n != 0 {
			t.Fatalf("tasks endpoint got %d deliveries", n)
		}
		if n := len(recB.deliveries()); n != 0 {
			t.Fatalf("other organization's endpoint got %d deliveries", n)
		}
		// The payload is the record as the API returned it.
		first := recKey.deliveries()[0]
		if first.Event.OrganizationID != orgA || !strings.HasPrefix(first.Event.ID, "evt_") || first.Event.Data["id"] != leadID ||
			first.Event.Data["first_name"] != "Ann" || first.Event.Data["email"] != "ann@example.com" {
			t.Fatalf("payload %s", first.Body)
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(lead.Raw), &want)
		if got, _ := json.Marshal(first.Event.Data); string(got) != mustJSON(t, want["data"]) {
			t.Fatalf("payload data %s, API record %s", got, mustJSON(t, want["data"]))
		}
		if _, err := time.Parse(time.RFC3339Nano, first.Event.CreatedAt); err != nil {
			t.Fatalf("created_at %q: %v", first.Event.CreatedAt, err)
		}
		for _, k := range []string{"id", "type", "created_at", "organization_id", "data"} {
			if !strings.Contains(string(first.Body), `"`+k+`":`) {
				t.Fatalf("payload lacks %s: %s", k, first.Body)
			}
		}
		if ct := first.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if ua := first.Header.Get("User-Agent"); ua != webhook.DefaultUserAgent {
			t.Fatalf("User-Agent %q", ua)
		}
		// The same event reached both endpoints with the same id.
		if recAdmin.deliveries()[0].Event.ID != first.Event.ID {
			t.Fatal("one event, two ids")
		}
		// The other organization's change reaches only its endpoint.
		wantCode(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"call back"}`, tokB), http.StatusCreated)
		drain(t, disp)
		if got := recB.verified(secretB, e.clock.Now()); !slices.Equal(got, []string{"task.created"}) {
			t.Fatalf("org B endpoint got %v", got)
		}
		if n := len(recTasks.deliveries()); n != 0 {
			t.Fatalf("org A tasks endpoint got org B's task")
		}
		st := disp.Stats()
		if st.Attempts != 4 || st.Successes != 4 || st.Failures != 0 || st.Backlog != 0 {
			t.Fatalf("stats %+v", st)
		}
		// The delivery log of the key's endpoint.
		r = e.adm(http.MethodGet, "/admin/orgs/"+orgA+"/webhooks/"+keyEP+"/deliveries", "")
		wantCode(t, r, http.StatusOK)
		log := r.list()
		if len(log) != 2 || log[0]["event_type"] != "lead.updated" || log[1]["event_type"] != "lead.created" ||
			log[0]["outcome"] != "succeeded" || log[0]["status_code"] != float64(200) || log[0]["attempt"] != float64(1) ||
			log[0]["error"] != nil || log[0]["next_attempt_at"] != nil {
			t.Fatalf("delivery log %s", r.Raw)
		}
		if strings.Contains(r.Raw, keySecret) || strings.Contains(r.Raw, strings.TrimPrefix(keySecret, "whsec_")) {
			t.Fatal("delivery log shows the secret")
		}
	})
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRollbackEmitsNothing: a change that fails or rolls back leaves no
// event and no delivery; a committed Emit leaves both.
func TestRollbackEmitsNothing(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		tok, _ := e.addKey(org, "leads:read", "leads:create", "tasks:create", "tasks:read", "webhooks:manage")
		rc := newReceiver(t, nil)
		wantCode(t, e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+rc.URL()+`","events":["*"]}`, tok), http.StatusCreated)

		// Validation failure and foreign-key failure (inside the
		// transaction, after the insert was prepared).
		wantError(t, e.api(http.MethodPost, "/v1/tasks", `{}`, tok), http.StatusBadRequest, "Invalid field values")
		wantError(t, e.api(http.MethodPost, "/v1/tasks", `{"title":"x","lead_id":"`+uuid.New()+`"}`, tok), http.StatusBadRequest, "Invalid foreign key")
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_events`); n != 0 {
			t.Fatalf("%d events after failed creates", n)
		}
		// Emit in a transaction that rolls back.
		ctx := context.Background()
		tx, err := db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"id": "x"}})
		if err != nil || !strings.HasPrefix(id, "evt_") {
			t.Fatalf("Emit = %q, %v", id, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_events`) + e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries`); n != 0 {
			t.Fatalf("%d rows after a rollback", n)
		}
		if n := drain(t, e.dispatcher(nil)); n != 0 || len(rc.deliveries()) != 0 {
			t.Fatalf("dispatched %d after rollbacks", n)
		}
		// The same Emit committed is delivered.
		tx, err = db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err = e.svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"id": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := drain(t, e.dispatcher(nil)); n != 1 {
			t.Fatalf("dispatched %d, want 1", n)
		}
		if got := rc.deliveries(); len(got) != 1 || got[0].Event.ID != id {
			t.Fatalf("received %d", len(got))
		}
	})
}

func TestEmitErrors(t *testing.T) {
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: 1}, nil)
	ctx := context.Background()
	tx, err := e.db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	org := uuid.New()
	cases := []struct {
		name string
		ev   webhook.Event
	}{
		{"no organization", webhook.Event{Type: "lead.created", Data: map[string]any{}}},
		{"unknown type without scope", webhook.Event{Type: "invoice.paid", OrganizationID: org, Data: map[string]any{}}},
		{"invalid type", webhook.Event{Type: "Lead Created", OrganizationID: org, Data: map[string]any{}}},
		{"invalid scope", webhook.Event{Type: "invoice.paid", Scope: "invoices", OrganizationID: org, Data: map[string]any{}}},
		{"data not an object", webhook.Event{Type: "lead.created", OrganizationID: org, Data: []int{1}}},
		{"nil data", webhook.Event{Type: "lead.created", OrganizationID: org}},
		{"unencodable data", webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"f": func() {}}}},
	}
	for _, tc := range cases {
		if _, err := e.svc.Emit(ctx, tx, tc.ev); err == nil {
			t.Errorf("%s: Emit succeeded", tc.name)
		}
	}
	if _, err := e.svc.Emit(ctx, nil, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{}}); err == nil {
		t.Error("Emit without a transaction succeeded")
	}
	// A custom type with its own scope is fine.
	if _, err := e.svc.Emit(ctx, tx, webhook.Event{Type: "invoice.paid", Scope: "invoices:read", OrganizationID: org, Data: map[string]any{"n": 1}}); err != nil {
		t.Fatal(err)
	}
}
