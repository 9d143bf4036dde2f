// Package sqldb opens the databases gatehouse supports with the settings its
// SQL backends rely on: SQLite (modernc.org/sqlite, no cgo) in WAL mode with
// a busy timeout and immediate write transactions, and PostgreSQL through
// pgx v5's database/sql driver.
//
// It is a convenience for services and examples that do not already own a
// *sql.DB; every gatehouse SQL backend takes a *sql.DB and a
// [tenancy.Dialect] and works with one opened any other way.
package sqldb

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"             // registers "sqlite"

	"gatehouse.dev/tenancy"
)

// Options configures [OpenWith]. The zero value opens exactly like [Open].
type Options struct {
	// WrapConnector, when set, wraps the driver's connector before the
	// connection pool uses it: for example the Connector of
	// gatehouse.dev/telemetry, which makes a span per statement. The
	// connector it returns should report the wrapped connector's Driver, so
	// that tenancy.DialectOf still recognizes the database. Nil means no
	// wrapping.
	WrapConnector func(driver.Connector) driver.Connector
	// NoWriteQueue turns off the in-process write queue of SQLite pools:
	// writers then wait for each other in SQLite's busy handler, as before
	// the queue existed. It exists for measurements and for pools whose
	// writers are serialized some other way; PostgreSQL ignores it.
	NoWriteQueue bool
}

// Open opens dsn. A "postgres://" or "postgresql://" URL opens PostgreSQL;
// anything else is taken as the path of a SQLite file, opened with
// [OpenSQLite].
func Open(dsn string) (*sql.DB, tenancy.Dialect, error) {
	return OpenWith(dsn, Options{})
}

// OpenWith is [Open] with options: the same databases with the same
// settings (for SQLite the pragmas and immediate transactions of
// [OpenSQLite]), through connectors that opts.WrapConnector may wrap.
func OpenWith(dsn string, opts Options) (*sql.DB, tenancy.Dialect, error) {
	if isPostgres(dsn) {
		if opts.WrapConnector == nil {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				return nil, 0, fmt.Errorf("sqldb: open postgres: %w", err)
			}
			return db, tenancy.Postgres, nil
		}
		dc, ok := stdlib.GetDefaultDriver().(driver.DriverContext)
		if !ok {
			return nil, 0, errors.New("sqldb: pgx driver has no connector")
		}
		c, err := dc.OpenConnector(dsn)
		if err != nil {
			return nil, 0, fmt.Errorf("sqldb: open postgres: %w", err)
		}
		return openConnector(c, opts), tenancy.Postgres, nil
	}
	db, err := openSQLite(dsn, opts)
	return db, tenancy.SQLite, err
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenSQLite opens the SQLite file at path (created if missing) with
// journal_mode=WAL, busy_timeout=10s, synchronous=NORMAL, foreign_keys=on and
// immediate transactions, so a writer takes the write lock when its
// transaction begins instead of failing with SQLITE_BUSY halfway through.
//
// Writers of the pool queue in Go, first come first served, on one write
// queue shared by every connection of the pool: a write transaction or a
// writing statement outside a transaction waits for the previous one to end
// instead of polling SQLite's busy handler, whose back-off made concurrent
// creates slower than sequential ones. Readers do not queue (WAL lets them
// run beside the writer). Every gatehouse store and the host's own code that
// share the *sql.DB share that queue; a second process writing to the same
// file still meets the busy timeout.
func OpenSQLite(path string) (*sql.DB, error) {
	return openSQLite(path, Options{})
}

func openSQLite(path string, opts Options) (*sql.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("sqldb: empty SQLite path")
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: q.Encode()}
	var c driver.Connector
	c, err := sqlite.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	if !opts.NoWriteQueue {
		c = &queuedConnector{next: c, q: newWriteQueue()}
	}
	if opts.WrapConnector == nil {
		return sql.OpenDB(c), nil
	}
	return openConnector(c, opts), nil
}

// openConnector opens a pool on c as opts.WrapConnector wraps it.
func openConnector(c driver.Connector, opts Options) *sql.DB {
	if w := opts.WrapConnector(c); w != nil {
		c = w
	}
	return sql.OpenDB(c)
}
