package redisaudit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/audit/audittest"
	"gatehouse.dev/audit/redisaudit"
	"gatehouse.dev/internal/dbtest"
)

// cleanup deletes the test's keys (nothing is ever flushed).
func cleanup(t *testing.T, c redis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		del := func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		switch c := c.(type) {
		case *redis.ClusterClient:
			_ = c.ForEachMaster(ctx, del)
		case *redis.Client:
			_ = del(ctx, c)
		}
	})
}

func newStore(t *testing.T, c redis.UniversalClient, opts redisaudit.Options) *redisaudit.Store {
	t.Helper()
	opts.Client = c
	if opts.Prefix == "" {
		opts.Prefix = dbtest.Prefix(t)
	}
	cleanup(t, c, opts.Prefix)
	s, err := redisaudit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		c := dbtest.Redis(t)
		audittest.Run(t, func(t *testing.T) audittest.Log { return newStore(t, c, redisaudit.Options{}) })
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := dbtest.RedisCluster(t)
		audittest.Run(t, func(t *testing.T) audittest.Log { return newStore(t, c, redisaudit.Options{}) })
	})
}
