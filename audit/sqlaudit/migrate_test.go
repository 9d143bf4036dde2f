package sqlaudit_test

import (
	"strings"
	"testing"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
)

func TestMigrateFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		s, err := sqlaudit.New(sqlaudit.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		dbtest.MigrateFromShipped(t, db, sqlaudit.Component, sqlaudit.Statements(db.Dialect), s.Migrate, len(sqlaudit.Migrations()))
		ev, err := sqlaudit.NewEvents(sqlaudit.EventsOptions{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		dbtest.MigrateFromShipped(t, db, sqlaudit.EventsComponent, sqlaudit.EventsStatements(db.Dialect), ev.Migrate, len(sqlaudit.EventsMigrations()))
	})
}

// TestMigrateAddsOperations (issue 18 item 5): a log at version 2 (before
// operations) keeps its entries through version 3, which read back without
// operations, and takes entries with operations afterwards.
func TestMigrateAddsOperations(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		ctx := t.Context()
		if err := tenancy.MigrateVersions(ctx, db.DB, db.Dialect, sqlaudit.Component, sqlaudit.Migrations()[:2]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DB.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO `+sqlaudit.Table+
			` (organization_id, key_id, time_ms, request_id, method, route, path, status, duration_ms, ip, user_agent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), "o", "k", int64(1000), "old", "GET", "/v1/leads", "/v1/leads", 200, 1, "::1", "ua"); err != nil {
			t.Fatal(err)
		}
		s, err := sqlaudit.New(sqlaudit.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, sqlaudit.Component); err != nil || v != 3 {
			t.Fatalf("version %d, %v", v, err)
		}
		e := audit.Entry{Time: time.UnixMilli(2000), RequestID: "new", KeyID: "k", OrganizationID: "o", Method: "POST",
			Route: "/v1/graphql", Path: "/v1/graphql", Status: 200, Operations: []string{"leads", "leadCreate"}}
		if err := s.Write(ctx, []audit.Entry{e}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Latest(ctx, "o", "k")
		if err != nil || len(got) != 2 || got[0].RequestID != "new" || strings.Join(got[0].Operations, ",") != "leads,leadCreate" ||
			got[1].RequestID != "old" || got[1].Operations != nil {
			t.Fatalf("Latest = %+v, %v", got, err)
		}
	})
}
