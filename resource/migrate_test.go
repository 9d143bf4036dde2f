package resource_test

import (
	"context"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
)

// TestMigrateFromShippedSchema: gatehouse_sequences made by the release
// before versions were recorded migrates and records its versions.
func TestMigrateFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := context.Background()
		if err := tenancy.Migrate(ctx, db.DB, db.Dialect, tenancy.SequencesComponent, tenancy.SequenceDDL(db.Dialect)); err != nil {
			t.Fatal(err)
		}
		newEnv(t, db, nil)
		want := len(tenancy.SequenceMigrations())
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, tenancy.SequencesComponent); err != nil || v != want {
			t.Fatalf("schema version %d, %v; want %d", v, err, want)
		}
	})
}
