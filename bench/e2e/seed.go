package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gatehouse.dev/tenancy"
)

// LeadNumberSequence is the registry's counter of leads.lead_number (table
// "." column) in gatehouse_sequences.
const LeadNumberSequence = "leads.lead_number"

// leadColumns are the columns Seed fills, in the example's schema
// (the registry's DDL of examples/joby/resources.go); sub_status, scheduled_at and client_id stay
// NULL.
var leadColumns = []string{
	"id", "organization_id", "lead_number", "first_name", "last_name", "phone", "email",
	"address", "city", "state", "postal_code", "status", "job_type", "ad_source", "notes",
	"created_at", "updated_at",
}

// seedBatch is the number of rows per INSERT: 17 columns × 500 rows stays
// below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const seedBatch = 500

// Seed inserts leads into the example's leads table the way the registry
// would have written them: lead.Org selects the organization id in orgIDs,
// created_at = updated_at = lead.CreatedAt as tenancy.Dialect.TimeValue
// stores it (fixed-width UTC text on SQLite, timestamptz on PostgreSQL), and
// each organization's leads.lead_number counter in gatehouse_sequences is set
// to its highest number, so that creates through the API continue the
// sequence. Everything happens in one transaction; on PostgreSQL the table
// is analyzed afterwards, as autovacuum would do shortly after such a load.
//
// The tables must exist: the example creates them (and the registry's list
// index) when it starts.
func Seed(ctx context.Context, db *sql.DB, d tenancy.Dialect, leads []Lead, orgIDs []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("e2e: seed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	highest := make([]int64, len(orgIDs))
	for start := 0; start < len(leads); start += seedBatch {
		batch := leads[start:min(start+seedBatch, len(leads))]
		var b strings.Builder
		b.WriteString("INSERT INTO leads (" + strings.Join(leadColumns, ", ") + ") VALUES ")
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(leadColumns)), ", ") + ")"
		args := make([]any, 0, len(batch)*len(leadColumns))
		for i, l := range batch {
			if l.Org < 0 || l.Org >= len(orgIDs) {
				return fmt.Errorf("e2e: seed: lead %s: organization %d of %d", l.ID, l.Org, len(orgIDs))
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			at := d.TimeValue(l.CreatedAt)
			args = append(args, l.ID, orgIDs[l.Org], l.Number, l.FirstName, l.LastName, l.Phone, l.Email,
				l.Address, l.City, l.State, l.PostalCode, l.Status, l.JobType, l.AdSource, l.Notes, at, at)
			highest[l.Org] = max(highest[l.Org], l.Number)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind(b.String()), args...); err != nil {
			return fmt.Errorf("e2e: seed: insert leads: %w", err)
		}
	}
	for i, org := range orgIDs {
		if highest[i] == 0 {
			continue
		}
		_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES (?, ?, ?)"+
			" ON CONFLICT (organization_id, name) DO UPDATE SET value = excluded.value"), org, LeadNumberSequence, highest[i])
		if err != nil {
			return fmt.Errorf("e2e: seed: sequence: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("e2e: seed: commit: %w", err)
	}
	if d == tenancy.Postgres {
		if _, err := db.ExecContext(ctx, "ANALYZE leads"); err != nil {
			return fmt.Errorf("e2e: seed: analyze: %w", err)
		}
	}
	return nil
}

// RaiseKeyLimit sets an API key's rate_limit_per_minute in gatehouse_keys
// directly: the admin API caps it at 300 per minute, which would throttle a
// load test. Do it before the key's first request, while no pod has the key
// in its cache.
func RaiseKeyLimit(ctx context.Context, db *sql.DB, d tenancy.Dialect, keyID string, perMinute int) error {
	res, err := db.ExecContext(ctx, d.Rebind("UPDATE gatehouse_keys SET rate_limit_per_minute = ? WHERE id = ?"), perMinute, keyID)
	if err != nil {
		return fmt.Errorf("e2e: raise key limit: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n != 1 {
		return fmt.Errorf("e2e: raise key limit: key %s: %d rows", keyID, n)
	}
	return nil
}
