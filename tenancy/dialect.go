package tenancy

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL dialect of a database: [SQLite] or [Postgres]. Queries
// are written with '?' placeholders and rebound for the dialect.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// Rebind rewrites '?' placeholders outside string literals to $1, $2, … for
// PostgreSQL; SQLite queries are returned unchanged.
func (d Dialect) Rebind(q string) string {
	if d != Postgres || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case c == '?' && !inStr:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TimeLayout is how SQLite stores timestamps: fixed width, UTC, microseconds,
// so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// TimeValue returns t as a query argument for the dialect: fixed-width UTC
// text for SQLite, a time.Time for PostgreSQL (timestamptz columns). The
// time is truncated to microseconds, the precision of both.
func (d Dialect) TimeValue(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if d == SQLite {
		return t.Format(TimeLayout)
	}
	return t
}

// Time scans a timestamp column of either dialect: time.Time values, or text
// in RFC 3339 (with or without fractional seconds) or "2006-01-02 15:04:05".
// NULL scans as the zero time with Valid false.
type Time struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = Time{}
		return nil
	case time.Time:
		*t = Time{Time: v.UTC(), Valid: true}
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	}
	return fmt.Errorf("tenancy: cannot scan %T into a time", src)
}

func (t *Time) parse(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			*t = Time{Time: v.UTC(), Valid: true}
			return nil
		}
	}
	return fmt.Errorf("tenancy: cannot parse time %q", s)
}

// Ptr returns a pointer to the time, or nil when not Valid.
func (t Time) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// DialectOf returns the dialect of db from its driver: modernc.org/sqlite and
// mattn/go-sqlite3 are [SQLite]; pgx's stdlib and lib/pq are [Postgres].
// Any other driver is an error: pass the dialect explicitly.
func DialectOf(db *sql.DB) (Dialect, error) {
	if db == nil {
		return 0, fmt.Errorf("tenancy: nil *sql.DB")
	}
	switch t := fmt.Sprintf("%T", db.Driver()); t {
	case "*sqlite.Driver", "*sqlite3.SQLiteDriver":
		return SQLite, nil
	case "*stdlib.Driver", "*pq.Driver":
		return Postgres, nil
	default:
		return 0, fmt.Errorf("tenancy: cannot tell the dialect of driver %s", t)
	}
}
