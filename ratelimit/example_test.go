package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

func Example() {
	// A fixed clock makes the output stable; services leave Now nil.
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Key is nil: the bucket and the limit are the request's
	// gatehouse.Caller's, recorded by the authentication middleware.
	mw, err := ratelimit.New(ratelimit.Options{Limiter: mem, Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		// In a service, auth.Middleware records the caller.
		req = req.WithContext(gatehouse.NewCallerContext(req.Context(), gatehouse.Caller{KeyID: "key_1", OrgID: "org_1", RateLimitPerMinute: 2}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("RateLimit-Policy"), rec.Header().Get("RateLimit"),
			rec.Header().Get("X-RateLimit-Reset"), "retry-after:"+rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "default";q=2;w=60 "default";r=1;t=30 1700000030 retry-after:
	// 200 "default";q=2;w=60 "default";r=0;t=60 1700000060 retry-after:
	// 429 "default";q=2;w=60 "default";r=0;t=60 1700000060 retry-after:30
}

func ExampleMemory() {
	now := time.Unix(0, 0)
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	limit := ratelimit.Limit{Rate: 10, Burst: 3, Period: time.Second} // 3 at once, then one per 100 ms
	for i := range 4 {
		res, _ := mem.Allow(ctx, "k", limit)
		fmt.Println(i, res.Allowed, res.Remaining, res.RetryAfter, res.ResetAfter)
	}
	now = now.Add(100 * time.Millisecond)
	res, _ := mem.Allow(ctx, "k", limit)
	fmt.Println("later", res.Allowed, res.Remaining)
	// Output:
	// 0 true 2 0s 100ms
	// 1 true 1 0s 200ms
	// 2 true 0 0s 300ms
	// 3 false 0 100ms 300ms
	// later true 0
}

func ExampleFailedAuth() {
	f, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{
		Limit: ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Minute},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	r.RemoteAddr = "198.51.100.7:55000"
	for range 3 {
		if err := f.Allow(r); err != nil {
			fmt.Println("refused:", err)
			break
		}
		fmt.Println("key lookup failed")
		f.Failed(r)
	}
	// Output:
	// key lookup failed
	// key lookup failed
	// refused: Rate limit exceeded
}
