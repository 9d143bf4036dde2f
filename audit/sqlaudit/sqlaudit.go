// Package sqlaudit stores the per-key audit log in SQLite or PostgreSQL
// through database/sql: one row per entry in the table gatehouse_audit,
// created by [Store.Migrate].
//
// [Store.Write] inserts a batch and prunes every key it touched to its
// newest Cap entries by (time, request_id) in the same transaction, so after
// any commit no key holds more than Cap rows. On PostgreSQL the transaction
// first takes a transaction-level advisory lock per touched key (in a fixed
// order, so concurrent writers cannot deadlock), which makes concurrent
// writers from many pods exact under READ COMMITTED; SQLite serializes
// writers by itself (open it with gatehouse.dev/sqldb, which uses immediate
// transactions and a busy timeout).
//
// Put an [audit.Recorder] in front of the Store so that requests never wait
// for the database.
package sqlaudit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/tenancy"
)

// Table is the name of the table the Store owns.
const Table = "gatehouse_audit"

// RefusedTable holds one row per key with requests refused by the rate
// limit: their count and the time of the last one (added by version 2 of
// [Migrations]).
const RefusedTable = "gatehouse_audit_refused"

// lockClass is the first key of the PostgreSQL advisory locks taken per
// audit key (the two-int4 key space, apart from tenancy.Migrate's bigint
// locks).
const lockClass = 0x6761 // "ga"

// maxRowsPerInsert keeps a multi-row INSERT under the bind-parameter limits
// of SQLite (32,766) and PostgreSQL (65,535).
const maxRowsPerInsert = 500

const columns = "organization_id, key_id, time_ms, request_id, method, route, path, status, duration_ms, ip, user_agent, operations"

// Options configures [New].
type Options struct {
	// DB is the database. Required.
	DB *sql.DB
	// Dialect is tenancy.SQLite or tenancy.Postgres. Required.
	Dialect tenancy.Dialect
	// Cap is how many entries each key keeps. Zero means audit.DefaultCap.
	Cap int
}

// Store is the SQL audit log. It implements [audit.Log] and is safe for
// concurrent use, from one process or many.
type Store struct {
	db      *sql.DB
	dialect tenancy.Dialect
	cap     int

	latestQ  string
	pruneQ   string
	refusedQ string
	countQ   string
}

var _ audit.Log = (*Store)(nil)

// New returns a Store, or an error when DB or Dialect is missing or Cap is
// negative. It does not touch the database; call [Store.Migrate] once.
func New(opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("sqlaudit: Options.DB is required")
	}
	if opts.Dialect != tenancy.SQLite && opts.Dialect != tenancy.Postgres {
		return nil, errors.New("sqlaudit: Options.Dialect must be tenancy.SQLite or tenancy.Postgres")
	}
	if opts.Cap < 0 {
		return nil, errors.New("sqlaudit: Options.Cap must not be negative")
	}
	if opts.Cap == 0 {
		opts.Cap = audit.DefaultCap
	}
	d := opts.Dialect
	return &Store{
		db:      opts.DB,
		dialect: d,
		cap:     opts.Cap,
		latestQ: d.Rebind("SELECT time_ms, request_id, method, route, path, status, duration_ms, ip, user_agent, operations FROM " + Table +
			" WHERE organization_id = ? AND key_id = ? ORDER BY time_ms DESC, request_id DESC LIMIT ?"),
		// Rows older than the Cap-th newest go; with fewer rows the
		// subquery is NULL and nothing is deleted.
		pruneQ: d.Rebind("DELETE FROM " + Table + " WHERE organization_id = ? AND key_id = ? AND (time_ms, request_id) < (" +
			"SELECT time_ms, request_id FROM " + Table + " WHERE organization_id = ? AND key_id = ?" +
			" ORDER BY time_ms DESC, request_id DESC LIMIT 1 OFFSET ?)"),
		refusedQ: d.Rebind("SELECT refused, last_ms FROM " + RefusedTable + " WHERE organization_id = ? AND key_id = ?"),
		countQ: d.Rebind("INSERT INTO " + RefusedTable + " (organization_id, key_id, refused, last_ms) VALUES (?, ?, ?, ?)" +
			" ON CONFLICT (organization_id, key_id) DO UPDATE SET refused = " + RefusedTable + ".refused + excluded.refused, last_ms = " +
			map[bool]string{true: "GREATEST", false: "MAX"}[d == tenancy.Postgres] + "(" + RefusedTable + ".last_ms, excluded.last_ms)"),
	}, nil
}

// Cap returns how many entries each key keeps.
func (s *Store) Cap() int { return s.cap }

// Statements returns the idempotent DDL of version 1 of the "audit"
// component (the schema that shipped before versions were recorded), for
// services that manage their migrations themselves; [Migrations] lists
// every version. The primary key (organization_id,
// key_id, time_ms, request_id) is the index that reads and pruning use, and
// makes rewriting an entry a no-op. time_ms is Unix milliseconds (UTC).
func Statements(d tenancy.Dialect) []string {
	if d == tenancy.Postgres {
		return []string{`CREATE TABLE IF NOT EXISTS ` + Table + ` (
	organization_id TEXT COLLATE "C" NOT NULL,
	key_id TEXT COLLATE "C" NOT NULL,
	time_ms BIGINT NOT NULL,
	request_id TEXT COLLATE "C" NOT NULL,
	method TEXT NOT NULL,
	route TEXT NOT NULL,
	path TEXT NOT NULL,
	status INTEGER NOT NULL,
	duration_ms BIGINT NOT NULL,
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	PRIMARY KEY (organization_id, key_id, time_ms, request_id)
)`}
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + Table + ` (
	organization_id TEXT NOT NULL,
	key_id TEXT NOT NULL,
	time_ms INTEGER NOT NULL,
	request_id TEXT NOT NULL,
	method TEXT NOT NULL,
	route TEXT NOT NULL,
	path TEXT NOT NULL,
	status INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL,
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	PRIMARY KEY (organization_id, key_id, time_ms, request_id)
) WITHOUT ROWID`}
}

// Component is the name under which the schema versions of [Store] are
// recorded in gatehouse_schema_versions.
const Component = "audit"

// Migrations returns the versions of [Store]'s schema, oldest first, for
// [tenancy.MigrateVersions]. Version 1 creates the table ([Statements]),
// version 2 the refused-requests counter, version 3 the operations column.
func Migrations() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "gatehouse_audit", Statements: Statements},
		{Version: 2, Description: "gatehouse_audit_refused: per-key count of rate-limited requests", Statements: refusedDDL},
		{Version: 3, Description: "gatehouse_audit.operations: the schema operations of a request (GraphQL root fields)", Statements: operationsDDL},
	}
}

// operationsDDL is version 3: audit.Entry.Operations, space-separated
// (operation names hold no spaces); ” for entries without any, and for
// every entry written before.
func operationsDDL(tenancy.Dialect) []string {
	return []string{`ALTER TABLE ` + Table + ` ADD COLUMN operations TEXT NOT NULL DEFAULT ''`}
}

// refusedDDL is version 2: the per-key counter of refused requests.
func refusedDDL(d tenancy.Dialect) []string {
	text, suffix := "TEXT", " WITHOUT ROWID"
	if d == tenancy.Postgres {
		text, suffix = `TEXT COLLATE "C"`, ""
	}
	return []string{`CREATE TABLE ` + RefusedTable + ` (
	organization_id ` + text + ` NOT NULL,
	key_id ` + text + ` NOT NULL,
	refused BIGINT NOT NULL,
	last_ms BIGINT NOT NULL,
	PRIMARY KEY (organization_id, key_id)
)` + suffix}
}

// Migrate brings the store's tables to the last of [Migrations] with
// [tenancy.MigrateVersions] (pods starting together do not race; a
// database created before versions were recorded takes version 1 as a
// no-op).
func (s *Store) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.dialect, Component, Migrations()); err != nil {
		return fmt.Errorf("sqlaudit: %w", err)
	}
	return nil
}

type keyID struct{ org, key string }

// Write inserts entries (normalized; those without KeyID or
// OrganizationID are skipped; one already stored is left as it is) and
// prunes each touched key to its newest Cap, in one transaction; the same
// transaction adds [audit.Entry.RateLimited] entries to their key's
// counter in [RefusedTable] instead of inserting them.
func (s *Store) Write(ctx context.Context, entries []audit.Entry) error {
	rows := make([]audit.Entry, 0, len(entries))
	var keys []keyID
	seen := make(map[keyID]struct{})
	var refused map[keyID]audit.Refused
	var refusedKeys []keyID
	for _, e := range entries {
		if e.KeyID == "" || e.OrganizationID == "" {
			continue
		}
		e = e.Normalized()
		if e.RateLimited() {
			k := keyID{e.OrganizationID, e.KeyID}
			if refused == nil {
				refused = make(map[keyID]audit.Refused)
			}
			if _, ok := refused[k]; !ok {
				refusedKeys = append(refusedKeys, k)
			}
			refused[k] = refused[k].AddRefused(e)
			continue
		}
		rows = append(rows, e)
		k := keyID{e.OrganizationID, e.KeyID}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	if len(rows) == 0 && len(refusedKeys) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlaudit: write: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.dialect == tenancy.Postgres && len(keys) > 0 {
		if err := s.lock(ctx, tx, keys); err != nil {
			return err
		}
	}
	for i := 0; i < len(rows); i += maxRowsPerInsert {
		if err := s.insert(ctx, tx, rows[i:min(i+maxRowsPerInsert, len(rows))]); err != nil {
			return err
		}
	}
	if err := s.prune(ctx, tx, keys); err != nil {
		return err
	}
	// Counters in key order, so concurrent writers lock rows in one order.
	slices.SortFunc(refusedKeys, func(a, b keyID) int {
		return cmp.Or(strings.Compare(a.org, b.org), strings.Compare(a.key, b.key))
	})
	for _, k := range refusedKeys {
		r := refused[k]
		if _, err := tx.ExecContext(ctx, s.countQ, k.org, k.key, r.Count, r.LastAt.UnixMilli()); err != nil {
			return fmt.Errorf("sqlaudit: write: count refused: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlaudit: write: commit: %w", err)
	}
	return nil
}

// maxKeysPerPrune bounds the keys of one PostgreSQL prune statement.
const maxKeysPerPrune = 1000

// prune deletes the rows of keys beyond the newest Cap. SQLite runs one
// indexed DELETE per key (in process, no round trips); PostgreSQL one
// statement for all keys: a materialized CTE finds each key's Cap-th newest
// row by walking its primary key index backwards, then the older rows of
// each key are deleted through the same index.
func (s *Store) prune(ctx context.Context, tx *sql.Tx, keys []keyID) error {
	if s.dialect != tenancy.Postgres {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, s.pruneQ, k.org, k.key, k.org, k.key, s.cap-1); err != nil {
				return fmt.Errorf("sqlaudit: write: prune: %w", err)
			}
		}
		return nil
	}
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxKeysPerPrune)]
		keys = keys[len(chunk):]
		var b strings.Builder
		args := make([]any, 0, 2*len(chunk)+1)
		args = append(args, s.cap-1)
		b.WriteString("WITH cut AS MATERIALIZED (SELECT k.o, k.k, c.time_ms, c.request_id FROM (VALUES ")
		for i, k := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "($%d::text,$%d::text)", 2*i+2, 2*i+3)
			args = append(args, k.org, k.key)
		}
		b.WriteString(") AS k(o, k) CROSS JOIN LATERAL (SELECT time_ms, request_id FROM " + Table +
			" WHERE organization_id = k.o AND key_id = k.k ORDER BY time_ms DESC, request_id DESC LIMIT 1 OFFSET $1) c)" +
			" DELETE FROM " + Table + " a USING cut WHERE a.organization_id = cut.o AND a.key_id = cut.k" +
			" AND (a.time_ms, a.request_id) < (cut.time_ms, cut.request_id)")
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("sqlaudit: write: prune: %w", err)
		}
	}
	return nil
}

// lock takes the advisory lock of every key, in hash order, in one
// statement (PostgreSQL evaluates the select list left to right).
func (s *Store) lock(ctx context.Context, tx *sql.Tx, keys []keyID) error {
	hs := make([]int32, len(keys))
	for i, k := range keys {
		h := fnv.New32a()
		_, _ = h.Write([]byte(k.org))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(k.key))
		hs[i] = int32(h.Sum32())
	}
	slices.Sort(hs)
	hs = slices.Compact(hs)
	var b strings.Builder
	args := make([]any, len(hs))
	b.WriteString("SELECT ")
	for i, h := range hs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "pg_advisory_xact_lock(%d, $%d)", lockClass, i+1)
		args[i] = h
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("sqlaudit: write: lock: %w", err)
	}
	return nil
}

func (s *Store) insert(ctx context.Context, tx *sql.Tx, rows []audit.Entry) error {
	var b strings.Builder
	b.Grow(64 + len(rows)*26)
	b.WriteString("INSERT INTO " + Table + " (" + columns + ") VALUES ")
	args := make([]any, 0, len(rows)*12)
	for i, e := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, e.OrganizationID, e.KeyID, e.Time.UnixMilli(), e.RequestID, e.Method, e.Route, e.Path,
			e.Status, e.DurationMS, e.IP, e.UserAgent, strings.Join(e.Operations, " "))
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	if _, err := tx.ExecContext(ctx, s.dialect.Rebind(b.String()), args...); err != nil {
		return fmt.Errorf("sqlaudit: write: insert: %w", err)
	}
	return nil
}

// Refused returns the count of the key's requests refused by the rate
// limit and the time of the last one, from [RefusedTable]; zero when there
// are none.
func (s *Store) Refused(ctx context.Context, orgID, keyID string) (audit.Refused, error) {
	var r audit.Refused
	var last int64
	err := s.db.QueryRowContext(ctx, s.refusedQ, orgID, keyID).Scan(&r.Count, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Refused{}, nil
	}
	if err != nil {
		return audit.Refused{}, fmt.Errorf("sqlaudit: refused: %w", err)
	}
	t := time.UnixMilli(last).UTC()
	r.LastAt = &t
	return r, nil
}

// Latest returns the newest entries of key keyID of organization orgID,
// newest first, at most Cap; an empty non-nil slice when there are none.
func (s *Store) Latest(ctx context.Context, orgID, keyID string) ([]audit.Entry, error) {
	out := []audit.Entry{}
	if orgID == "" || keyID == "" {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, s.latestQ, orgID, keyID, s.cap)
	if err != nil {
		return nil, fmt.Errorf("sqlaudit: latest: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := audit.Entry{KeyID: keyID, OrganizationID: orgID}
		var ms int64
		var ops string
		if err := rows.Scan(&ms, &e.RequestID, &e.Method, &e.Route, &e.Path, &e.Status, &e.DurationMS, &e.IP, &e.UserAgent, &ops); err != nil {
			return nil, fmt.Errorf("sqlaudit: latest: scan: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		if ops != "" {
			e.Operations = strings.Fields(ops)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlaudit: latest: %w", err)
	}
	return out, nil
}
