package sqlstore_test

import (
	"testing"

	"gatehouse.dev/auth/authtest"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
)

// TestStore runs the behaviour suite on SQLite and PostgreSQL. The subtests
// share one database per engine (Migrate runs for each, idempotently); the
// suite keeps them apart with fresh organization ids.
func TestStore(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		authtest.RunStore(t, func(t *testing.T) authtest.Stores {
			s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return authtest.Stores{Keys: s, Orgs: s}
		})
	})
}
