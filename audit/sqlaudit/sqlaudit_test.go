package sqlaudit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/audit"

	"gatehouse.dev/audit/audittest"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
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

func TestChainNoSecrets(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "audit.db")
		db, err := sqldb.OpenSQLite(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var logs bytes.Buffer
		res := audittest.RunChain(t, migrated(t, db, tenancy.SQLite, 0), slog.New(slog.NewTextHandler(&logs, nil)))
		var stored []byte
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			stored = append(stored, b...)
		}
		if !bytes.Contains(stored, []byte(res.KeyID)) {
			t.Fatal("the key id is not in the SQLite files: the scan looks at the wrong place")
		}
		for _, s := range res.Secrets {
			if bytes.Contains(stored, []byte(s)) || strings.Contains(logs.String(), s) {
				t.Errorf("the secret %q is stored or logged", s)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := dbtest.Postgres(t)
		var logs bytes.Buffer
		res := audittest.RunChain(t, migrated(t, db, tenancy.Postgres, 0), slog.New(slog.NewTextHandler(&logs, nil)))
		var dump string
		if err := db.QueryRowContext(t.Context(), "SELECT string_agg(t::text, E'\\n') FROM gatehouse_audit t").Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dump, res.KeyID) {
			t.Fatal("the key id is not in the table dump")
		}
		for _, s := range res.Secrets {
			if strings.Contains(dump, s) || strings.Contains(logs.String(), s) {
				t.Errorf("the secret %q is stored or logged", s)
			}
		}
	})
}

func migrated(t testing.TB, db *sql.DB, d tenancy.Dialect, capN int) *sqlaudit.Store {
	t.Helper()
	s, err := sqlaudit.New(sqlaudit.Options{DB: db, Dialect: d, Cap: capN})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFaultsDatabaseLocked(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		if db.Dialect == tenancy.SQLite {
			// SQLite's busy wait does not notice a cancelled context: a
			// blocked write takes the whole busy_timeout (10 s with
			// sqldb.OpenSQLite). A short one keeps the test short.
			var err error
			db.DB, err = sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "locked.db")+
				"?_pragma=busy_timeout(100)&_pragma=journal_mode(WAL)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.DB.Close() })
		}
		s := migrated(t, db.DB, db.Dialect, 0)
		var release func() error
		res := audittest.RunFaults(t, s, func(t *testing.T) {
			ctx := context.Background()
			if db.Dialect == tenancy.SQLite {
				// A connection holding the write lock: writers wait on
				// the busy timeout until the Recorder's write timeout.
				conn, err := db.DB.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					t.Fatal(err)
				}
				release = func() error {
					_, err := conn.ExecContext(ctx, "ROLLBACK")
					_ = conn.Close()
					return err
				}
				return
			}
			tx, err := db.DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "LOCK TABLE gatehouse_audit IN EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			release = tx.Rollback
		}, func(t *testing.T) {
			if err := release(); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s locked: %d requests, p50 %v, max %v, stats %+v", db.Name, res.Requests, res.P50, res.MaxLatency, res.Stats)
	})
}

func TestEventsSuite(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		for _, c := range []int{0, 5} {
			t.Run(fmt.Sprint("cap=", c), func(t *testing.T) {
				audittest.RunEvents(t, func(t *testing.T) audit.Events {
					d := dbtest.SQLite(t)
					if db.Dialect == tenancy.Postgres {
						d = dbtest.Postgres(t)
					}
					ev, err := sqlaudit.NewEvents(sqlaudit.EventsOptions{DB: d, Dialect: db.Dialect, Cap: c})
					if err != nil {
						t.Fatal(err)
					}
					if err := ev.Migrate(t.Context()); err != nil {
						t.Fatal(err)
					}
					return ev
				})
			})
		}
	})
}
