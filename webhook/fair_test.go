package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
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

// apiSwitch is a fake organization store's APIEnabled.
type apiSwitch struct {
	mu  sync.Mutex
	off map[string]bool
}

func (s *apiSwitch) set(org string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off == nil {
		s.off = map[string]bool{}
	}
	s.off[org] = !on
}

func (s *apiSwitch) APIEnabled(_ context.Context, org string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.off[org], nil
}

// TestDeliveriesPauseWhileOrganizationAPIOff: issue 13 found deliveries
// continuing to an organization whose API was switched off. They now
// stay pending, unsent and not counted as attempts, and go out once the
// API is on again; one paused beyond the retention is dropped.
func TestDeliveriesPauseWhileOrganizationAPIOff(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		sw := &apiSwitch{}
		e := newEnv(t, db, func(o *webhook.Options) { o.APIEnabled = sw.APIEnabled })
		org, other := uuid.New(), uuid.New()
		rc, rcOther := newReceiver(t, nil), newReceiver(t, nil)
		ep, _ := e.adminEndpoint(org, rc.URL(), "")
		e.adminEndpoint(other, rcOther.URL(), "")
		d := e.dispatcher(func(o *webhook.DispatcherOptions) { o.Retention = time.Hour })

		sw.set(org, false)
		ids := e.emit(org, 2)
		e.emit(other, 1)
		drain(t, d)
		if n := len(rc.deliveries()); n != 0 {
			t.Fatalf("%d deliveries while the API is off", n)
		}
		if n := len(rcOther.deliveries()); n != 1 {
			t.Fatalf("other organization: %d deliveries, want 1", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE organization_id = ? AND state = 'pending' AND attempts = 0`, org); n != 2 {
			t.Fatalf("%d pending unattempted deliveries, want 2", n)
		}
		if l := e.log(org, ep); len(l) != 0 {
			t.Fatalf("paused deliveries logged attempts: %v", l)
		}
		if st := d.Stats(); st.Paused != 2 || st.Attempts != 1 {
			t.Fatalf("stats %+v", st)
		}
		// Still off a minute later: still nothing.
		e.clock.Advance(time.Minute)
		drain(t, d)
		if n := len(rc.deliveries()); n != 0 {
			t.Fatalf("%d deliveries while the API is off", n)
		}

		sw.set(org, true)
		e.clock.Advance(time.Minute)
		drain(t, d)
		got := rc.deliveries()
		if len(got) != 2 || got[0].Event.ID == got[1].Event.ID {
			t.Fatalf("after switching on: %d deliveries", len(got))
		}
		for _, g := range got {
			if g.Event.ID != ids[0] && g.Event.ID != ids[1] {
				t.Fatalf("unexpected event %s", g.Event.ID)
			}
		}

		// Paused past the retention: dropped, with a line in the log.
		sw.set(org, false)
		e.emit(org, 1)
		drain(t, d)
		e.clock.Advance(time.Hour)
		drain(t, d)
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE organization_id = ? AND state = 'pending'`, org); n != 0 {
			t.Fatalf("%d deliveries still pending after the retention", n)
		}
		if l := e.log(org, ep); len(l) == 0 || l[0]["outcome"] != webhook.OutcomeSkipped || l[0]["error"] != webhook.ReasonAPIDisabled {
			t.Fatalf("log %v", l)
		}
		if n := len(rc.deliveries()); n != 2 {
			t.Fatalf("%d deliveries, want 2", n)
		}
	})
}

// TestLargeEventIsSentThin: issue 13 found one 1 MB custom_fields write
// becoming 100 pending 1 MB deliveries. An event over MaxPayloadBytes is
// stored and sent thin: type, ids and the record's API path.
func TestLargeEventIsSentThin(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		rc := newReceiver(t, nil)
		const endpoints = 5
		for range endpoints {
			e.adminEndpoint(org, rc.URL(), "")
		}
		ctx := context.Background()
		write := func(id string, size int) {
			t.Helper()
			tx, err := e.db.DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback() }()
			rec := map[string]any{"id": id, "first_name": "Ada", "custom_fields": map[string]any{"blob": strings.Repeat("x", size)}}
			if err := e.svc.OnWrite(ctx, tx, resource.Change{Resource: "leads", Singular: "lead", Op: resource.OpUpdated, ID: id, OrganizationID: org, Record: rec}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		small, big := uuid.New(), uuid.New()
		// Just under the bound: full. 1 MB: thin.
		write(small, webhook.DefaultMaxPayloadBytes-1024)
		write(big, 1<<20)
		var total int
		if err := e.db.DB.QueryRow(e.db.Dialect.Rebind(`SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM gatehouse_webhook_events WHERE organization_id = ?`), org).Scan(&total); err != nil {
			t.Fatal(err)
		}
		if total > webhook.DefaultMaxPayloadBytes+1024 {
			t.Fatalf("events store %d bytes", total)
		}
		drain(t, e.dispatcher(nil))
		got := rc.deliveries()
		if len(got) != 2*endpoints {
			t.Fatalf("%d deliveries, want %d", len(got), 2*endpoints)
		}
		var thin, full int
		for _, d := range got {
			if len(d.Body) > webhook.DefaultMaxPayloadBytes {
				t.Fatalf("delivery of %d bytes", len(d.Body))
			}
			var p struct {
				ID, Type, OrganizationID string
				Thin                     *bool
				Data                     map[string]any
			}
			if err := json.Unmarshal(d.Body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type != "lead.updated" || !strings.HasPrefix(p.ID, webhook.EventIDPrefix) {
				t.Fatalf("event %s %s", p.ID, p.Type)
			}
			switch p.Data["id"] {
			case big:
				thin++
				if p.Thin == nil || !*p.Thin || len(p.Data) != 2 || p.Data["resource_path"] != "/v1/leads/"+big {
					t.Fatalf("thin event %s", d.Body)
				}
			case small:
				full++
				if p.Thin != nil || p.Data["first_name"] != "Ada" {
					t.Fatalf("full event %.200s", d.Body)
				}
			default:
				t.Fatalf("event %.200s", d.Body)
			}
		}
		if thin != endpoints || full != endpoints {
			t.Fatalf("thin %d full %d", thin, full)
		}
	})
	// The bound is an option.
	sdb := dbtest.SQLite(t)
	e := newEnv(t, dbtest.DB{DB: sdb, Dialect: tenancy.SQLite}, func(o *webhook.Options) { o.MaxPayloadBytes = 300 })
	ctx := context.Background()
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	id, err := e.svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: uuid.New(), Data: map[string]any{"x": strings.Repeat("y", 400)}, ResourceID: "r1", ResourcePath: "/v1/leads/r1"})
	if err != nil {
		t.Fatal(err)
	}
	var body string
	if err := tx.QueryRow(`SELECT payload FROM gatehouse_webhook_events WHERE id = ?`, id).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"thin":true,"data":{"id":"r1","resource_path":"/v1/leads/r1"}`) {
		t.Fatalf("payload %s", body)
	}
}

// stalledReceiver answers nothing until the client gives up (its Timeout)
// or the test ends.
func stalledReceiver(t *testing.T) *receiver {
	stop := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) }) // runs before the server closes
	return rc
}

// stalledOrg gives org 10 endpoints at one stalled receiver and emits an
// event, so org has 10 due deliveries none of which will answer.
func stalledOrg(e *env, org string) *receiver {
	rc := stalledReceiver(e.t)
	for i := range 10 {
		e.adminEndpoint(org, fmt.Sprintf("%s?n=%d", rc.URL(), i), "")
	}
	e.emit(org, 1)
	return rc
}

// TestStalledOrganizationClaimsFirstRound: issue 13 found one queue for
// all organizations, so one organization's stalled receivers could occupy
// every worker. With org A's 10 stalled deliveries due before org B's,
// the first claim of a batch smaller than A's backlog already takes B's
// (round-robin by rank within the organization), and A gets at most
// OrganizationConcurrency POSTs in flight.
func TestStalledOrganizationClaimsFirstRound(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
		orgA, orgB := uuid.New(), uuid.New()
		rcA := stalledOrg(e, orgA)
		rcB := newReceiver(t, nil)
		e.adminEndpoint(orgB, rcB.URL(), "")
		e.clock.Advance(time.Second) // B's deliveries are due after A's
		e.emit(orgB, 3)
		d := e.dispatcher(func(o *webhook.DispatcherOptions) {
			o.Concurrency, o.Batch, o.Timeout = 4, 4, 500*time.Millisecond
		})
		n, err := d.Dispatch(context.Background())
		if err != nil || n != 4 {
			t.Fatalf("Dispatch handled %d, %v; want 4", n, err)
		}
		// Rank order: A1, B1, A2, B2.
		if a, b := len(rcA.deliveries()), len(rcB.deliveries()); a != 2 || b != 2 {
			t.Fatalf("first round: A %d, B %d POSTs; want 2 and 2", a, b)
		}
	})
}

// TestStalledOrganizationDoesNotDelayOthers: a running dispatcher (8
// workers) with org A's 10 stalled receivers, due first, delivers all of
// org B's events while A's POSTs are still waiting for their timeout.
func TestStalledOrganizationDoesNotDelayOthers(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
		orgA, orgB := uuid.New(), uuid.New()
		stalledOrg(e, orgA)
		rcB := newReceiver(t, nil)
		e.adminEndpoint(orgB, rcB.URL(), "")
		e.clock.Advance(time.Second)
		e.emit(orgB, 3)
		var mu sync.Mutex
		var aEnded int
		var bBeforeA = -1
		d := e.dispatcher(func(o *webhook.DispatcherOptions) {
			o.Concurrency, o.Timeout = 8, 2*time.Second
			o.OnAttempt = func(_ context.Context, a webhook.Attempt) {
				if a.OrganizationID != orgA {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if aEnded == 0 {
					bBeforeA = len(rcB.deliveries())
				}
				aEnded++
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = d.Run(ctx)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			ended := aEnded
			mu.Unlock()
			if ended > 0 && len(rcB.deliveries()) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("A ended %d attempts, B got %d deliveries", ended, len(rcB.deliveries()))
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if bBeforeA != 3 {
			t.Fatalf("B had %d of its 3 deliveries when A's first stalled POST ended", bBeforeA)
		}
		if st := d.Stats(); st.InFlight != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestConcurrentCreatesKeepEndpointQuota: the quota is counted, then the
// endpoint inserted; concurrent creates (30 at once, two keys) must not
// both pass the count. Under READ COMMITTED on PostgreSQL they did before
// creates took the organization's advisory lock.
func TestConcurrentCreatesKeepEndpointQuota(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.MaxEndpoints, o.MaxEndpointsPerKey = 5, 3 })
		org := uuid.New()
		rc := newReceiver(t, nil)
		keys := []string{uuid.New(), uuid.New()}
		const creates = 30
		var wg sync.WaitGroup
		errs := make(chan error, creates)
		start := make(chan struct{})
		for i := range creates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, err := e.svc.CreateEndpoint(context.Background(), org, webhook.EndpointInput{
					URL: fmt.Sprintf("%s?n=%d", rc.URL(), i), Events: []string{"lead.created"}, KeyID: keys[i%2],
				})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			var ge *gatehouse.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ge) && (ge.Msg == webhook.MsgTooManyEndpoints || ge.Msg == webhook.MsgTooManyKeyEndpoints):
			default:
				t.Errorf("create: %v", err)
			}
		}
		total := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints WHERE organization_id = ?`, org)
		if ok != 5 || total != 5 {
			t.Fatalf("%d creates succeeded, %d endpoints; want 5 (the organization's quota)", ok, total)
		}
		for _, k := range keys {
			if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints WHERE key_id = ?`, k); n > 3 {
				t.Fatalf("key %s owns %d endpoints; quota 3", k, n)
			}
		}
	})
}

// TestPublicURLInLinks: issue 14's one public base URL. With
// Options.PublicURL the public create's Location and a thin event's
// resource_url start with it; resource_path stays the API path.
func TestPublicURLInLinks(t *testing.T) {
	const public = "https://example.com/developer"
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	e := newEnv(t, db, func(o *webhook.Options) { o.PublicURL = public; o.MaxPayloadBytes = 300 })
	org := uuid.New()
	rc := newReceiver(t, nil)
	tok, _ := e.addKey(org, "leads:read", "webhooks:manage")
	r := e.api(http.MethodPost, "/v1/webhooks", `{"target_url":"`+rc.URL()+`","events":["lead.updated"]}`, tok)
	wantCode(t, r, http.StatusCreated)
	if loc := r.Header.Get("Location"); loc != public+"/v1/webhooks/"+r.data()["id"].(string) {
		t.Fatalf("Location %q", loc)
	}
	ctx := context.Background()
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	id := uuid.New()
	rec := map[string]any{"id": id, "first_name": strings.Repeat("x", 400)}
	if err := e.svc.OnWrite(ctx, tx, resource.Change{Resource: "leads", Singular: "lead", Op: resource.OpUpdated, ID: id, OrganizationID: org, Record: rec}); err != nil {
		t.Fatal(err)
	}
	var body string
	if err := tx.QueryRow(`SELECT payload FROM gatehouse_webhook_events WHERE organization_id = ?`, org).Scan(&body); err != nil {
		t.Fatal(err)
	}
	want := `"data":{"id":"` + id + `","resource_path":"/v1/leads/` + id + `","resource_url":"` + public + `/v1/leads/` + id + `"}`
	if !strings.Contains(body, want) {
		t.Fatalf("thin payload %s, want %s", body, want)
	}
	for _, bad := range []string{"example.com", "ftp://example.com", "https://example.com/", "https://example.com?x=1"} {
		if _, err := webhook.New(webhook.Options{DB: db.DB, Keyring: e.kr, PublicURL: bad}); err == nil {
			t.Errorf("PublicURL %q accepted", bad)
		}
	}
}
