package redislimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of the limiter's circuit breaker.
type BreakerState int32

const (
	// BreakerClosed: decisions are made on Redis.
	BreakerClosed BreakerState = iota
	// BreakerOpen: Redis failed repeatedly; decisions follow the failure
	// policy without calling Redis until the cool-down ends.
	BreakerOpen
	// BreakerHalfOpen: the cool-down ended; one call probes Redis while
	// the others follow the failure policy.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// MarshalText writes the state as [BreakerState.String].
func (s BreakerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// breaker stops calls to Redis after consecutive failures. The fast path
// (closed) is one atomic load; transitions take a mutex and are logged
// once each.
type breaker struct {
	threshold int64
	cooldown  time.Duration
	logger    *slog.Logger
	clock     func() int64 // monotonic nanoseconds

	state    atomic.Int32
	failures atomic.Int64 // consecutive
	probing  atomic.Bool
	opens    atomic.Uint64

	mu        sync.Mutex
	openUntil int64 // guarded by mu; read with state open
}

func (b *breaker) State() BreakerState { return BreakerState(b.state.Load()) }

// acquire reports whether a call to Redis may be made now, and whether it
// is the half-open probe (which must then end in success, failure or
// release).
func (b *breaker) acquire() (ok, probe bool) {
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		b.mu.Lock()
		if BreakerState(b.state.Load()) == BreakerOpen && b.clock() >= b.openUntil {
			b.state.Store(int32(BreakerHalfOpen))
		}
		b.mu.Unlock()
		if BreakerState(b.state.Load()) != BreakerHalfOpen {
			return false, false
		}
	}
	if b.probing.CompareAndSwap(false, true) {
		return true, true
	}
	return false, false
}

// retryIn returns how long until the breaker lets a call through again
// (zero when closed).
func (b *breaker) retryIn() time.Duration {
	if BreakerState(b.state.Load()) == BreakerClosed {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(time.Duration(b.openUntil-b.clock()), 0)
}

// success records a call that Redis answered.
func (b *breaker) success(ctx context.Context, probe bool) {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if !probe {
		return
	}
	b.mu.Lock()
	if BreakerState(b.state.Load()) == BreakerHalfOpen {
		b.state.Store(int32(BreakerClosed))
		b.logger.InfoContext(ctx, "redislimit: Redis answers again; circuit breaker closed, decisions back on Redis")
	}
	b.probing.Store(false)
	b.mu.Unlock()
}

// failure records a call that failed; it may open the breaker.
func (b *breaker) failure(ctx context.Context, probe bool, err error) {
	if probe {
		b.mu.Lock()
		b.openUntil = b.clock() + int64(b.cooldown)
		b.state.Store(int32(BreakerOpen))
		b.probing.Store(false)
		b.mu.Unlock()
		b.logger.DebugContext(ctx, "redislimit: probe failed; circuit breaker stays open", "cooldown", b.cooldown, "err", err)
		return
	}
	if b.failures.Add(1) < b.threshold || BreakerState(b.state.Load()) != BreakerClosed {
		return
	}
	b.mu.Lock()
	if BreakerState(b.state.Load()) == BreakerClosed {
		b.openUntil = b.clock() + int64(b.cooldown)
		b.state.Store(int32(BreakerOpen))
		b.opens.Add(1)
		b.logger.WarnContext(ctx, "redislimit: Redis failing; circuit breaker open, decisions follow the failure policy",
			"consecutive_failures", b.failures.Load(), "cooldown", b.cooldown, "err", err)
	}
	b.mu.Unlock()
}

// release gives up the probe without a verdict (the caller went away).
func (b *breaker) release(probe bool) {
	if probe {
		b.probing.Store(false)
	}
}
