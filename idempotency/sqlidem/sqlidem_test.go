package sqlidem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/idemtest"
	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
)

func newStore(t *testing.T, db dbtest.DB, now func() time.Time, mod func(*sqlidem.Options)) *sqlidem.Store {
	t.Helper()
	opts := sqlidem.Options{DB: db.DB, Dialect: db.Dialect, Now: now}
	if mod != nil {
		mod(&opts)
	}
	s, err := sqlidem.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	return s
}

func TestSuite(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		idemtest.Run(t, idemtest.Options{
			New: func(t *testing.T, now func() time.Time) idempotency.Store {
				// The cases share the database; each uses its own scope.
				return newStore(t, db, now, nil)
			},
		})
	})
}

func claim(t *testing.T, s idempotency.Store, ref idempotency.Ref, fp string) idempotency.State {
	t.Helper()
	res, err := s.Claim(context.Background(), idempotency.Claim{Ref: ref, Fingerprint: fp, Lock: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return res.State
}

// TestCompleteTx: the stored response commits and rolls back with the
// caller's transaction.
func TestCompleteTx(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		clock := idemtest.NewClock()
		s := newStore(t, db, clock.Now, nil)
		ctx := context.Background()
		resp := idempotency.Response{Status: 201, Body: []byte("{}")}

		ref := idempotency.Ref{Scope: uuid.New(), Key: "k", Token: uuid.New()}
		claim(t, s, ref, "fp")
		tx, err := db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteTx(ctx, tx, ref, resp, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if st := claim(t, s, idempotency.Ref{Scope: ref.Scope, Key: "k", Token: uuid.New()}, "fp"); st != idempotency.InFlight {
			t.Fatalf("after rollback: %v", st)
		}
		tx, err = db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteTx(ctx, tx, ref, resp, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if st := claim(t, s, idempotency.Ref{Scope: ref.Scope, Key: "k", Token: uuid.New()}, "fp"); st != idempotency.Completed {
			t.Fatalf("after commit: %v", st)
		}

		// A claim taken over after its lock expired cannot complete: the
		// caller's write is to be rolled back.
		old := idempotency.Ref{Scope: ref.Scope, Key: "k2", Token: uuid.New()}
		claim(t, s, old, "fp")
		clock.Advance(2 * time.Minute)
		claim(t, s, idempotency.Ref{Scope: ref.Scope, Key: "k2", Token: uuid.New()}, "fp")
		tx, err = db.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if err := s.CompleteTx(ctx, tx, old, resp, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
			t.Fatalf("CompleteTx of a lost claim: %v", err)
		}
		if err := s.CompleteTx(ctx, nil, old, resp, time.Hour); err == nil {
			t.Fatal("nil transaction accepted")
		}
	})
}

func TestDeleteExpiredAndRun(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		clock := idemtest.NewClock()
		s := newStore(t, db, clock.Now, func(o *sqlidem.Options) { o.CleanupBatch = 3; o.CleanupInterval = time.Hour })
		ctx := context.Background()
		scope := uuid.New()
		for i := range 10 {
			ref := idempotency.Ref{Scope: scope, Key: string(rune('a' + i)), Token: uuid.New()}
			claim(t, s, ref, "fp")
			if i >= 7 { // three completed with a long TTL
				if err := s.Complete(ctx, ref, idempotency.Response{Status: 200}, 48*time.Hour); err != nil {
					t.Fatal(err)
				}
			}
		}
		count := func() int {
			var n int
			if err := db.DB.QueryRow(`SELECT COUNT(*) FROM ` + sqlidem.Table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n, err := s.DeleteExpired(ctx); err != nil || n != 0 {
			t.Fatalf("nothing expired yet: %d, %v", n, err)
		}
		clock.Advance(time.Minute) // the seven unfinished claims expire
		if n, err := s.DeleteExpired(ctx); err != nil || n != 7 || count() != 3 {
			t.Fatalf("DeleteExpired = %d, %v; %d left", n, err, count())
		}
		clock.Advance(48 * time.Hour)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		deadline := time.Now().Add(5 * time.Second)
		for count() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // Run deletes at once; wait for it
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d records left after Run", n)
		}
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := sqlidem.New(sqlidem.Options{}); err == nil {
		t.Error("nil DB accepted")
	}
	db := dbtest.SQLite(t)
	if _, err := sqlidem.New(sqlidem.Options{DB: db, CleanupBatch: -1}); err == nil {
		t.Error("negative batch accepted")
	}
	if _, err := sqlidem.New(sqlidem.Options{DB: db, Dialect: 9}); err == nil {
		t.Error("unknown dialect accepted")
	}
	if _, err := sqlidem.New(sqlidem.Options{DB: db}); err != nil {
		t.Errorf("dialect detection: %v", err)
	}
}
