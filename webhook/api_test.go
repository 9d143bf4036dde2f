package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

func fieldsOf(r resp) []string {
	arr, _ := r.Body["fields"].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func detail(r resp, field string) string {
	arr, _ := r.Body["details"].([]any)
	for _, v := range arr {
		m, _ := v.(map[string]any)
		if m["field"] == field {
			s, _ := m["message"].(string)
			return s
		}
	}
	return ""
}

// strictEnv is an env with the production URL rules (https, ports 443 and
// 80, no loopback) and a fake resolver.
func strictEnv(t *testing.T, db dbtest.DB, res *fakeResolver) *env {
	return newEnv(t, db, func(o *webhook.Options) {
		o.AllowHTTP, o.AllowAnyPort, o.AllowLoopback = false, false, false
		o.Resolver = res
		o.Dial = loopbackOnly(t)
		o.MaxEndpoints = 3
	})
}

func TestPublicAPI(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		res := &fakeResolver{}
		res.set("hooks.example.com", "93.184.216.34")
		e := strictEnv(t, db, res)
		org := uuid.New()
		tok, _ := e.addKey(org, "leads:read", "tasks:read", "webhooks:manage")
		post := func(body string) resp { return e.api(http.MethodPost, "/v1/webhooks", body, tok) }

		wantError(t, post(`{"target_url":`), http.StatusBadRequest, "Invalid JSON body")
		wantError(t, post(`[]`), http.StatusBadRequest, "Invalid JSON body")
		wantError(t, post(`{} {}`), http.StatusBadRequest, "Invalid JSON body")
		r := post(`{"target_url":"https://hooks.example.com/","events":["*"],"secret":"mine","enabled":true}`)
		wantError(t, r, http.StatusBadRequest, "Unsupported or protected fields")
		if f := fieldsOf(r); !slices.Equal(f, []string{"enabled", "secret"}) {
			t.Fatalf("fields %v", f)
		}
		r = post(`{}`)
		wantError(t, r, http.StatusBadRequest, "Invalid field values")
		if f := fieldsOf(r); !slices.Equal(f, []string{"events", "target_url"}) || detail(r, "target_url") != "is required" {
			t.Fatalf("missing fields %s", r.Raw)
		}
		r = post(`{"target_url":5,"events":"lead.created","description":7}`)
		wantError(t, r, http.StatusBadRequest, "Invalid field values")
		if f := fieldsOf(r); !slices.Equal(f, []string{"description", "events", "target_url"}) {
			t.Fatalf("type errors %s", r.Raw)
		}
		for _, tc := range []struct{ body, field, msg string }{
			{`{"target_url":"http://hooks.example.com/","events":["*"]}`, "target_url", "must use https"},
			{`{"target_url":"https://hooks.example.com:8443/","events":["*"]}`, "target_url", "must use port 443 or 80"},
			{`{"target_url":"https://127.0.0.1/","events":["*"]}`, "target_url", "is not allowed: its host is a refused address (loopback)"},
			{`{"target_url":"https://hooks.example.com/","events":[]}`, "events", "must list at least one event type"},
			{`{"target_url":"https://hooks.example.com/","events":["lead.deleted","x"]}`, "events", "unknown event types: lead.deleted, x"},
			{`{"target_url":"https://hooks.example.com/","events":["*"],"description":"` + strings.Repeat("é", 256) + `"}`, "description", "must be at most 255 characters"},
			{`{"target_url":"https://hooks.example.com/","events":["*"],"description":"a\u0000b"}`, "description", "must be valid text without NUL characters"},
		} {
			r := post(tc.body)
			wantError(t, r, http.StatusBadRequest, "Invalid field values")
			if got := detail(r, tc.field); got != tc.msg {
				t.Fatalf("%s: %s = %q, want %q", tc.body, tc.field, got, tc.msg)
			}
		}
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints`); n != 0 {
			t.Fatalf("%d endpoints after invalid requests", n)
		}

		r = post(`{"target_url":"https://hooks.example.com/in?tag=1","events":["task.updated","lead.created"],"description":null}`)
		wantCode(t, r, http.StatusCreated)
		id, _ := r.data()["id"].(string)
		if !uuid.Valid(id) || r.data()["description"] != "" || r.data()["target_url"] != "https://hooks.example.com/in?tag=1" {
			t.Fatalf("created %s", r.Raw)
		}
		r = e.api(http.MethodGet, "/v1/webhooks/"+id, "", tok)
		wantCode(t, r, http.StatusOK)
		if _, ok := r.data()["secret"]; ok {
			t.Fatalf("GET shows the secret: %s", r.Raw)
		}
		r = e.api(http.MethodGet, "/v1/webhooks", "", tok)
		if l := r.list(); len(l) != 1 || l[0]["secret"] != nil {
			t.Fatalf("list %s", r.Raw)
		}
		wantError(t, e.api(http.MethodGet, "/v1/webhooks/not-a-uuid", "", tok), http.StatusNotFound, "Not found")
		wantError(t, e.api(http.MethodGet, "/v1/webhooks/"+uuid.New(), "", tok), http.StatusNotFound, "Not found")

		// PATCH.
		item := "/v1/webhooks/" + id
		wantError(t, e.api(http.MethodPatch, item, `{}`, tok), http.StatusBadRequest, "No fields to update")
		wantError(t, e.api(http.MethodPatch, item, `{"secret":"x"}`, tok), http.StatusBadRequest, "Unsupported or protected fields")
		r = e.api(http.MethodPatch, item, `{"enabled":"no","target_url":null}`, tok)
		wantError(t, r, http.StatusBadRequest, "Invalid field values")
		if f := fieldsOf(r); !slices.Equal(f, []string{"enabled", "target_url"}) {
			t.Fatalf("patch type errors %s", r.Raw)
		}
		wantError(t, e.api(http.MethodPatch, item, `{"target_url":"https://10.0.0.1/"}`, tok), http.StatusBadRequest, "Invalid field values")
		wantError(t, e.api(http.MethodPatch, "/v1/webhooks/"+uuid.New(), `{"target_url":"https://10.0.0.1/"}`, tok), http.StatusNotFound, "Not found")
		e.clock.Advance(time.Second)
		r = e.api(http.MethodPatch, item, `{"enabled":false,"description":"paused","events":["*"]}`, tok)
		wantCode(t, r, http.StatusOK)
		d := r.data()
		if d["enabled"] != false || d["disabled_reason"] != webhook.ReasonManual || d["description"] != "paused" ||
			d["updated_at"] == d["created_at"] || mustJSON(t, d["events"]) != `["*"]` {
			t.Fatalf("patched %s", r.Raw)
		}
		r = e.api(http.MethodPatch, item, `{"enabled":true}`, tok)
		if r.data()["enabled"] != true || r.data()["disabled_reason"] != nil {
			t.Fatalf("re-enabled %s", r.Raw)
		}

		// 405s in JSON, with Allow.
		r = e.api(http.MethodPut, "/v1/webhooks", `{}`, tok)
		wantError(t, r, http.StatusMethodNotAllowed, "Method not allowed")
		if got := r.Header.Get("Allow"); got != "GET, HEAD, POST" {
			t.Fatalf("Allow %q", got)
		}
		r = e.api(http.MethodPost, item, `{}`, tok)
		wantError(t, r, http.StatusMethodNotAllowed, "Method not allowed")
		if got := r.Header.Get("Allow"); got != "DELETE, GET, HEAD, PATCH" {
			t.Fatalf("Allow %q", got)
		}

		// The organization's limit.
		for i := range 2 {
			wantCode(t, post(fmt.Sprintf(`{"target_url":"https://hooks.example.com/%d","events":["*"]}`, i)), http.StatusCreated)
		}
		r = post(`{"target_url":"https://hooks.example.com/4","events":["*"]}`)
		wantError(t, r, http.StatusBadRequest, webhook.MsgTooManyEndpoints)
		if r.Body["limit"] != float64(3) {
			t.Fatalf("limit %s", r.Raw)
		}

		// DELETE (REST Hooks unsubscribe).
		wantCode(t, e.api(http.MethodDelete, item, "", tok), http.StatusNoContent)
		wantError(t, e.api(http.MethodGet, item, "", tok), http.StatusNotFound, "Not found")
		wantError(t, e.api(http.MethodDelete, item, "", tok), http.StatusNotFound, "Not found")
	})
}

func TestAdminAPI(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org, other := uuid.New(), uuid.New()
		rc := newReceiver(t, nil)
		base := "/admin/orgs/" + org + "/webhooks"

		req, _ := http.NewRequest(http.MethodGet, base, nil)
		wantError(t, e.serve(e.admin, req), http.StatusUnauthorized, "Unauthorized")
		wantError(t, e.adm(http.MethodGet, "/admin/orgs/nope/webhooks", ""), http.StatusBadRequest, "Invalid organization id")
		wantError(t, e.adm(http.MethodGet, base+"/x/y/z", ""), http.StatusNotFound, "Not found")

		r := e.adm(http.MethodPost, base, `{"target_url":"`+rc.URL()+`","events":["lead.created"],"description":"CRM","enabled":false}`)
		wantCode(t, r, http.StatusCreated)
		id, _ := r.data()["id"].(string)
		first, _ := r.data()["secret"].(string)
		if r.Header.Get("Location") != base+"/"+id || r.data()["enabled"] != false || r.data()["disabled_reason"] != webhook.ReasonManual {
			t.Fatalf("created %s", r.Raw)
		}
		item := base + "/" + id
		if l := e.adm(http.MethodGet, base, "").list(); len(l) != 1 || l[0]["id"] != id || l[0]["secret"] != nil {
			t.Fatalf("list %v", l)
		}
		if l := e.adm(http.MethodGet, "/admin/orgs/"+other+"/webhooks", "").list(); len(l) != 0 {
			t.Fatalf("other organization lists %v", l)
		}
		// Another organization's path never reaches the endpoint.
		otherItem := "/admin/orgs/" + other + "/webhooks/" + id
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			wantError(t, e.adm(m, otherItem, ""), http.StatusNotFound, "Not found")
		}
		wantError(t, e.adm(http.MethodPatch, otherItem, `{"enabled":true}`), http.StatusNotFound, "Not found")
		wantError(t, e.adm(http.MethodPost, otherItem+"/rotate-secret", ""), http.StatusNotFound, "Not found")
		wantError(t, e.adm(http.MethodGet, otherItem+"/deliveries", ""), http.StatusNotFound, "Not found")

		r = e.adm(http.MethodPut, item, `{}`)
		wantError(t, r, http.StatusMethodNotAllowed, "Method not allowed")
		if r.Header.Get("Allow") != "DELETE, GET, HEAD, PATCH" {
			t.Fatalf("Allow %q", r.Header.Get("Allow"))
		}
		r = e.adm(http.MethodGet, item+"/rotate-secret", "")
		wantError(t, r, http.StatusMethodNotAllowed, "Method not allowed")
		if r.Header.Get("Allow") != "POST" {
			t.Fatalf("Allow %q", r.Header.Get("Allow"))
		}
		wantCode(t, e.adm(http.MethodPatch, item, `{"enabled":true}`), http.StatusOK)

		// Deliveries: parameters.
		wantError(t, e.adm(http.MethodGet, item+"/deliveries?limit=0", ""), http.StatusBadRequest, "Invalid query parameters")
		wantError(t, e.adm(http.MethodGet, item+"/deliveries?limit=1&limit=2", ""), http.StatusBadRequest, "Invalid query parameters")
		wantError(t, e.adm(http.MethodGet, item+"/deliveries?status=failed", ""), http.StatusBadRequest, "Unsupported filters")

		// Rotation: during the grace period both secrets sign.
		wantError(t, e.adm(http.MethodPost, item+"/rotate-secret", `{"grace_period_seconds":-1}`), http.StatusBadRequest, "Invalid field values")
		wantError(t, e.adm(http.MethodPost, item+"/rotate-secret", `{"grace":1}`), http.StatusBadRequest, "Unsupported or protected fields")
		wantError(t, e.adm(http.MethodPost, item+"/rotate-secret", `nope`), http.StatusBadRequest, "Invalid JSON body")
		r = e.adm(http.MethodPost, item+"/rotate-secret", `{"grace_period_seconds":3600}`)
		wantCode(t, r, http.StatusOK)
		second, _ := r.data()["secret"].(string)
		if second == first || !strings.HasPrefix(second, "whsec_") || r.data()["previous_secret_expires_at"] == nil {
			t.Fatalf("rotated %s", r.Raw)
		}
		disp := e.dispatcher(nil)
		e.emit(org, 1)
		drain(t, disp)
		got := rc.deliveries()
		if len(got) != 1 || len(strings.Fields(got[0].Header.Get(webhook.HeaderSignature))) != 2 {
			t.Fatalf("signature header during the grace period: %q", got[0].Header.Get(webhook.HeaderSignature))
		}
		for _, sec := range []string{first, second} {
			if err := webhook.Verify(sec, got[0].Header, got[0].Body, e.clock.Now()); err != nil {
				t.Fatalf("during the grace period: %v", err)
			}
		}
		// After it, only the new one.
		e.clock.Advance(time.Hour + time.Second)
		e.emit(org, 1)
		drain(t, disp)
		got = rc.deliveries()
		if len(got) != 2 || len(strings.Fields(got[1].Header.Get(webhook.HeaderSignature))) != 1 {
			t.Fatalf("signature header after the grace period: %q", got[1].Header.Get(webhook.HeaderSignature))
		}
		if err := webhook.Verify(first, got[1].Header, got[1].Body, e.clock.Now()); err == nil {
			t.Fatal("the retired secret still verifies")
		}
		if err := webhook.Verify(second, got[1].Header, got[1].Body, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		// An empty body rotates with the default grace period; zero retires
		// the old secret at once.
		r = e.adm(http.MethodPost, item+"/rotate-secret", "")
		wantCode(t, r, http.StatusOK)
		exp, _ := time.Parse(time.RFC3339Nano, r.data()["previous_secret_expires_at"].(string))
		if want := e.clock.Now().Add(webhook.DefaultSecretGracePeriod); !exp.Equal(want) {
			t.Fatalf("grace ends %s, want %s", exp, want)
		}
		r = e.adm(http.MethodPost, item+"/rotate-secret", `{"grace_period_seconds":0}`)
		wantCode(t, r, http.StatusOK)
		third, _ := r.data()["secret"].(string)
		if r.data()["previous_secret_expires_at"] != nil {
			t.Fatalf("zero grace kept the old secret: %s", r.Raw)
		}
		e.emit(org, 1)
		drain(t, disp)
		got = rc.deliveries()
		if err := webhook.Verify(third, got[2].Header, got[2].Body, e.clock.Now()); err != nil || strings.Contains(got[2].Header.Get(webhook.HeaderSignature), " ") {
			t.Fatalf("after an immediate rotation: %v %q", err, got[2].Header.Get(webhook.HeaderSignature))
		}

		r = e.adm(http.MethodGet, item+"/deliveries?limit=2", "")
		wantCode(t, r, http.StatusOK)
		if l := r.list(); len(l) != 2 {
			t.Fatalf("limit=2 gave %d lines", len(l))
		}
		wantCode(t, e.adm(http.MethodDelete, item, ""), http.StatusNoContent)
		wantError(t, e.adm(http.MethodGet, item, ""), http.StatusNotFound, "Not found")
		wantError(t, e.adm(http.MethodGet, item+"/deliveries", ""), http.StatusNotFound, "Not found")
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_attempts WHERE endpoint_id = ?`, id); n != 0 {
			t.Fatalf("%d log lines of a deleted endpoint", n)
		}
	})
}

func TestAdminOrgExists(t *testing.T) {
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, nil)
	known := uuid.New()
	h, err := e.svc.AdminHandler(webhook.AdminOptions{
		Prefix:    "/ops",
		Authorize: func(*http.Request) error { return nil },
		OrgExists: func(_ context.Context, id string) (bool, error) { return id == known, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/ops/orgs/"+uuid.New()+"/webhooks", nil)
	wantError(t, e.serve(h, req), http.StatusNotFound, "Not found")
	req, _ = http.NewRequest(http.MethodGet, "/ops/orgs/"+known+"/webhooks", nil)
	wantCode(t, e.serve(h, req), http.StatusOK)
	if _, err := e.svc.AdminHandler(webhook.AdminOptions{}); err == nil {
		t.Fatal("AdminHandler without Authorize succeeded")
	}
	if _, err := e.svc.AdminHandler(webhook.AdminOptions{Authorize: func(*http.Request) error { return nil }, Prefix: "admin/"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

// TestSecretsAtRest: the signing secret is stored encrypted (bound to its
// endpoint), never in the database, the logs or a printed value.
func TestSecretsAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rest.db")
	sdb, err := sqldb.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: sdb, Dialect: tenancy.SQLite}, nil)
	org := uuid.New()
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusBadGateway) })
	ctx := context.Background()
	ep, secret, err := e.svc.CreateEndpoint(ctx, org, webhook.EndpointInput{URL: rc.URL(), Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := secret.Reveal()
	key := strings.TrimPrefix(raw, "whsec_")
	for _, s := range []string{fmt.Sprint(secret), fmt.Sprintf("%#v", secret), fmt.Sprintf("%+v", struct{ S webhook.Secret }{secret}), mustJSON(t, secret)} {
		if strings.Contains(s, key) {
			t.Fatalf("printed secret: %s", s)
		}
	}
	_, rotated, err := e.svc.RotateSecret(ctx, org, ep.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.emit(org, 1)
	drain(t, e.dispatcher(nil))
	if _, err := sdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err == nil {
			files = append(files, b...)
		}
	}
	for _, s := range []string{key, strings.TrimPrefix(rotated.Reveal(), "whsec_")} {
		if bytes.Contains(files, []byte(s)) {
			t.Fatal("a signing secret is in the database file")
		}
		if strings.Contains(e.logs.String(), s) {
			t.Fatal("a signing secret is in the logs")
		}
		log, _ := e.svc.Attempts(ctx, org, ep.ID, 0)
		if strings.Contains(mustJSON(t, log), s) {
			t.Fatal("a signing secret is in the delivery log")
		}
	}
	// The sealed value is bound to its endpoint: copied to another row it
	// does not decrypt, so deliveries there fail instead of signing.
	var sealed string
	if err := sdb.QueryRow(`SELECT secret FROM gatehouse_webhook_endpoints WHERE id = ?`, ep.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, e.kr.CurrentID()+".") {
		t.Fatalf("sealed secret %q is not tagged with the keyring secret id", sealed)
	}
	if _, err := e.kr.Open(sealed, []byte(uuid.New())); err == nil {
		t.Fatal("sealed secret opens for another endpoint")
	}
	pt, err := e.kr.Open(sealed, []byte(ep.ID))
	if err != nil || string(pt) != rotated.Reveal() {
		t.Fatalf("sealed secret opens to %q, %v", pt, err)
	}
}

// TestSSRF: refused targets at subscription time and at delivery time,
// without ever connecting anywhere but loopback.
func TestSSRF(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		res := &fakeResolver{}
		res.set("hooks.example.com", "93.184.216.34")
		res.set("internal.test", "10.1.2.3")
		res.set("rebind.test", "93.184.216.34")
		e := newEnv(t, db, func(o *webhook.Options) {
			o.AllowLoopback = false
			o.Resolver = res
			o.Dial = loopbackOnly(t)
		})
		org := uuid.New()
		tok, _ := e.addKey(org, "leads:read", "webhooks:manage")
		for _, target := range []string{
			"http://127.0.0.1/",
			"http://10.0.0.1/",
			"http://169.254.169.254/latest/meta-data/",
			"http://[::1]/",
			"http://[::ffff:10.0.0.1]/",
			"http://[::ffff:127.0.0.1]/",
			"http://internal.test/",
			"http://0.0.0.0/",
			"http://100.64.0.1/",
		} {
			for _, call := range []func() resp{
				func() resp {
					return e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+target+`","events":["*"]}`, tok)
				},
				func() resp {
					return e.adm(http.MethodPost, "/admin/orgs/"+org+"/webhooks", `{"target_url":"`+target+`","events":["*"]}`)
				},
			} {
				r := call()
				wantError(t, r, http.StatusBadRequest, "Invalid field values")
				if msg := detail(r, "target_url"); !strings.HasPrefix(msg, "is not allowed: ") {
					t.Fatalf("%s: %q", target, msg)
				}
			}
		}
		// DNS rebinding: public at subscription, private at delivery.
		r := e.adm(http.MethodPost, "/admin/orgs/"+org+"/webhooks", `{"target_url":"http://rebind.test/","events":["*"]}`)
		wantCode(t, r, http.StatusCreated)
		ep, _ := r.data()["id"].(string)
		res.set("rebind.test", "10.9.9.9")
		e.emit(org, 1)
		drain(t, e.dispatcher(nil))
		log := e.log(org, ep)
		if len(log) != 1 || log[0]["outcome"] != "retrying" || log[0]["status_code"] != nil ||
			log[0]["error"] != "refused target address: rebind.test resolves to 10.9.9.9 (private)" {
			t.Fatalf("log %v", log)
		}
		wantCode(t, e.adm(http.MethodDelete, "/admin/orgs/"+org+"/webhooks/"+ep, ""), http.StatusNoContent)

		// The private name after a redirect is never followed (the
		// redirecting receiver is on loopback, allowed here).
		e2 := newEnv(t, db2(t, db), func(o *webhook.Options) { o.Resolver = res; o.Dial = loopbackOnly(t) })
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Redirect(w, r, "http://internal.test/steal", http.StatusFound)
		})
		org2 := uuid.New()
		ep2, _ := e2.adminEndpoint(org2, rc.URL(), "")
		e2.emit(org2, 1)
		drain(t, e2.dispatcher(nil))
		if l := e2.log(org2, ep2); len(l) != 1 || l[0]["error"] != "HTTP 302: redirects are not followed" || l[0]["status_code"] != float64(302) {
			t.Fatalf("redirect log %v", l)
		}
		if n := len(rc.deliveries()); n != 1 {
			t.Fatalf("receiver got %d", n)
		}
	})
}

// db2 returns a fresh database of the same kind as db (a second env in one
// test).
func db2(t *testing.T, db dbtest.DB) dbtest.DB {
	if db.Dialect == tenancy.Postgres {
		return dbtest.DB{Name: db.Name, DB: dbtest.Postgres(t), Dialect: db.Dialect}
	}
	return dbtest.DB{Name: db.Name, DB: dbtest.SQLite(t), Dialect: db.Dialect}
}

func TestNewErrors(t *testing.T) {
	sdb := dbtest.SQLite(t)
	kr := keyring(t)
	ok := func(*http.Request) (string, string, bool) { return "", "", false }
	cases := map[string]webhook.Options{
		"no DB":                    {Keyring: kr},
		"no keyring":               {DB: sdb},
		"caller without key check": {DB: sdb, Keyring: kr, Caller: ok},
		"bad prefix":               {DB: sdb, Keyring: kr, APIPrefix: "v1/"},
		"bad manage scope":         {DB: sdb, Keyring: kr, ManageScope: "webhooks"},
		"grace too long":           {DB: sdb, Keyring: kr, SecretGracePeriod: 8 * 24 * time.Hour},
		"negative limit":           {DB: sdb, Keyring: kr, MaxEndpoints: -1},
		"bad type":                 {DB: sdb, Keyring: kr, Types: []webhook.EventType{{Name: "Lead", Scope: "leads:read"}}},
		"bad type scope":           {DB: sdb, Keyring: kr, Types: []webhook.EventType{{Name: "lead.won", Scope: "leads"}}},
		"duplicate type":           {DB: sdb, Keyring: kr, Resources: testResources(), Types: []webhook.EventType{{Name: "lead.created", Scope: "leads:read"}}},
		"nameless resource":        {DB: sdb, Keyring: kr, Resources: []resource.Resource{{}}},
	}
	for name, o := range cases {
		if _, err := webhook.New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s, err := webhook.New(webhook.Options{DB: sdb, Keyring: kr, Resources: testResources(), Types: []webhook.EventType{{Name: "invoice.paid", Scope: "invoices:read"}}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ty := range s.Types() {
		names = append(names, ty.Name+"="+string(ty.Scope))
	}
	want := []string{"invoice.paid=invoices:read", "lead.created=leads:read", "lead.updated=leads:read", "task.created=tasks:read", "task.updated=tasks:read"}
	if !slices.Equal(names, want) {
		t.Fatalf("Types() = %v", names)
	}
}

// TestSecretResponsesNoStore (issue 13, "secrets returned by webhook
// create and rotate lack Cache-Control: no-store"): every answer carrying
// a signing secret forbids caching it; the others keep the default.
func TestSecretResponsesNoStore(t *testing.T) {
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, nil)
	org := uuid.New()
	rc := newReceiver(t, nil)
	tok, _ := e.addKey(org, "leads:read", "webhooks:manage")
	base := "/admin/orgs/" + org + "/webhooks"
	body := `{"target_url":"` + rc.URL() + `","events":["lead.created"]}`
	pub := e.api(http.MethodPost, "/v1/webhooks", body, tok)
	adm := e.adm(http.MethodPost, base, body)
	id, _ := adm.data()["id"].(string)
	rot := e.adm(http.MethodPost, base+"/"+id+"/rotate-secret", "")
	for name, r := range map[string]resp{"public create": pub, "admin create": adm, "rotate": rot} {
		if s, _ := r.data()["secret"].(string); !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("%s: no secret: %d %s", name, r.Code, r.Raw)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, got)
		}
	}
	if got := e.adm(http.MethodGet, base+"/"+id, "").Header.Get("Cache-Control"); got == "no-store" {
		t.Errorf("a read without a secret is no-store too")
	}
}
