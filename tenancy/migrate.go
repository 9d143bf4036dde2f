package tenancy

import (
	"context"
	"database/sql"
	"fmt"
)

// Migrate runs the DDL statements in one transaction. On PostgreSQL the
// transaction first takes pg_advisory_xact_lock on a number derived from
// name, so pods starting together do not race; SQLite's immediate
// transactions serialize on their own. Statements must be idempotent
// (CREATE TABLE IF NOT EXISTS, CREATE INDEX IF NOT EXISTS).
//
// Migrate records no version and cannot change a table that exists; the
// library's own tables use [MigrateVersions], which can.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, name string, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenancy: migrate %s: begin: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if d == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockID(name)); err != nil {
			return fmt.Errorf("tenancy: migrate %s: lock: %w", name, err)
		}
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("tenancy: migrate %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("tenancy: migrate %s: commit: %w", name, err)
	}
	return nil
}
