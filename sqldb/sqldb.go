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
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"gatehouse.dev/tenancy"
)

// Open opens dsn. A "postgres://" or "postgresql://" URL opens PostgreSQL;
// anything else is taken as the path of a SQLite file, opened with
// [OpenSQLite].
func Open(dsn string) (*sql.DB, tenancy.Dialect, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, 0, fmt.Errorf("sqldb: open postgres: %w", err)
		}
		return db, tenancy.Postgres, nil
	}
	db, err := OpenSQLite(dsn)
	return db, tenancy.SQLite, err
}

// OpenSQLite opens the SQLite file at path (created if missing) with
// journal_mode=WAL, busy_timeout=10s, synchronous=NORMAL, foreign_keys=on and
// immediate transactions, so concurrent writers queue on the busy timeout
// instead of failing with SQLITE_BUSY halfway through a transaction.
func OpenSQLite(path string) (*sql.DB, error) {
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
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	return db, nil
}
