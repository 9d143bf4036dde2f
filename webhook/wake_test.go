package webhook_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/webhook"
)

// runDispatcher runs d until the test ends.
func runDispatcher(t *testing.T, d *webhook.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	// Let Run make its first claim and go idle: from here on only a wake
	// (the poll is an hour) sends anything.
	time.Sleep(200 * time.Millisecond)
}

// waitDeliveries waits until rc has n deliveries.
func waitDeliveries(t *testing.T, rc *receiver, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(rc.deliveries()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries after %s, want %d", len(rc.deliveries()), within, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeliveryOnCommit: issue 17 item 5. A write through the registry
// wakes the dispatcher once it commits, so the event goes out without
// waiting for the poll (an hour here); so does Emit followed by Notify. A
// write whose transaction rolls back wakes nothing and sends nothing.
func TestDeliveryOnCommit(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
		org := uuid.New()
		rc := newReceiver(t, nil)
		e.adminEndpoint(org, rc.URL(), "")
		tok, _ := e.addKey(org, "leads:create", "leads:update")
		d := e.dispatcher(func(o *webhook.DispatcherOptions) {
			o.PollInterval = time.Hour
			o.NotifyChannel = "gh_test_" + strings.ReplaceAll(uuid.New(), "-", "")[:12]
		})
		runDispatcher(t, d)

		start := time.Now()
		r := e.api(http.MethodPost, "/v1/leads", `{"first_name":"Ada"}`, tok)
		wantCode(t, r, http.StatusCreated)
		waitDeliveries(t, rc, 1, 10*time.Second)
		t.Logf("registry write to delivery: %s", time.Since(start))
		if got := rc.deliveries()[0].Event.Type; got != "lead.created" {
			t.Fatalf("event %s", got)
		}
		wantCode(t, e.api(http.MethodPatch, "/v1/leads/"+r.data()["id"].(string), `{"status":"won"}`, tok), http.StatusOK)
		waitDeliveries(t, rc, 2, 10*time.Second)

		// Emit in the caller's own transaction, then Notify.
		e.emit(org, 1)
		e.svc.Notify()
		waitDeliveries(t, rc, 3, 10*time.Second)

		// A write that fails (bad field) commits nothing and sends
		// nothing.
		wantCode(t, e.api(http.MethodPost, "/v1/leads", `{"email":"not an email"}`, tok), http.StatusBadRequest)
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.deliveries()); n != 3 {
			t.Fatalf("%d deliveries, want 3", n)
		}
	})
}

// TestNotifyAcrossPodsPostgres: a dispatcher whose poll is an hour
// delivers what another pod committed once that pod's NOTIFY arrives, and
// LISTENs again after its connection is killed.
func TestNotifyAcrossPodsPostgres(t *testing.T) {
	db, other := twoPools(t, "postgres")
	e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
	org := uuid.New()
	rc := newReceiver(t, nil)
	e.adminEndpoint(org, rc.URL(), "")
	channel := "gh_test_" + strings.ReplaceAll(uuid.New(), "-", "")[:12]
	// Pod 2 listens; pod 1 (e) writes and has no dispatcher of its own.
	svc2, err := webhook.New(webhook.Options{
		DB: other, Keyring: e.kr, AllowHTTP: true, AllowAnyPort: true, AllowLoopback: true, Now: e.clock.Now, Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := webhook.NewDispatcher(webhook.DispatcherOptions{Service: svc2, PollInterval: time.Hour, NotifyChannel: channel})
	if err != nil {
		t.Fatal(err)
	}
	runDispatcher(t, d2)
	ctx := context.Background()
	waitListening(t, db.DB, channel)
	notify := func() {
		t.Helper()
		if _, err := db.DB.ExecContext(ctx, `SELECT pg_notify($1, 'another pod')`, channel); err != nil {
			t.Fatal(err)
		}
	}
	e.emit(org, 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.deliveries()); n != 0 {
		t.Fatalf("%d deliveries before any NOTIFY", n)
	}
	notify()
	waitDeliveries(t, rc, 1, 10*time.Second)

	// Kill the LISTEN connection: pod 2 opens another (after 1 s) and
	// catches up on what committed meanwhile.
	var killed int
	if err := db.DB.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'`, channel).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d LISTEN connections, %v; want 1", killed, err)
	}
	e.emit(org, 1)
	waitDeliveries(t, rc, 2, 10*time.Second)
	waitListening(t, db.DB, channel)
	e.emit(org, 1)
	notify()
	waitDeliveries(t, rc, 3, 10*time.Second)
}

// TestNotifySentAfterCommitPostgres: a running dispatcher turns Notify
// into a NOTIFY on its channel (its own id as payload) for the other
// pods, coalescing a burst of commits into a few.
func TestNotifySentAfterCommitPostgres(t *testing.T) {
	u := dbtest.PostgresSchemaURL(t)
	db, _ := twoPools(t, "postgres")
	e := newEnv(t, db, func(o *webhook.Options) { o.Logger = discard() })
	channel := "gh_test_" + strings.ReplaceAll(uuid.New(), "-", "")[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close(context.Background())
	if _, err := lc.Exec(ctx, "LISTEN "+channel); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(func(o *webhook.DispatcherOptions) { o.PollInterval = time.Hour; o.NotifyChannel = channel })
	runDispatcher(t, d)
	for range 200 {
		e.svc.Notify()
	}
	n, err := lc.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != channel || n.Payload == "" {
		t.Fatalf("notification %+v", n)
	}
	count := 1
	for {
		wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := lc.WaitForNotification(wctx)
		wcancel()
		if err != nil {
			break
		}
		count++
	}
	if count > 3 {
		t.Fatalf("200 Notify calls in a burst sent %d NOTIFYs; want them coalesced", count)
	}
	t.Logf("200 Notify calls sent %d NOTIFY", count)
}

// waitListening waits until a session LISTENs on channel (Run's first
// claim, and the catch-up claim of a new LISTEN, are over by then).
func waitListening(t *testing.T, db *sql.DB, channel string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'`, channel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			time.Sleep(100 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no LISTEN session")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
