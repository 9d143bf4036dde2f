package sqlaudit_test

import (
	"testing"

	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/internal/dbtest"
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
