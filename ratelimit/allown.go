package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"
)

// NLimiter is implemented by limiters that can charge a cost of several
// events in one decision, for cost-based limits (a GraphQL query charged
// its cost in points): [Memory], the Redis limiter of
// gatehouse.dev/ratelimit/redislimit and the decorator of
// gatehouse.dev/telemetry around either.
//
// AllowN records n events of key at once if all n fit in l now, and
// nothing otherwise: a denied cost consumes nothing. AllowN(ctx, key, l, 1)
// is Allow(ctx, key, l). In the Result, Remaining counts events (points)
// left after the charge, and RetryAfter is how long until n events would
// fit. A cost above l.Burst never fits: it is refused without consuming
// and without changing the key, with RetryAfter the whole burst window
// (l.Burst × the emission interval) and Remaining 0; callers should refuse
// such a cost before asking. A cost below 1 is an error wrapping
// [ErrInvalidLimit].
type NLimiter interface {
	Limiter
	AllowN(ctx context.Context, key string, l Limit, n int) (Result, error)
}

var _ NLimiter = (*Memory)(nil)

// overBurst returns the Result of a cost above l.Burst (see [NLimiter]):
// refused, with RetryAfter the whole burst window and ResetAfter the
// key's.
func overBurst(l Limit, resetAfter time.Duration) Result {
	return Result{
		Limit:      l,
		RetryAfter: max(time.Duration(l.Burst)*l.Emission(), time.Nanosecond),
		ResetAfter: resetAfter,
	}
}

// AllowN records n events of key at once if they fit in l (see
// [NLimiter]). ctx is not used: Memory does no I/O. The only error is one
// wrapping [ErrInvalidLimit].
func (m *Memory) AllowN(ctx context.Context, key string, l Limit, n int) (Result, error) {
	if n == 1 {
		return m.Allow(ctx, key, l)
	}
	e, err := l.emission()
	if err != nil {
		return Result{}, err
	}
	if n < 1 {
		return Result{}, fmt.Errorf("%w: cost %d < 1", ErrInvalidLimit, n)
	}
	if n > l.Burst {
		p, err := m.Peek(ctx, key, l)
		return overBurst(l, p.ResetAfter), err
	}
	k := storedKey(key)
	now := m.clock()
	s := &m.shards[maphash.String(m.seed, k)&m.mask]
	s.mu.Lock()
	tat, found := s.tats[k]
	res, newTAT := allowAtN(l, e, tat, found, now, n)
	if res.Allowed {
		if found {
			s.tats[k] = newTAT
		} else {
			s.insert(k, newTAT, now, m.perShard)
		}
	}
	s.mu.Unlock()
	return res, nil
}

// allowAtN is [allowAt] for a cost of n events, 1 <= n <= l.Burst: the
// formulas of redis_rate's script with its cost argument. Written so that
// no intermediate value exceeds the burst window.
func allowAtN(l Limit, emission, tat int64, found bool, now int64, n int) (Result, int64) {
	if !found || tat < now {
		tat = now
	}
	// diff = now - (tat + n×emission - burst×emission)
	diff := (now - tat) + int64(l.Burst-n)*emission
	if diff < 0 {
		return Result{
			Limit:      l,
			RetryAfter: time.Duration(-diff),
			ResetAfter: time.Duration(tat - now),
		}, tat
	}
	newTAT := tat + int64(n)*emission
	return Result{
		Limit:      l,
		Allowed:    true,
		Remaining:  int(diff / emission),
		ResetAfter: time.Duration(newTAT - now),
	}, newTAT
}
