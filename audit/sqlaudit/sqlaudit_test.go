package sqlaudit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/audit"

	"gatehouse.dev/audit/audittest"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/internal/dbtest"
)

func TestSuite(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		audittest.Run(t, func(t *testing.T) audittest.Log {
			d := db
			if d.Name == "sqlite" {
				d.DB = dbtest.SQLite(t)
			} else {
				d.DB = dbtest.Postgres(t)
			}
			s, err := sqlaudit.New(sqlaudit.Options{DB: d.DB, Dialect: d.Dialect})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// TestNeverAboveCap checks the invariant the per-key locks give: after any
// commit no key holds more than Cap rows, with many writers racing on one
// key (the suite only sees the end state, through Latest's LIMIT).
func TestNeverAboveCap(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		const capN, writers, batches, per = 20, 6, 15, 8
		s, err := sqlaudit.New(sqlaudit.Options{DB: db.DB, Dialect: db.Dialect, Cap: capN})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		stop := make(chan struct{})
		maxSeen := make(chan int, 1)
		go func() {
			m := 0
			for {
				select {
				case <-stop:
					maxSeen <- m
					return
				default:
				}
				var n int
				if err := db.DB.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM gatehouse_audit").Scan(&n); err == nil && n > m {
					m = n
				}
			}
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					es := make([]audit.Entry, per)
					for i := range es {
						n := (b*per+i)*writers + w
						es[i] = audit.Entry{Time: base.Add(time.Duration(n) * time.Millisecond), RequestID: fmt.Sprintf("r%06d", n), KeyID: "k", OrganizationID: "o"}
					}
					if err := s.Write(context.Background(), es); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		if m := <-maxSeen; m > capN {
			t.Fatalf("a commit left %d rows for one key; cap %d", m, capN)
		}
		var n int
		if err := db.DB.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM gatehouse_audit").Scan(&n); err != nil || n != capN {
			t.Fatalf("%d rows at the end (%v), want %d", n, err, capN)
		}
	})
}
