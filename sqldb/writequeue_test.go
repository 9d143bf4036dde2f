package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/sqldb"
)

func openQueued(t testing.TB, opts sqldb.Options) *sql.DB {
	t.Helper()
	db, _, err := sqldb.OpenWith(filepath.Join(t.TempDir(), "q.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestWriteQueueWaitsInGoNotInSQLite: while one transaction holds the write
// lock, a second writer waits on the pool's queue, so its context ends the
// wait (context.DeadlineExceeded), not SQLite's busy handler (which would
// only give up after its 10 s timeout with SQLITE_BUSY); a reader is not
// held up at all.
func TestWriteQueueWaitsInGoNotInSQLite(t *testing.T) {
	t.Parallel()
	db := openQueued(t, sqldb.Options{})
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO items (n) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for _, write := range []func(ctx context.Context) error{
		func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, `INSERT INTO items (n) VALUES (2)`)
			return err
		},
		func(ctx context.Context) error {
			return db.QueryRowContext(ctx, `/* c */ INSERT INTO items (n) VALUES (3) RETURNING id`).Scan(new(int64))
		},
		func(ctx context.Context) error {
			tx2, err := db.BeginTx(ctx, nil)
			if err == nil {
				_ = tx2.Rollback()
			}
			return err
		},
	} {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := write(wctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second writer: %v, want context.DeadlineExceeded from the queue", err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("reader beside the writer: n=%d err=%v, want 0 committed rows and no wait", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO items (n) VALUES (4)`); err != nil {
		t.Fatalf("writer after commit: %v", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows = %d, %v; want 2", n, err)
	}
}

// TestWriteQueueConcurrentWritersAllCommit: 16 writers × 25 transactions
// (read the max, insert the next number) all commit, and the numbers are
// gap-free and unique, as serialized writers must leave them.
func TestWriteQueueConcurrentWritersAllCommit(t *testing.T) {
	t.Parallel()
	db := openQueued(t, sqldb.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := insertNext(ctx, db); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT n FROM items ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("numbers: %d rows, row %d has %d; want 1…400 without gaps or repeats", len(got), i, n)
		}
	}
	if len(got) != 400 {
		t.Fatalf("%d rows, want 400", len(got))
	}
}

func insertNext(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(n), 0) FROM items`).Scan(&n); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO items (n, payload) VALUES (?, ?)`, n+1, fmt.Sprint("p", n)); err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkConcurrentWrites: 16 goroutines per core creating rows in
// transactions on one SQLite file, with the write queue and without it (the
// busy handler). Besides ns/op it reports the p99 latency of one
// transaction.
func BenchmarkConcurrentWrites(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts sqldb.Options
	}{{"queue", sqldb.Options{}}, {"busy-handler", sqldb.Options{NoWriteQueue: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			db := openQueued(b, tc.opts)
			db.SetMaxOpenConns(32)
			ctx := context.Background()
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					if err := insertNext(ctx, db); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(lat) > 0 {
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
