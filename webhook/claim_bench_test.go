package webhook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/tenancy"
)

// claimBacklog is a service whose outbox holds orgs·perOrg due deliveries
// (one event per organization, perOrg deliveries of it), and a dispatcher
// on a clock the caller moves.
func claimBacklog(b *testing.B, db dbtest.DB, orgs, perOrg int) (*Dispatcher, func(time.Duration)) {
	b.Helper()
	ctx := context.Background()
	kr, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("k1"))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	svc, err := New(Options{DB: db.DB, Dialect: db.Dialect, Keyring: kr, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	t0 := clock()
	for o := range orgs {
		org := uuid.New()
		ev := newEventID(t0)
		if _, err := tx.ExecContext(ctx, svc.q(`INSERT INTO gatehouse_webhook_events (id, organization_id, type, scope, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			ev, org, "lead.created", "leads:read", `{"id":"`+ev+`","data":{}}`, svc.t(t0)); err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		args := make([]any, 0, perOrg*6)
		sb.WriteString(`INSERT INTO gatehouse_webhook_deliveries (id, organization_id, endpoint_id, event_id, state, attempts, next_attempt_at, created_at, updated_at) VALUES `)
		for i := range perOrg {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, 'pending', 0, ?, ?, ?)")
			// Due times interleave across organizations.
			due := svc.t(t0.Add(-time.Duration(perOrg-i)*time.Second - time.Duration(o)*time.Millisecond))
			args = append(args, uuid.New(), org, uuid.New(), ev, due, svc.t(t0), svc.t(t0))
		}
		if _, err := tx.ExecContext(ctx, svc.q(sb.String()), args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.DB.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	d, err := NewDispatcher(DispatcherOptions{Service: svc, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	return d, advance
}

// BenchmarkClaim measures one claim of Run (16 deliveries, at most
// OrganizationConcurrency of an organization, round-robin) with 10,000 due
// deliveries of 100 organizations waiting, including loading the claimed
// deliveries with their events. Between claims the clock moves past the
// lease, so the backlog stays due.
func BenchmarkClaim(b *testing.B) {
	const orgs, perOrg, n = 100, 100, 16
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var db dbtest.DB
			if name == "sqlite" {
				db = dbtest.DB{Name: name, DB: dbtest.SQLite(b), Dialect: tenancy.SQLite}
			} else {
				db = dbtest.DB{Name: name, DB: dbtest.Postgres(b), Dialect: tenancy.Postgres}
			}
			d, advance := claimBacklog(b, db, orgs, perOrg)
			ctx := context.Background()
			held := fmt.Sprintf(`{%q:2}`, uuid.New())
			b.ReportAllocs()
			for b.Loop() {
				jobs, err := d.claim(ctx, n, held, d.orgConc)
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) != n {
					b.Fatalf("claimed %d, want %d", len(jobs), n)
				}
				advance(d.lease + time.Second)
			}
		})
	}
}
