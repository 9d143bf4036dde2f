package dbtest_test

import (
	"context"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
)

func TestDatabases(t *testing.T) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		var one int
		if err := db.DB.QueryRowContext(context.Background(), db.Dialect.Rebind("SELECT CAST(? AS INTEGER)"), 1).Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT 1 on %s: %v %d", db.Name, err, one)
		}
	})
}

func TestRedis(t *testing.T) {
	c := dbtest.Redis(t)
	if err := c.Set(context.Background(), dbtest.Prefix(t)+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}
