package ratelimit

import "time"

// GCRA, the generic cell rate algorithm, keeps one number per key: the
// theoretical arrival time (TAT) of the next event if events came exactly at
// the limit's rate. An event at now is allowed when
//
//	max(TAT, now) + emission − burst×emission <= now
//
// and then moves TAT to max(TAT, now) + emission; a denied event changes
// nothing. The formulas below are those of the Lua script of
// github.com/go-redis/redis_rate, which the Redis limiter runs, so both
// limiters answer the same Result for the same history. Times here are
// nanoseconds on the limiter's own clock.

// allowAt decides one event at now for a key whose stored TAT is tat
// (found=false: no state, the bucket is full), with l's emission interval
// emission. It returns the Result and, when allowed, the TAT to store.
func allowAt(l Limit, emission, tat int64, found bool, now int64) (Result, int64) {
	if !found || tat < now {
		tat = now
	}
	newTAT := tat + emission
	diff := now - (newTAT - emission*int64(l.Burst))
	if diff < 0 {
		return Result{
			Limit:      l,
			RetryAfter: time.Duration(-diff),
			ResetAfter: time.Duration(tat - now),
		}, tat
	}
	return Result{
		Limit:      l,
		Allowed:    true,
		Remaining:  int(diff / emission),
		ResetAfter: time.Duration(newTAT - now),
	}, newTAT
}

// peekAt reports, without changing anything, what [allowAt] would answer
// for the next event: Allowed, Remaining before consuming (how many events
// would pass in a row), RetryAfter and ResetAfter.
func peekAt(l Limit, emission, tat int64, found bool, now int64) Result {
	if !found || tat < now {
		tat = now
	}
	diff := now - (tat - emission*int64(l.Burst))
	r := Result{Limit: l, ResetAfter: time.Duration(tat - now)}
	if diff >= emission {
		r.Allowed = true
		r.Remaining = int(diff / emission)
		return r
	}
	r.RetryAfter = time.Duration(emission - diff)
	return r
}
