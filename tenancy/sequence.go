package tenancy

import (
	"context"
	"fmt"
)

// SequencesTable is the library's table of per-organization counters.
const SequencesTable = "gatehouse_sequences"

// SequenceDDL returns the idempotent DDL of [SequencesTable]: version 1 of
// [SequenceMigrations]. Both dialects take the same statement.
func SequenceDDL(d Dialect) []string {
	_ = d
	return []string{`CREATE TABLE IF NOT EXISTS gatehouse_sequences (
	organization_id TEXT NOT NULL,
	name TEXT NOT NULL,
	value BIGINT NOT NULL,
	PRIMARY KEY (organization_id, name)
)`}
}

// SequencesComponent is the name under which the schema versions of
// [SequencesTable] are recorded in [SchemaVersionsTable].
const SequencesComponent = "sequences"

// SequenceMigrations returns the versions of [SequencesTable]'s schema,
// oldest first, for [MigrateVersions]. Version 1 is [SequenceDDL].
func SequenceMigrations() []Migration {
	return []Migration{{Version: 1, Description: "gatehouse_sequences", Statements: SequenceDDL}}
}

// NextSequence increments the caller's organization's counter name (for
// example "leads.lead_number") and returns its new value; the first value is
// 1. Run it inside the transaction that inserts the row using the value: the
// upsert locks the counter's row until that transaction ends, so concurrent
// creates queue and a rolled-back insert gives its number back, which keeps
// the numbers gap-free.
//
//	INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES (?, ?, 1)
//	ON CONFLICT (organization_id, name) DO UPDATE SET value = gatehouse_sequences.value + 1
//	RETURNING value
//
// Run outside a transaction (db a *sql.DB), the upsert is a statement of its
// own: the lock ends with it, concurrent writers do not wait for each
// other's commits, and a write that fails after taking its number leaves a
// gap (resource.Field.SequenceGaps works this way).
//
// A service that also inserts such rows outside the API must take its numbers
// from the same counter.
func NextSequence(ctx context.Context, db Querier, d Dialect, name string) (int64, error) {
	orgID, ok := FromContext(ctx)
	if !ok {
		return 0, ErrNoOrganization
	}
	if d != SQLite && d != Postgres {
		return 0, fmt.Errorf("tenancy: sequence %s: unknown dialect %d", name, int(d))
	}
	if name == "" {
		return 0, fmt.Errorf("tenancy: sequence: empty name")
	}
	const q = "INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES (?, ?, 1)" +
		" ON CONFLICT (organization_id, name) DO UPDATE SET value = gatehouse_sequences.value + 1" +
		" RETURNING value"
	var v int64
	if err := db.QueryRowContext(ctx, d.Rebind(q), orgID, name).Scan(&v); err != nil {
		return 0, fmt.Errorf("tenancy: sequence %s: %w", name, err)
	}
	return v, nil
}
