package tenancy

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
)

// SchemaVersionsTable records which versions of each component's schema a
// database holds: one row (component, version, applied_at) per applied
// [Migration], written by [MigrateVersions] in the transaction that applied
// it.
const SchemaVersionsTable = "gatehouse_schema_versions"

// Migration is one version of a component's schema.
//
// Version 1 is the schema the component first shipped with; it must be
// idempotent (CREATE TABLE IF NOT EXISTS, CREATE INDEX IF NOT EXISTS) so
// that databases created before versions were recorded, which already hold
// those tables, take it as a no-op and only gain their version row. Later
// versions run exactly once per database and may change existing tables
// (ALTER TABLE … ADD COLUMN, CREATE TABLE, data fixes); they need not be
// idempotent. A version once released is never edited: a further change is
// a new version appended to the list.
type Migration struct {
	// Version numbers the migration: a component's list holds 1, 2, 3, … in
	// that order with no gap. Required.
	Version int
	// Description says what the version changes, for readers of the list
	// (for example "audit: refused-request counters"). Optional.
	Description string
	// Statements returns the statements of this version for the dialect,
	// run in order inside the version's transaction. Required.
	Statements func(d Dialect) []string
}

// SchemaVersionsDDL returns the idempotent DDL of [SchemaVersionsTable].
func SchemaVersionsDDL(d Dialect) []string {
	ts := "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP"
	if d == Postgres {
		ts = "TIMESTAMPTZ NOT NULL DEFAULT now()"
	}
	return []string{`CREATE TABLE IF NOT EXISTS ` + SchemaVersionsTable + ` (
	component TEXT NOT NULL,
	version INTEGER NOT NULL,
	applied_at ` + ts + `,
	PRIMARY KEY (component, version)
)`}
}

// MigrateVersions brings component's schema to the last version of
// migrations. It creates [SchemaVersionsTable] if needed, reads the
// highest version recorded for component, and applies each later version in
// its own transaction: on PostgreSQL the transaction first takes
// pg_advisory_xact_lock on the same number [Migrate] uses for the name
// component (so pods starting together, and older pods still calling
// Migrate with that name, serialize); then it inserts the version's row
// with ON CONFLICT DO NOTHING, and when the row already exists (another
// pod applied the version meanwhile) it rolls back and moves on; otherwise
// it runs the version's statements and commits, so a version is applied
// completely or not at all and exactly once. On SQLite the insert takes the
// database's write lock first, which gives the same guarantee without an
// advisory lock.
//
// A database that already records a version beyond the list (a newer
// release ran against it, then an older one started) is left as it is and
// is not an error: versions must therefore only add (columns with defaults,
// tables, indexes) in ways older code tolerates, or the release notes must
// say otherwise.
//
// It fails before touching the database when migrations is empty, not
// numbered 1, 2, 3, …, or has a nil Statements.
func MigrateVersions(ctx context.Context, db *sql.DB, d Dialect, component string, migrations []Migration) error {
	if component == "" {
		return fmt.Errorf("tenancy: migrate versions: empty component name")
	}
	if len(migrations) == 0 {
		return fmt.Errorf("tenancy: migrate %s: no versions", component)
	}
	for i, m := range migrations {
		if m.Version != i+1 {
			return fmt.Errorf("tenancy: migrate %s: migration %d has version %d, want %d (versions are 1, 2, 3, … in order)", component, i, m.Version, i+1)
		}
		if m.Statements == nil {
			return fmt.Errorf("tenancy: migrate %s: version %d has no Statements", component, m.Version)
		}
	}
	if err := Migrate(ctx, db, d, SchemaVersionsTable, SchemaVersionsDDL(d)); err != nil {
		return err
	}
	current, err := SchemaVersion(ctx, db, d, component)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if m.Version <= current {
			continue
		}
		if err := applyVersion(ctx, db, d, component, m); err != nil {
			return err
		}
	}
	return nil
}

// applyVersion applies m in one transaction unless its row already exists.
func applyVersion(ctx context.Context, db *sql.DB, d Dialect, component string, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenancy: migrate %s version %d: begin: %w", component, m.Version, err)
	}
	defer func() { _ = tx.Rollback() }()
	if d == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID(component)); err != nil {
			return fmt.Errorf("tenancy: migrate %s version %d: lock: %w", component, m.Version, err)
		}
	}
	res, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO `+SchemaVersionsTable+` (component, version) VALUES (?, ?)
ON CONFLICT (component, version) DO NOTHING`), component, m.Version)
	if err != nil {
		return fmt.Errorf("tenancy: migrate %s version %d: record: %w", component, m.Version, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("tenancy: migrate %s version %d: record: %w", component, m.Version, err)
	}
	if n == 0 {
		return nil // applied by another pod meanwhile
	}
	for i, s := range m.Statements(d) {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("tenancy: migrate %s version %d statement %d: %w", component, m.Version, i+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenancy: migrate %s version %d: commit: %w", component, m.Version, err)
	}
	return nil
}

// SchemaVersion returns the highest version of component recorded in
// [SchemaVersionsTable], or 0 when none is. The table must exist (it is
// an error before the first [MigrateVersions] on the database).
func SchemaVersion(ctx context.Context, db Querier, d Dialect, component string) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, d.Rebind(`SELECT COALESCE(MAX(version), 0) FROM `+SchemaVersionsTable+` WHERE component = ?`), component).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("tenancy: schema version of %s: %w", component, err)
	}
	return v, nil
}

// lockID is the advisory lock number of a migration name, shared by
// [Migrate] and [MigrateVersions].
func lockID(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("gatehouse:" + name))
	return int64(h.Sum64())
}
