package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Toucher records the last use of keys; [KeyStore] implementations are
// Touchers.
type Toucher interface {
	// TouchKeys sets last_used_at of the keys to at, in one statement.
	TouchKeys(ctx context.Context, ids []string, at time.Time) error
}

// UsageOptions configures [NewUsage].
type UsageOptions struct {
	// Store receives the batched touches. Required.
	Store Toucher
	// Interval is how often at most each key is touched. Zero means one
	// minute.
	Interval time.Duration
	// FlushInterval is how often [Usage.Run] writes pending touches. Zero
	// means 5 seconds.
	FlushInterval time.Duration
	// BatchSize bounds the ids of one TouchKeys call. Zero means 500.
	BatchSize int
	// MaxKeys bounds the keys tracked between flushes (memory stays
	// bounded under any traffic); marks beyond it are dropped and counted
	// in [UsageStats.Dropped]. Zero means 100,000.
	MaxKeys int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives flush errors. Nil means slog.Default().
	Logger *slog.Logger
}

// UsageStats are the counters of a [Usage].
type UsageStats struct {
	Marked  uint64 // marks accepted (at most one per key per Interval)
	Dropped uint64 // marks dropped because MaxKeys keys were tracked
	Touched uint64 // key touches written
	Failed  uint64 // TouchKeys calls that failed
	Pending int    // keys waiting for the next flush
}

// Usage batches the last_used_at updates of keys off the request path: the
// middleware calls [Usage.Mark] on each authenticated request (no I/O), and
// [Usage.Run], started by the host, writes the pending touches every
// FlushInterval in one TouchKeys call per batch. Each key is touched at most
// once per Interval. The constructor starts no goroutine.
type Usage struct {
	store      Toucher
	interval   time.Duration
	flushEvery time.Duration
	batch      int
	maxKeys    int
	now        func() time.Time
	logger     *slog.Logger

	mu        sync.RWMutex
	seen      map[string]time.Time // key id → time of its last accepted mark
	pending   []string
	pendingAt time.Time // latest mark among pending

	marked, dropped, touched, failed atomic.Uint64
}

// finalFlushTimeout bounds the flush Run does after its context ends.
const finalFlushTimeout = 5 * time.Second

// NewUsage returns a usage batcher. Store is required.
func NewUsage(opts UsageOptions) (*Usage, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: UsageOptions.Store is required")
	}
	if opts.Interval < 0 || opts.FlushInterval < 0 || opts.BatchSize < 0 || opts.MaxKeys < 0 {
		return nil, errors.New("auth: UsageOptions: negative Interval, FlushInterval, BatchSize or MaxKeys")
	}
	u := &Usage{
		store:      opts.Store,
		interval:   opts.Interval,
		flushEvery: opts.FlushInterval,
		batch:      opts.BatchSize,
		maxKeys:    opts.MaxKeys,
		now:        opts.Now,
		logger:     opts.Logger,
		seen:       make(map[string]time.Time),
	}
	if u.interval == 0 {
		u.interval = time.Minute
	}
	if u.flushEvery == 0 {
		u.flushEvery = 5 * time.Second
	}
	if u.batch == 0 {
		u.batch = 500
	}
	if u.maxKeys == 0 {
		u.maxKeys = 100_000
	}
	if u.now == nil {
		u.now = time.Now
	}
	if u.logger == nil {
		u.logger = slog.Default()
	}
	return u, nil
}

// Mark records a use of the key. It does no I/O and never blocks on the
// store: a key marked within the last Interval is ignored, any other is
// queued for the next flush.
func (u *Usage) Mark(keyID string) {
	now := u.now()
	u.mu.RLock()
	last, ok := u.seen[keyID]
	u.mu.RUnlock()
	if ok && now.Sub(last) < u.interval {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	last, ok = u.seen[keyID]
	switch {
	case ok && now.Sub(last) < u.interval:
		return
	case !ok && len(u.seen) >= u.maxKeys, len(u.pending) >= u.maxKeys:
		u.dropped.Add(1)
		return
	}
	u.seen[keyID] = now
	u.pending = append(u.pending, keyID)
	if now.After(u.pendingAt) {
		u.pendingAt = now
	}
	u.marked.Add(1)
}

// Flush writes the pending touches now, in batches of BatchSize ids, each
// with the time of the latest mark. Ids of a failed batch are queued again.
func (u *Usage) Flush(ctx context.Context) error {
	now := u.now()
	u.mu.Lock()
	ids, at := u.pending, u.pendingAt
	u.pending, u.pendingAt = nil, time.Time{}
	for id, t := range u.seen {
		// Forget keys whose interval is over: their next use is marked.
		if now.Sub(t) >= u.interval {
			delete(u.seen, id)
		}
	}
	u.mu.Unlock()

	var errs []error
	for len(ids) > 0 {
		n := min(len(ids), u.batch)
		batch := ids[:n]
		ids = ids[n:]
		if err := u.store.TouchKeys(ctx, batch, at); err != nil {
			u.failed.Add(1)
			errs = append(errs, fmt.Errorf("auth: touch %d keys: %w", len(batch), err))
			u.requeue(batch, at)
			continue
		}
		u.touched.Add(uint64(len(batch)))
	}
	return errors.Join(errs...)
}

// requeue puts ids back in front of the pending touches, keeping at most
// MaxKeys pending so that a store outage cannot grow memory.
func (u *Usage) requeue(ids []string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if room := u.maxKeys - len(u.pending); len(ids) > room {
		room = max(room, 0)
		u.dropped.Add(uint64(len(ids) - room))
		ids = ids[:room]
	}
	u.pending = append(ids[:len(ids):len(ids)], u.pending...)
	if at.After(u.pendingAt) {
		u.pendingAt = at
	}
}

// Run flushes pending touches every FlushInterval until ctx ends, then
// flushes once more within 5 seconds and returns that flush's error (nil
// when it succeeded). Errors of periodic flushes are logged and retried.
func (u *Usage) Run(ctx context.Context) error {
	t := time.NewTicker(u.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			return u.Flush(fctx)
		case <-t.C:
			if err := u.Flush(ctx); err != nil && ctx.Err() == nil {
				u.logger.ErrorContext(ctx, "auth: last_used_at flush failed", "err", err)
			}
		}
	}
}

// Stats returns the counters.
func (u *Usage) Stats() UsageStats {
	u.mu.RLock()
	pending := len(u.pending)
	u.mu.RUnlock()
	return UsageStats{
		Marked:  u.marked.Load(),
		Dropped: u.dropped.Load(),
		Touched: u.touched.Load(),
		Failed:  u.failed.Load(),
		Pending: pending,
	}
}
