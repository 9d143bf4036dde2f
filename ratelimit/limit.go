package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
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

// ErrInvalidLimit is returned (wrapped) by every [Limiter] of this module
// for a [Limit] that cannot be enforced: Rate, Burst or Period below 1, or a
// burst window too long to represent; and by [NLimiter.AllowN] for a cost
// below 1. It is a programming error of the caller (the Key func of
// [Options]), never a backend failure.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// maxWindow bounds Period/Rate*Burst, the time a full burst takes to refill,
// so that GCRA arithmetic in nanoseconds cannot overflow (about 146 years).
const maxWindow = time.Duration(1 << 62)

// Validate returns nil if l can be enforced, or an error wrapping
// [ErrInvalidLimit] saying why not.
func (l Limit) Validate() error {
	_, err := l.emission()
	return err
}

// emission validates l and returns its emission interval in nanoseconds,
// with one division: this runs on every decision.
func (l Limit) emission() (int64, error) {
	if l.Rate < 1 || l.Burst < 1 || l.Period < time.Duration(l.Rate) {
		return 0, l.invalid()
	}
	e := int64(l.Period) / int64(l.Rate)
	if hi, lo := bits.Mul64(uint64(e), uint64(l.Burst)); hi != 0 || lo > uint64(maxWindow) {
		return 0, l.invalid()
	}
	return e, nil
}

// invalid says why l cannot be enforced.
func (l Limit) invalid() error {
	switch {
	case l.Rate < 1:
		return fmt.Errorf("%w: rate %d < 1", ErrInvalidLimit, l.Rate)
	case l.Burst < 1:
		return fmt.Errorf("%w: burst %d < 1", ErrInvalidLimit, l.Burst)
	case l.Period <= 0:
		return fmt.Errorf("%w: period %s <= 0", ErrInvalidLimit, l.Period)
	case l.Period < time.Duration(l.Rate):
		return fmt.Errorf("%w: period %s shorter than %d ns", ErrInvalidLimit, l.Period, l.Rate)
	}
	return fmt.Errorf("%w: burst window of %d × %s too long", ErrInvalidLimit, l.Burst, l.Emission())
}

// Emission returns Period/Rate, the interval at which GCRA refills one
// event (the "emission interval"). It is zero for a Limit with Rate < 1.
func (l Limit) Emission() time.Duration {
	if l.Rate < 1 {
		return 0
	}
	return l.Period / time.Duration(l.Rate)
}

// Peeker is implemented by limiters that can report the state of a key
// without consuming anything: [Memory] and the Redis limiter of
// gatehouse.dev/ratelimit/redislimit. [FailedAuth] uses it to refuse a
// client before a key lookup without counting the request.
//
// Peek's Result describes the next call to Allow: Allowed reports whether it
// would be allowed, Remaining how many events would be allowed in a row
// right now, RetryAfter how long until one would be (zero if Allowed) and
// ResetAfter how long until the bucket is full.
type Peeker interface {
	Peek(ctx context.Context, key string, l Limit) (Result, error)
}
