// Package dbtest gives tests real databases and Redis: a fresh SQLite file,
// a fresh PostgreSQL schema, a Redis client with a unique key prefix, and
// the shared Redis Cluster started by .ci/run.
//
// PostgreSQL (GATEHOUSE_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/test) and Redis (GATEHOUSE_TEST_REDIS,
// default 127.0.0.1:6379) are used when reachable; otherwise the test is
// skipped with a message, or fails when GATEHOUSE_REQUIRE_SERVICES=1. The
// cluster's addresses come from GATEHOUSE_TEST_REDIS_CLUSTER (comma
// separated). Nothing is ever flushed: each test gets its own schema or
// prefix, removed when it ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// Required reports whether GATEHOUSE_REQUIRE_SERVICES=1: unreachable
// services then fail tests instead of skipping them.
func Required() bool { return os.Getenv("GATEHOUSE_REQUIRE_SERVICES") == "1" }

// Unavailable skips t (or fails it when services are required) because
// service is unreachable.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (GATEHOUSE_REQUIRE_SERVICES=1) but unreachable: %v", service, err)
	}
	t.Skipf("skipping: %s unreachable (%v); set GATEHOUSE_REQUIRE_SERVICES=1 to make this a failure", service, err)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DB is a test database with its dialect.
type DB struct {
	Name    string // "sqlite" or "postgres"
	DB      *sql.DB
	Dialect tenancy.Dialect
}

// SQLite returns a fresh SQLite database in a temporary file, closed when
// the test ends.
func SQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sqldb.OpenSQLite(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresURL returns the URL of the test PostgreSQL database.
func PostgresURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Postgres returns a pool whose search_path is a fresh schema, dropped when
// the test ends.
func Postgres(t testing.TB) *sql.DB {
	t.Helper()
	db, _, err := sqldb.Open(PostgresSchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresSchemaURL creates a fresh schema, dropped when the test ends, and
// returns a URL whose connections use it as search_path (for code that
// opens its own pool, such as several in-process pods).
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	admin, _, err := sqldb.Open(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		Unavailable(t, "PostgreSQL at "+PostgresURL(), err)
	}
	schema := "gh_test_" + randHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("dbtest: create schema: %v", err)
	}
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		a, _, err := sqldb.Open(PostgresURL())
		if err != nil {
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = a.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	})
	return u.String()
}

// Databases runs fn as a subtest on a fresh SQLite database and on a fresh
// PostgreSQL schema (skipped or failed per [Unavailable] when PostgreSQL is
// unreachable).
func Databases(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, DB{Name: "sqlite", DB: SQLite(t), Dialect: tenancy.SQLite})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, DB{Name: "postgres", DB: Postgres(t), Dialect: tenancy.Postgres})
	})
}

// RedisAddr returns the address of the test Redis.
func RedisAddr() string {
	if a := os.Getenv("GATEHOUSE_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Redis returns a client of the test Redis, closed when the test ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		Unavailable(t, "Redis at "+RedisAddr(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisClusterAddrs returns the addresses of the test Redis Cluster, or nil.
func RedisClusterAddrs() []string {
	v := os.Getenv("GATEHOUSE_TEST_REDIS_CLUSTER")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// RedisCluster returns a client of the Redis Cluster started by .ci/run
// (scripts/redis-cluster), closed when the test ends.
func RedisCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs := RedisClusterAddrs()
	if len(addrs) == 0 {
		Unavailable(t, "Redis Cluster", fmt.Errorf("GATEHOUSE_TEST_REDIS_CLUSTER is not set (.ci/run starts one with scripts/redis-cluster start)"))
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.ForEachShard(ctx, func(ctx context.Context, s *redis.Client) error { return s.Ping(ctx).Err() }); err != nil {
		_ = c.Close()
		Unavailable(t, "Redis Cluster at "+strings.Join(addrs, ","), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Prefix returns a key prefix unique to this test, for Redis keys.
func Prefix(t testing.TB) string {
	return "gh:test:" + randHex(6) + ":"
}

// MigrateFromShipped checks a component's upgrade path on db: it creates
// the tables as the release that shipped them did (shipped, run by
// tenancy.Migrate under the component's name, no version recorded), then
// runs migrate twice (the second run must find nothing to do) and checks
// that the database records version want of component.
func MigrateFromShipped(t testing.TB, db DB, component string, shipped []string, migrate func(context.Context) error, want int) {
	t.Helper()
	ctx := context.Background()
	if err := tenancy.Migrate(ctx, db.DB, db.Dialect, component, shipped); err != nil {
		t.Fatalf("shipped schema of %s: %v", component, err)
	}
	for i := range 2 {
		if err := migrate(ctx); err != nil {
			t.Fatalf("migrate %s (run %d) from the shipped schema: %v", component, i+1, err)
		}
	}
	got, err := tenancy.SchemaVersion(ctx, db.DB, db.Dialect, component)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s schema version %d after migrating from the shipped schema, want %d", component, got, want)
	}
}
