package webhook_test

import (
	"context"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// TestMigrateFromShippedSchema: a database whose webhook tables were made
// by the release before versions were recorded migrates (newEnv runs
// Migrate twice) and records every version.
func TestMigrateFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		shipped := webhook.Migrations()[0].Statements(db.Dialect)
		if err := tenancy.Migrate(ctx, db.DB, db.Dialect, webhook.Component, shipped); err != nil {
			t.Fatal(err)
		}
		newEnv(t, db, nil)
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, webhook.Component); err != nil || v != len(webhook.Migrations()) {
			t.Fatalf("schema version %d, %v; want %d", v, err, len(webhook.Migrations()))
		}
		// Version 2: the index of the fair claim.
		q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'gatehouse_webhook_deliveries_org_due_idx'`
		if db.Dialect == tenancy.Postgres {
			q = `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'gatehouse_webhook_deliveries_org_due_idx'`
		}
		var n int
		if err := db.DB.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 1 {
			t.Fatalf("fair-claim index: %d, %v", n, err)
		}
	})
}
