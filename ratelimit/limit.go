package ratelimit

import (
	"context"
	"time"
)

// Limit is a GCRA limit: Rate events per Period, with bursts of up to Burst
// events. It is passed on every call, so per-key limits need no per-key
// limiter.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// PerMinute returns the limit of n requests a minute with a burst of n: a
// fresh key may spend its whole minute at once, then refills smoothly.
func PerMinute(n int) Limit { return Limit{Rate: n, Burst: n, Period: time.Minute} }

// IsZero reports whether l is the zero Limit.
func (l Limit) IsZero() bool { return l == Limit{} }

// Result is the outcome of one [Limiter.Allow] call.
type Result struct {
	// Limit is the limit the decision was made with.
	Limit Limit
	// Allowed reports whether the event may proceed. A denied event
	// consumes nothing.
	Allowed bool
	// Remaining is how many more events would be allowed right now.
	Remaining int
	// RetryAfter is how long until the next event would be allowed; zero
	// when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Limiter decides whether one more event of key fits in l. Implementations
// are safe for concurrent use; an error means no decision could be made
// (the caller's failure policy decides what to do).
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}

// LimiterFunc adapts a function to [Limiter].
type LimiterFunc func(ctx context.Context, key string, l Limit) (Result, error)

// Allow calls f.
func (f LimiterFunc) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	return f(ctx, key, l)
}
