package sqlidem_test

import (
	"testing"

	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/internal/dbtest"
)

func TestMigrateFromShippedSchema(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		s, err := sqlidem.New(sqlidem.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		dbtest.MigrateFromShipped(t, db, sqlidem.Component, sqlidem.DDL(db.Dialect), s.Migrate, len(sqlidem.Migrations()))
	})
}
