package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"gatehouse.dev/ratelimit"
)

// A points bucket charged a cost per request, as a GraphQL endpoint charges
// each query its cost: a refused cost takes nothing, and a denial of a big
// cost does not refuse a smaller one.
func ExampleNLimiter() {
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	var lim ratelimit.NLimiter = mem
	points := ratelimit.Limit{Rate: 100, Burst: 100, Period: time.Minute}
	ctx := context.Background()
	for _, cost := range []int{41, 41, 41, 18, 101} {
		res, err := lim.AllowN(ctx, "key_1", points, cost)
		fmt.Println(cost, res.Allowed, res.Remaining, res.RetryAfter, err)
	}
	// Output:
	// 41 true 59 0s <nil>
	// 41 true 18 0s <nil>
	// 41 false 0 13.8s <nil>
	// 18 true 0 0s <nil>
	// 101 false 0 1m0s <nil>
}
