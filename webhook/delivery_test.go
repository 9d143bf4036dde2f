package webhook_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// adminEndpoint creates an endpoint for every event through the admin API
// and returns its id and secret.
func (e *env) adminEndpoint(org, url string, events string) (id, secret string) {
	e.t.Helper()
	if events == "" {
		events = `["*"]`
	}
	r := e.adm(http.MethodPost, "/admin/orgs/"+org+"/webhooks", `{"target_url":"`+url+`","events":`+events+`}`)
	wantCode(e.t, r, http.StatusCreated)
	id, _ = r.data()["id"].(string)
	secret, _ = r.data()["secret"].(string)
	return id, secret
}

// emit writes n lead.created events of org in one transaction.
func (e *env) emit(org string, n int) []string {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.db.DB.BeginTx(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	ids := make([]string, n)
	for i := range n {
		ids[i], err = e.svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"n": i}})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) log(org, ep string) []map[string]any {
	e.t.Helper()
	r := e.adm(http.MethodGet, "/admin/orgs/"+org+"/webhooks/"+ep+"/deliveries", "")
	wantCode(e.t, r, http.StatusOK)
	return r.list()
}

func (e *env) endpoint(org, ep string) map[string]any {
	e.t.Helper()
	r := e.adm(http.MethodGet, "/admin/orgs/"+org+"/webhooks/"+ep, "")
	wantCode(e.t, r, http.StatusOK)
	return r.data()
}

func noJitter() float64 { return 0.5 }

// TestRetryThenSuccess: 500 then 200 is retried after the backoff and
// delivered once successfully.
func TestRetryThenSuccess(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		ep, secret := e.adminEndpoint(org, rc.URL(), "")
		ids := e.emit(org, 1)
		disp := e.dispatcher(func(o *webhook.DispatcherOptions) { o.Rand = noJitter })
		t0 := e.clock.Now()
		if n := drain(t, disp); n != 1 {
			t.Fatalf("first round handled %d", n)
		}
		log := e.log(org, ep)
		if len(log) != 1 || log[0]["outcome"] != "retrying" || log[0]["status_code"] != float64(500) || log[0]["error"] != "HTTP 500" {
			t.Fatalf("log after the 500: %v", log)
		}
		next, _ := time.Parse(time.RFC3339Nano, log[0]["next_attempt_at"].(string))
		if want := t0.Add(webhook.DefaultRetryBase); !next.Equal(want) {
			t.Fatalf("next attempt at %s, want %s", next, want)
		}
		// Not due before the backoff ends.
		e.clock.Advance(webhook.DefaultRetryBase - time.Second)
		if n := drain(t, disp); n != 0 {
			t.Fatalf("retried %d early", n)
		}
		e.clock.Advance(time.Second)
		if n := drain(t, disp); n != 1 {
			t.Fatalf("retry round handled %d", n)
		}
		if n := drain(t, disp); n != 0 {
			t.Fatalf("delivered again: %d", n)
		}
		got := rc.deliveries()
		if len(got) != 2 || got[0].Event.ID != ids[0] || got[1].Event.ID != ids[0] {
			t.Fatalf("receiver got %d deliveries", len(got))
		}
		if got[0].Header.Get(webhook.HeaderTimestamp) == got[1].Header.Get(webhook.HeaderTimestamp) {
			t.Fatal("the retry reused the first attempt's timestamp")
		}
		if err := webhook.Verify(secret, got[1].Header, got[1].Body, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		log = e.log(org, ep)
		if len(log) != 2 || log[0]["outcome"] != "succeeded" || log[0]["attempt"] != float64(2) || log[0]["status_code"] != float64(204) {
			t.Fatalf("log after the retry: %v", log)
		}
		if d := e.endpoint(org, ep); d["enabled"] != true || d["last_success_at"] == nil {
			t.Fatalf("endpoint %v", d)
		}
		st := disp.Stats()
		if st.Attempts != 2 || st.Successes != 1 || st.Failures != 1 || st.Exhausted != 0 || st.Backlog != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// TestTimeout: a receiver slower than Timeout is an attempt that failed
// with a timeout, retried later.
func TestTimeout(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		unblock := make(chan struct{})
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				select {
				case <-r.Context().Done():
				case <-unblock:
				}
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		defer close(unblock)
		ep, _ := e.adminEndpoint(org, rc.URL(), "")
		e.emit(org, 1)
		disp := e.dispatcher(func(o *webhook.DispatcherOptions) { o.Timeout = 200 * time.Millisecond; o.Rand = noJitter })
		start := time.Now()
		drain(t, disp)
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("the timed-out attempt took %s", el)
		}
		log := e.log(org, ep)
		if len(log) != 1 || log[0]["outcome"] != "retrying" || log[0]["error"] != "timeout after 200ms" || log[0]["status_code"] != nil {
			t.Fatalf("log %v", log)
		}
		if ms := log[0]["duration_ms"].(float64); ms < 150 {
			t.Fatalf("duration %vms", ms)
		}
		e.clock.Advance(time.Hour)
		if n := drain(t, disp); n != 1 {
			t.Fatalf("retry handled %d", n)
		}
		if log := e.log(org, ep); log[0]["outcome"] != "succeeded" {
			t.Fatalf("log %v", log)
		}
	})
}

// TestBudgetDisablesEndpoint: a receiver that is down for longer than the
// retry budget gets its endpoint disabled with a visible reason; a poison
// event on an endpoint that otherwise works does not disable it.
func TestBudgetDisablesEndpoint(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		down := newReceiver(t, nil)
		downURL := down.URL()
		down.srv.Close() // connection refused from now on
		epDown, _ := e.adminEndpoint(org, downURL, "")
		disp := e.dispatcher(func(o *webhook.DispatcherOptions) { o.MaxAttempts = 3 })
		e.emit(org, 1)
		for range 3 {
			drain(t, disp)
			e.clock.Advance(24 * time.Hour)
		}
		d := e.endpoint(org, epDown)
		reason, _ := d["disabled_reason"].(string)
		if d["enabled"] != false || !strings.Contains(reason, "failed 3 times; last error: connection refused") {
			t.Fatalf("endpoint after the budget: %v", d)
		}
		log := e.log(org, epDown)
		if len(log) != 3 || log[0]["outcome"] != "failed" || log[0]["next_attempt_at"] != nil || log[2]["outcome"] != "retrying" {
			t.Fatalf("log %v", log)
		}
		st := disp.Stats()
		if st.Exhausted != 1 || st.EndpointsDisabled != 1 || st.Failures != 3 {
			t.Fatalf("stats %+v", st)
		}
		// A disabled endpoint gets no new deliveries.
		e.emit(org, 2)
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE endpoint_id = ? AND state = 'pending'`, epDown); n != 0 {
			t.Fatalf("%d pending deliveries for a disabled endpoint", n)
		}
		// Re-enabling clears the reason; new events flow again.
		r := e.adm(http.MethodPatch, "/admin/orgs/"+org+"/webhooks/"+epDown, `{"enabled":true}`)
		wantCode(t, r, http.StatusOK)
		if r.data()["disabled_reason"] != nil {
			t.Fatalf("reason kept: %s", r.Raw)
		}
		e.emit(org, 1)
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE endpoint_id = ? AND state = 'pending'`, epDown); n != 1 {
			t.Fatalf("%d pending deliveries after re-enabling", n)
		}
		wantCode(t, e.adm(http.MethodDelete, "/admin/orgs/"+org+"/webhooks/"+epDown, ""), http.StatusNoContent)

		// A poison event that the receiver always refuses exhausts its
		// budget, but the endpoint delivered other events since that
		// delivery began, so it stays enabled.
		var poison *receiver
		poison = newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if poison.deliveries()[n-1].Event.Data["n"] == float64(99) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		epPoison, _ := e.adminEndpoint(org, poison.URL(), "")
		ctx := context.Background()
		tx, err := db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{99, 1} {
			if _, err := e.svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: map[string]any{"n": n}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		disp2 := e.dispatcher(func(o *webhook.DispatcherOptions) { o.MaxAttempts = 2 })
		drain(t, disp2)
		e.clock.Advance(24 * time.Hour)
		drain(t, disp2)
		if d := e.endpoint(org, epPoison); d["enabled"] != true {
			t.Fatalf("a working endpoint was disabled by one poison event: %v", d)
		}
		if log := e.log(org, epPoison); len(log) != 3 || log[0]["outcome"] != "failed" || log[0]["status_code"] != float64(422) {
			t.Fatalf("poison log %v", log)
		}
	})
}

// TestKilledDispatcher: a dispatcher that dies with deliveries in flight
// loses nothing; only the deliveries in flight are sent twice.
func TestKilledDispatcher(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			db, other := twoPools(t, name)
			e := newEnv(t, db, nil)
			org := uuid.New()
			const inFlight = 4
			var arrivals sync.WaitGroup
			arrivals.Add(inFlight)
			release := make(chan struct{})
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= inFlight {
					arrivals.Done()
					<-release
				}
				w.WriteHeader(http.StatusOK)
			})
			e.adminEndpoint(org, rc.URL(), "")
			ids := e.emit(org, 20)

			// Dispatcher A, on its own pool, claims 10 and sends 4.
			svcA, err := webhook.New(webhook.Options{
				DB: other, Dialect: db.Dialect, Keyring: e.kr, AllowHTTP: true, AllowAnyPort: true, AllowLoopback: true,
				Now: e.clock.Now, Logger: discard(),
			})
			if err != nil {
				t.Fatal(err)
			}
			// One organization: its bound must allow the 4 in flight
			// (the default would be 2, and the 4 arrivals never come).
			a, err := webhook.NewDispatcher(webhook.DispatcherOptions{Service: svcA, Concurrency: inFlight, OrganizationConcurrency: inFlight, Batch: 10})
			if err != nil {
				t.Fatal(err)
			}
			ctxA, kill := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = a.Dispatch(ctxA)
			}()
			arrivals.Wait()
			// Kill A: its database goes away and its context ends, so
			// nothing it did after this point is recorded or sent.
			_ = other.Close()
			kill()
			close(release)
			<-done
			if n := len(rc.deliveries()); n != inFlight {
				t.Fatalf("receiver got %d before the kill, want %d", n, inFlight)
			}

			// Dispatcher B sends the 10 unclaimed deliveries now and the
			// 10 that A claimed once A's lease ends.
			b := e.dispatcher(nil)
			if n := drain(t, b); n != 10 {
				t.Fatalf("B handled %d while A's lease lives, want 10", n)
			}
			e.clock.Advance(2*webhook.DefaultTimeout + time.Minute)
			if n := drain(t, b); n != 10 {
				t.Fatalf("B handled %d after A's lease, want 10", n)
			}
			seen := map[string]int{}
			for _, d := range rc.deliveries() {
				seen[d.Event.ID]++
			}
			dups := 0
			for _, id := range ids {
				switch seen[id] {
				case 0:
					t.Fatalf("event %s lost", id)
				case 2:
					dups++
				case 1:
				default:
					t.Fatalf("event %s delivered %d times", id, seen[id])
				}
			}
			if dups != inFlight {
				t.Fatalf("%d events delivered twice, want the %d in flight", dups, inFlight)
			}
			if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE state <> 'succeeded'`); n != 0 {
				t.Fatalf("%d deliveries not succeeded", n)
			}
		})
	}
}

// twoPools returns a fresh database and a second, independent pool on it
// (two pods).
func twoPools(t *testing.T, name string) (dbtest.DB, *sql.DB) {
	t.Helper()
	if name == "sqlite" {
		path := filepath.Join(t.TempDir(), "pods.db")
		open := func() *sql.DB {
			db, err := sqldb.OpenSQLite(path)
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxIdleConns(16)
			t.Cleanup(func() { _ = db.Close() })
			return db
		}
		return dbtest.DB{Name: name, DB: open(), Dialect: tenancy.SQLite}, open()
	}
	u := dbtest.PostgresSchemaURL(t)
	open := func() *sql.DB {
		db, _, err := sqldb.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		// Keep connections for every worker: the default of two idle
		// connections makes each delivery open a new one.
		db.SetMaxIdleConns(16)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	return dbtest.DB{Name: name, DB: open(), Dialect: tenancy.Postgres}, open()
}

// TestTwoDispatchersPostgres: two dispatchers (two pods) share 1,000
// deliveries of 10 organizations; each is sent exactly once (the fair
// claim ranks candidates without a lock, then locks them with SKIP
// LOCKED and re-checks).
func TestTwoDispatchersPostgres(t *testing.T) {
	db, other := twoPools(t, "postgres")
	e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
	rc := newReceiver(t, nil)
	const total = 1000
	var ids []string
	for range total / 100 {
		org := uuid.New()
		e.adminEndpoint(org, rc.URL(), "")
		ids = append(ids, e.emit(org, 100)...)
	}
	svc2, err := webhook.New(webhook.Options{
		DB: other, Dialect: tenancy.Postgres, Keyring: e.kr, AllowHTTP: true, AllowAnyPort: true, AllowLoopback: true,
		Now: e.clock.Now, Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(s *webhook.Service) *webhook.Dispatcher {
		d, err := webhook.NewDispatcher(webhook.DispatcherOptions{Service: s, Concurrency: 8, PollInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1, d2 := mk(e.svc), mk(svc2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range []*webhook.Dispatcher{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE state = 'succeeded'`) < total {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("only %d of %d delivered in time", len(rc.deliveries()), total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, d := range rc.deliveries() {
		seen[d.Event.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("event %s delivered %d times", id, seen[id])
		}
	}
	if n := len(rc.deliveries()); n != total {
		t.Fatalf("receiver got %d requests, want %d", n, total)
	}
	s1, s2 := d1.Stats(), d2.Stats()
	if s1.Successes+s2.Successes != total || s1.Failures+s2.Failures != 0 {
		t.Fatalf("stats %+v %+v", s1, s2)
	}
	t.Logf("dispatcher 1 sent %d, dispatcher 2 sent %d", s1.Successes, s2.Successes)
}

// TestRunStops: of two concurrent Runs one refuses at once; the other
// returns nil after its context ends.
func TestRunStops(t *testing.T) {
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, nil)
	d := e.dispatcher(func(o *webhook.DispatcherOptions) { o.PollInterval = time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- d.Run(ctx) }()
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("first Run to return: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("neither Run refused")
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	// Stopped, it may run again.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := d.Run(ctx2); err != nil {
		t.Fatal(err)
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, nil)
	cases := map[string]webhook.DispatcherOptions{
		"no service":           {},
		"negative timeout":     {Service: e.svc, Timeout: -1},
		"lease below timeout":  {Service: e.svc, Timeout: time.Minute, Lease: 30 * time.Second},
		"retry max below base": {Service: e.svc, RetryBase: time.Hour, RetryMax: time.Minute},
		"negative attempts":    {Service: e.svc, MaxAttempts: -1},
		"jitter 1":             {Service: e.svc, Jitter: 1},
		"negative body cap":    {Service: e.svc, MaxResponseBytes: -1},
	}
	for name, o := range cases {
		if _, err := webhook.NewDispatcher(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestCleanup deletes what is older than the retention and keeps pending
// work.
func TestCleanup(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, nil)
		org := uuid.New()
		rc := newReceiver(t, nil)
		ep, _ := e.adminEndpoint(org, rc.URL(), "")
		e.emit(org, 3)
		d := e.dispatcher(func(o *webhook.DispatcherOptions) { o.Retention = time.Hour })
		drain(t, d)
		e.clock.Advance(30 * time.Minute)
		e.emit(org, 1) // pending, recent
		e.clock.Advance(31 * time.Minute)
		if err := d.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_events`); n != 1 {
			t.Fatalf("%d events left, want the pending one", n)
		}
		if n := e.count(`SELECT COUNT(*) FROM gatehouse_webhook_deliveries`); n != 1 {
			t.Fatalf("%d deliveries left", n)
		}
		if log := e.log(org, ep); len(log) != 0 {
			t.Fatalf("log kept %d old lines", len(log))
		}
		if n := drain(t, d); n != 1 {
			t.Fatalf("pending delivery lost: %d", n)
		}
	})
}
