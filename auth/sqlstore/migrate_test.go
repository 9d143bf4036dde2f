package sqlstore_test

import (
	"testing"

	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
)

func TestMigrateFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		dbtest.MigrateFromShipped(t, db, sqlstore.Component, sqlstore.Schema(db.Dialect), s.Migrate, len(sqlstore.Migrations()))
	})
}
