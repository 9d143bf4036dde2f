package redislimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/ratelimittest"
	"gatehouse.dev/ratelimit/redislimit"
)

// newLimiter returns a limiter on client with a fresh prefix whose keys are
// deleted when the test ends. Unless the test sets one, the timeout is 1 s:
// tests of behaviour must not turn into fallback decisions because a loaded
// test machine kept Redis busy for 50 ms.
func newLimiter(t testing.TB, client redis.UniversalClient, opts redislimit.Options) *redislimit.Limiter {
	t.Helper()
	opts.Client = client
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if opts.Prefix == "" {
		opts.Prefix = dbtest.Prefix(t)
	}
	l, err := redislimit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deletePrefix(t, client, "rate:"+opts.Prefix) })
	return l
}

// deletePrefix deletes the keys starting with prefix on every master.
func deletePrefix(t testing.TB, client redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		return iter.Err()
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, del)
	case *redis.Client:
		err = del(ctx, c)
	}
	if err != nil {
		t.Logf("cleanup of %s*: %v", prefix, err)
	}
}

func TestSuite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
		opts   redislimit.Options
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }, redislimit.Options{}},
		{"single/unbatched", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }, redislimit.Options{DisableBatching: true}},
		{"single/no-deny-cache", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }, redislimit.Options{DenyCacheSize: -1}},
		{"cluster", func(t *testing.T) redis.UniversalClient { return dbtest.RedisCluster(t) }, redislimit.Options{}},
		{"cluster/unbatched", func(t *testing.T) redis.UniversalClient { return dbtest.RedisCluster(t) }, redislimit.Options{DisableBatching: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.client(t) // skip (or fail) once here when the service is down
			ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter {
				return newLimiter(t, tc.client(t), tc.opts)
			})
		})
	}
}
