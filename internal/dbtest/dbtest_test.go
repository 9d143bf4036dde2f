package dbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

func TestRedisServerStopStart(t *testing.T) {
	t.Parallel()
	s := dbtest.StartRedisServer(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Error("a key survived the restart (persistence must be off)")
	}
}
