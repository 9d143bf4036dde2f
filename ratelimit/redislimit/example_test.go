package redislimit_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
)

// With Redis unreachable, the default Fallback policy keeps limiting in
// process, each of the 2 pods allowing its half of the limit.
func Example_fallback() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, ContextTimeoutEnabled: true})
	defer client.Close()
	lim, err := redislimit.New(redislimit.Options{
		Client:   client,
		Replicas: 2,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for range 6 {
		res, err := lim.Allow(ctx, "key_1", ratelimit.PerMinute(4))
		fmt.Println(res.Allowed, res.Remaining, err)
	}
	s := lim.Stats()
	fmt.Println("redis errors:", s.RedisErrors, "fallback decisions:", s.FallbackDecisions, "status:", lim.Status().Backend)
	// Output:
	// true 1 <nil>
	// true 0 <nil>
	// false 0 <nil>
	// false 0 <nil>
	// false 0 <nil>
	// false 0 <nil>
	// redis errors: 5 fallback decisions: 6 status: fallback
}
