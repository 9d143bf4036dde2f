package graphql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

// DefaultPointsPerRequest is how many points one REST request's worth of
// the caller's rate limit buys: a key limited to N requests a minute gets
// N × 50 points a minute, one default page of records per request.
const DefaultPointsPerRequest = 50

// LimiterOptions configures [LimiterCharge].
type LimiterOptions struct {
	// Limiter holds the buckets: the in-process ratelimit.Memory, the
	// Redis limiter of gatehouse.dev/ratelimit/redislimit, or the
	// telemetry decorator around either. Required.
	Limiter ratelimit.NLimiter
	// PointsPerRequest multiplies the caller's RateLimitPerMinute into
	// points per minute; zero means [DefaultPointsPerRequest].
	PointsPerRequest int
	// Prefix of the bucket keys, so that the points bucket is not the
	// REST request bucket of the same key; empty means "graphql:". The
	// bucket is the caller's lineage, shared by a key and the keys
	// rotated from it.
	Prefix string
}

// errNoCaller is the error of a charge without an authenticated caller.
var errNoCaller = errors.New("graphql: no authenticated caller to charge (mount the handler behind authentication)")

// LimiterCharge returns a [Charge] on a rate limiter with AllowN: each
// caller (gatehouse.Caller) has a bucket of RateLimitPerMinute ×
// PointsPerRequest points, refilled evenly over a minute; a query is
// charged its requested cost at once, or nothing when it does not fit. A
// cost above the bucket's capacity is refused without asking the
// limiter. A request without a caller is an error (fail closed). A
// limiter error is returned as it is (the Redis limiter's outage
// fallback, when configured, answers instead of failing).
func LimiterCharge(o LimiterOptions) (Charge, error) {
	if o.Limiter == nil {
		return nil, errors.New("graphql: LimiterOptions.Limiter is required")
	}
	per := o.PointsPerRequest
	if per <= 0 {
		per = DefaultPointsPerRequest
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "graphql:"
	}
	return func(ctx context.Context, cost int) (Throttle, error) {
		c, ok := gatehouse.CallerFromContext(ctx)
		if !ok || c.LineageID() == "" {
			return Throttle{}, errNoCaller
		}
		if c.RateLimitPerMinute < 1 {
			return Throttle{}, fmt.Errorf("graphql: charge: key %s: %w: rate limit %d", c.PublicID, ratelimit.ErrInvalidLimit, c.RateLimitPerMinute)
		}
		capacity := c.RateLimitPerMinute * per
		l := ratelimit.Limit{Rate: capacity, Burst: capacity, Period: time.Minute}
		th := Throttle{Maximum: capacity, RestoreRate: float64(capacity) / 60}
		key := prefix + c.LineageID()
		if cost > capacity {
			return th, nil
		}
		if cost < 1 {
			th.Allowed, th.Available = true, capacity
			if p, ok := o.Limiter.(ratelimit.Peeker); ok {
				res, err := p.Peek(ctx, key, l)
				if err != nil {
					return Throttle{}, fmt.Errorf("graphql: charge: %w", err)
				}
				th.Available, th.ResetAfter = res.Remaining, res.ResetAfter
			}
			return th, nil
		}
		res, err := o.Limiter.AllowN(ctx, key, l, cost)
		if err != nil {
			return Throttle{}, fmt.Errorf("graphql: charge: %w", err)
		}
		th.Allowed, th.Available, th.RetryAfter, th.ResetAfter = res.Allowed, max(res.Remaining, 0), res.RetryAfter, res.ResetAfter
		return th, nil
	}, nil
}
