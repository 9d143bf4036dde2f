package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// countingConnector counts the connections it opens and passes the
// driver's connections through unchanged.
type countingConnector struct {
	driver.Connector
	n *atomic.Int64
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.n.Add(1)
	return c.Connector.Connect(ctx)
}

func wrapCounting(n *atomic.Int64) sqldb.Options {
	return sqldb.Options{WrapConnector: func(c driver.Connector) driver.Connector {
		return countingConnector{Connector: c, n: n}
	}}
}

func TestOpenWithSQLiteKeepsSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	var n atomic.Int64
	db, dialect, err := sqldb.OpenWith(path, wrapCounting(&n))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if dialect != tenancy.SQLite {
		t.Fatalf("dialect %v", dialect)
	}
	if d, err := tenancy.DialectOf(db); err != nil || d != tenancy.SQLite {
		t.Fatalf("DialectOf = %v, %v", d, err)
	}
	ctx := context.Background()
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1", "synchronous": "1",
	} {
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	if n.Load() == 0 {
		t.Fatal("the wrapped connector opened no connection")
	}

	// Immediate transactions: an open transaction that has not written yet
	// already holds the write lock, so a second writer without a busy
	// timeout fails at once.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := other.Conn(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx2, "BEGIN IMMEDIATE")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "locked") {
		t.Fatalf("second writer: err = %v, want database is locked (txlock=immediate lost?)", err)
	}
}

func TestOpenWithoutWrapIsOpen(t *testing.T) {
	t.Parallel()
	db, dialect, err := sqldb.OpenWith(filepath.Join(t.TempDir(), "p.db"), sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" || dialect != tenancy.SQLite {
		t.Fatalf("journal_mode %q dialect %v err %v", mode, dialect, err)
	}
	if _, _, err := sqldb.OpenWith("", sqldb.Options{}); err == nil {
		t.Fatal("empty path opened")
	}
}

func TestOpenWithPostgres(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	db, dialect, err := sqldb.OpenWith(dbtest.PostgresURL(), wrapCounting(&n))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		dbtest.Unavailable(t, "PostgreSQL", err)
	}
	if dialect != tenancy.Postgres {
		t.Fatalf("dialect %v", dialect)
	}
	if d, err := tenancy.DialectOf(db); err != nil || d != tenancy.Postgres {
		t.Fatalf("DialectOf = %v, %v", d, err)
	}
	// pgx's NamedValueChecker reaches the driver: a []string argument is
	// accepted, which database/sql's default converter would refuse.
	var got int
	if err := db.QueryRowContext(ctx, "SELECT cardinality($1::text[])", []string{"a", "b"}).Scan(&got); err != nil || got != 2 {
		t.Fatalf("array argument: %d, %v", got, err)
	}
	if n.Load() == 0 {
		t.Fatal("the wrapped connector opened no connection")
	}
}
