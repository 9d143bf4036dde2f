package redisfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/internal/uuid"
)

// Defaults of [Options].
const (
	// DefaultStream is the stream's key. The hash tag pins it (and any key
	// a deployment names after it) to one Cluster slot.
	DefaultStream     = "{gatehouse}:keycache"
	DefaultMaxLen     = 10_000
	DefaultBlock      = time.Second
	DefaultMaxPending = 1000
	DefaultMaxBackoff = 2 * time.Second
)

// minBackoff is the first wait after a failed read.
const minBackoff = 50 * time.Millisecond

// readCount bounds the entries of one XREAD.
const readCount = 256

// Entry fields.
const (
	fieldOrg    = "o"
	fieldKey    = "k"
	fieldPublic = "p" // public id of a created key; absent in older entries
	fieldSource = "s"
)

// Target is the cache a [Feed] keeps up to date; *keycache.Cache implements
// it.
type Target interface {
	// Apply applies a change (keycache.Change{} drops everything).
	Apply(ch keycache.Change)
	// MarkFeedHealthy promises changes for the next lease.
	MarkFeedHealthy(lease time.Duration)
	// MarkFeedUnhealthy withdraws the promise.
	MarkFeedUnhealthy()
}

// FilterLoader is implemented by targets that keep a membership filter of
// existing public ids fed by "key created" changes (*keycache.Cache). Run
// reloads it whenever it may have missed changes (at each resync and after
// a gap) before it reports the feed healthy again, so the filter can be
// trusted to answer "no such key" while the feed is healthy.
type FilterLoader interface {
	LoadFilter(ctx context.Context) error
}

// Options configures [New]. Client and Cache are required; every other
// zero field means the default in its comment.
type Options struct {
	// Client is any go-redis client: a single node, a Sentinel failover
	// client or a Cluster client. Required.
	Client redis.UniversalClient
	// Cache is the local cache: changes read from the stream are applied
	// to it, and so are the changes this feed publishes. Required.
	Cache Target
	// Stream is the key of the Redis Stream; every pod of a deployment
	// must use the same. Default [DefaultStream].
	Stream string
	// MaxLen is the approximate length the stream is trimmed to on each
	// XADD (MAXLEN ~): default [DefaultMaxLen]. A pod that falls further
	// behind than this notices it and drops its whole cache.
	MaxLen int64
	// Block is how long one XREAD waits for new entries: default
	// [DefaultBlock]. Run renews the cache's health lease after each
	// read, for 3×Block, so a feed that stops reading without an error is
	// noticed within 3×Block; Run returns at most Block after its context
	// ends.
	Block time.Duration
	// MaxPending bounds the changes whose XADD failed, kept for Run to
	// retry: default [DefaultMaxPending]. Beyond it they collapse into one
	// "drop everything" change.
	MaxPending int
	// MaxBackoff bounds the wait between attempts while Redis fails:
	// default [DefaultMaxBackoff] (the first wait is 50 ms, doubling).
	MaxBackoff time.Duration
	// Logger receives state changes (feed down, feed up, entries missed).
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the counters of a [Feed], read with [Feed.Stats].
type Stats struct {
	// Published are changes appended to the stream (retries included).
	Published uint64
	// PublishErrors are failed appends (the change is retried by Run).
	PublishErrors uint64
	// Pending are changes waiting to be appended again.
	Pending int
	// Received are changes of other feeds read and applied.
	Received uint64
	// Resyncs are times Run (re)started reading and dropped the cache.
	Resyncs uint64
	// Gaps are times entries were trimmed or deleted before Run read them
	// (the cache was dropped).
	Gaps uint64
	// ReadErrors are failed reads.
	ReadErrors uint64
	// Healthy reports whether Run's last read succeeded.
	Healthy bool
}

// Feed propagates key and organization changes between pods through a
// Redis Stream. Create it with [New]; run [Feed.Run] in each pod; publish
// with [Feed.Publish]. A Feed is safe for concurrent use and its
// constructor starts no goroutine.
type Feed struct {
	client     redis.UniversalClient
	cache      Target
	stream     string
	maxLen     int64
	block      time.Duration
	lease      time.Duration
	maxPending int
	maxBackoff time.Duration
	logger     *slog.Logger
	source     string // this feed's id: its own entries are skipped

	mu      sync.Mutex
	pending []keycache.Change

	running atomic.Bool
	healthy atomic.Bool
	reload  bool // an unreadable entry was read: reload the filter (Run's goroutine only)

	published, publishErrors, received, resyncs, gaps, readErrors atomic.Uint64
}

// New returns a feed. It does not touch Redis.
func New(opts Options) (*Feed, error) {
	if opts.Client == nil {
		return nil, errors.New("redisfeed: Options.Client is required")
	}
	if opts.Cache == nil {
		return nil, errors.New("redisfeed: Options.Cache is required")
	}
	if opts.MaxLen < 0 || opts.Block < 0 || opts.MaxPending < 0 || opts.MaxBackoff < 0 {
		return nil, errors.New("redisfeed: negative MaxLen, Block, MaxPending or MaxBackoff")
	}
	f := &Feed{
		client:     opts.Client,
		cache:      opts.Cache,
		stream:     opts.Stream,
		maxLen:     opts.MaxLen,
		block:      opts.Block,
		maxPending: opts.MaxPending,
		maxBackoff: opts.MaxBackoff,
		logger:     opts.Logger,
		source:     uuid.New(),
	}
	if f.stream == "" {
		f.stream = DefaultStream
	}
	if f.maxLen == 0 {
		f.maxLen = DefaultMaxLen
	}
	if f.block == 0 {
		f.block = DefaultBlock
	}
	if f.block < time.Millisecond {
		return nil, errors.New("redisfeed: Options.Block must be at least 1ms (XREAD BLOCK counts milliseconds)")
	}
	if f.maxPending == 0 {
		f.maxPending = DefaultMaxPending
	}
	if f.maxBackoff == 0 {
		f.maxBackoff = DefaultMaxBackoff
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	f.lease = 3 * f.block
	return f, nil
}

// Stream returns the key of the stream.
func (f *Feed) Stream() string { return f.stream }

// Publish applies ch to the local cache, so this pod sees the change on its
// very next request, and appends it to the stream for the other pods. Call
// it after the store write returned. If the append fails the change is
// kept and Run appends it once Redis answers again (at most MaxPending are
// kept); the error says so. Meanwhile the other pods' staleness bound
// still holds: their feeds cannot read either, or, if only this pod lost
// Redis, they see the change when Run's retry succeeds.
func (f *Feed) Publish(ctx context.Context, ch keycache.Change) error {
	f.cache.Apply(ch)
	if err := f.add(ctx, f.client, ch).Err(); err != nil {
		f.publishErrors.Add(1)
		f.enqueue(ch)
		return fmt.Errorf("redisfeed: publish to %s (kept for retry): %w", f.stream, err)
	}
	f.published.Add(1)
	return nil
}

func (f *Feed) add(ctx context.Context, c redis.Cmdable, ch keycache.Change) *redis.StringCmd {
	return c.XAdd(ctx, &redis.XAddArgs{
		Stream: f.stream,
		MaxLen: f.maxLen,
		Approx: true,
		Values: []any{fieldOrg, ch.OrgID, fieldKey, ch.KeyID, fieldPublic, ch.PublicID, fieldSource, f.source},
	})
}

// enqueue keeps ch for a later append, collapsing everything into one
// "drop everything" change when MaxPending are kept.
func (f *Feed) enqueue(ch keycache.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case len(f.pending) == 1 && f.pending[0] == keycache.Change{}:
		// Already dropping everything.
	case len(f.pending) >= f.maxPending || ch == keycache.Change{}:
		f.pending = []keycache.Change{{}}
	default:
		f.pending = append(f.pending, ch)
	}
}

// retryPending appends the kept changes in one pipeline.
func (f *Feed) retryPending(ctx context.Context) error {
	f.mu.Lock()
	batch := f.pending
	f.pending = nil
	f.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	_, err := f.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, ch := range batch {
			f.add(ctx, p, ch)
		}
		return nil
	})
	if err != nil {
		f.publishErrors.Add(1)
		for _, ch := range batch {
			f.enqueue(ch)
		}
		return fmt.Errorf("redisfeed: append %d kept changes: %w", len(batch), err)
	}
	f.published.Add(uint64(len(batch)))
	return nil
}

// Run reads the stream until ctx ends and applies other pods' changes to
// the cache. It first notes the stream's position and drops the whole
// cache (changes made before Run started may not have reached it); it does
// the same after every failed read once Redis answers again, and whenever
// entries it had not read yet were trimmed or deleted. While reads fail the
// cache is marked unhealthy (its StaleAfter bound applies); each successful
// read renews the cache's health lease. Failures are retried with backoff
// and logged when the feed goes down and when it is back, not per attempt.
// Changes whose Publish failed are appended again here.
//
// Run returns nil when ctx ends (within Block) and marks the cache
// unhealthy. Only one Run may run at a time per Feed.
func (f *Feed) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("redisfeed: Run is already running")
	}
	defer f.running.Store(false)
	defer f.cache.MarkFeedUnhealthy()
	defer f.healthy.Store(false)

	var (
		pos     position
		down    bool
		backoff time.Duration
	)
	for ctx.Err() == nil {
		err := f.step(ctx, &pos, &down)
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		f.readErrors.Add(1)
		f.healthy.Store(false)
		f.cache.MarkFeedUnhealthy()
		pos = position{}
		if !down {
			down = true
			f.logger.WarnContext(ctx, "redisfeed: invalidation feed is down; cached keys are re-read after the cache's StaleAfter",
				"stream", f.stream, "err", err)
		}
		backoff = min(max(2*backoff, minBackoff), f.maxBackoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// position is where Run reads from, and what it needs to tell whether
// entries were removed before it read them: the number of entries ever
// added to the stream (XINFO's entries-added, Redis 7 and later) as of a
// point where it had read everything, and the entries read since.
type position struct {
	last  string // last entry read; "" means resync first
	added int64  // entries-added when last was the newest entry
	seen  int64  // entries read since
}

// step resyncs if needed, appends kept changes and reads once. down is
// whether the feed was logged as down.
func (f *Feed) step(ctx context.Context, pos *position, down *bool) error {
	if pos.last == "" {
		p, err := f.newest(ctx)
		if err != nil {
			return err
		}
		// Drop the cache only after noting the position: a change
		// appended before the position was written to the store before
		// the drop, one appended after it is read below.
		f.cache.Apply(keycache.Change{})
		if err := f.reloadFilter(ctx); err != nil {
			return err
		}
		f.resyncs.Add(1)
		*pos = p
		f.markHealthy()
		if *down {
			*down = false
			f.logger.InfoContext(ctx, "redisfeed: invalidation feed is back; local key cache dropped", "stream", f.stream)
		}
	}
	// A failed retry is counted and tried again next round; reading goes
	// on (if Redis is down, the read fails too).
	_ = f.retryPending(ctx)
	streams, err := f.client.XRead(ctx, &redis.XReadArgs{
		Streams: []string{f.stream, pos.last},
		Count:   readCount,
		Block:   f.block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		f.markHealthy() // nothing new within Block
		return nil
	}
	if err != nil {
		return fmt.Errorf("redisfeed: XREAD %s: %w", f.stream, err)
	}
	var msgs []redis.XMessage
	for _, s := range streams {
		if s.Stream == f.stream {
			msgs = s.Messages
		}
	}
	prev := pos.last
	for _, m := range msgs {
		f.apply(ctx, m)
		pos.last = m.ID
	}
	// Something was added after prev (XREAD woke up): check that nothing
	// was removed before it could be read.
	info, err := f.client.XInfoStream(ctx, f.stream).Result()
	if err != nil {
		return fmt.Errorf("redisfeed: XINFO STREAM %s: %w", f.stream, err)
	}
	if missed(pos, prev, len(msgs), info) || f.reload {
		f.reload = false
		f.cache.Apply(keycache.Change{})
		f.gaps.Add(1)
		f.logger.WarnContext(ctx, "redisfeed: stream entries were removed before this pod read them, or were unreadable; local key cache dropped",
			"stream", f.stream, "last_read", prev)
		if err := f.reloadFilter(ctx); err != nil {
			return err
		}
	}
	f.markHealthy()
	return nil
}

// reloadFilter reloads the target's membership filter, if it has one.
func (f *Feed) reloadFilter(ctx context.Context) error {
	l, ok := f.cache.(FilterLoader)
	if !ok {
		return nil
	}
	if err := l.LoadFilter(ctx); err != nil {
		return fmt.Errorf("redisfeed: reload the key filter: %w", err)
	}
	return nil
}

func (f *Feed) markHealthy() {
	f.healthy.Store(true)
	f.cache.MarkFeedHealthy(f.lease)
}

// newest returns the position at the stream's newest entry, with the
// entries-added count of the same moment ("0-0" when the stream does not
// exist yet).
func (f *Feed) newest(ctx context.Context) (position, error) {
	info, err := f.client.XInfoStream(ctx, f.stream).Result()
	if err == nil {
		return position{last: info.LastGeneratedID, added: info.EntriesAdded}, nil
	}
	// XINFO fails on a missing key; anything else is a real error.
	n, exErr := f.client.Exists(ctx, f.stream).Result()
	if exErr == nil && n == 0 {
		return position{last: "0-0"}, nil
	}
	return position{}, fmt.Errorf("redisfeed: position in %s: %w", f.stream, err)
}

// apply applies one entry, unless this feed published it (Publish applied
// it already). An entry it cannot read drops the whole cache.
func (f *Feed) apply(ctx context.Context, m redis.XMessage) {
	src, _ := m.Values[fieldSource].(string)
	if src == f.source {
		return
	}
	org, okOrg := m.Values[fieldOrg].(string)
	key, okKey := m.Values[fieldKey].(string)
	pub, okPub := m.Values[fieldPublic].(string)
	if _, has := m.Values[fieldPublic]; !okOrg || !okKey || has && !okPub {
		f.logger.WarnContext(ctx, "redisfeed: unreadable stream entry; local key cache dropped", "stream", f.stream, "id", m.ID)
		org, key, pub = "", "", ""
		f.reload = true // it may have been a key created
	}
	f.cache.Apply(keycache.Change{OrgID: org, KeyID: key, PublicID: pub})
	f.received.Add(1)
}

// missed reports whether entries were removed (trimmed or deleted) before
// Run read them, after a read from prev returned n entries and moved pos
// to the last of them; it moves pos past removed entries.
//
// A blocked XREAD that wakes up with no entries found its entries removed.
// Otherwise, on Redis 7 and later, whenever pos reaches the newest entry
// the entries read since the last such point are compared with the
// entries added meanwhile (XINFO's entries-added), which is exact. Older
// servers only tell the first entry: there a position that is no longer in
// the stream counts as a gap, which is conservative.
func missed(pos *position, prev string, n int, info *redis.XInfoStream) bool {
	newest := info.LastGeneratedID
	if n == 0 {
		if compareID(newest, pos.last) > 0 {
			pos.last, pos.added, pos.seen = newest, info.EntriesAdded, 0
		}
		return true
	}
	if info.MaxDeletedEntryID != "" { // Redis 7: entries-added is there
		pos.seen += int64(n)
		if pos.last != newest {
			return false // more to read; check when caught up
		}
		want, seen := info.EntriesAdded-pos.added, pos.seen
		pos.added, pos.seen = info.EntriesAdded, 0
		// Fewer read than added: removed first. More: the stream was
		// deleted and created again. Either way something may be missed.
		return seen != want
	}
	first := info.FirstEntry.ID
	if prev == "0-0" || first == "" || compareID(first, prev) <= 0 {
		return false
	}
	return true
}

// compareID compares two stream ids ("ms-seq"); malformed ids compare as
// 0-0.
func compareID(a, b string) int {
	am, as := parseID(a)
	bm, bs := parseID(b)
	switch {
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}

func parseID(id string) (ms, seq uint64) {
	a, b, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(a, 10, 64)
	seq, _ = strconv.ParseUint(b, 10, 64)
	return ms, seq
}

// Stats returns a snapshot of the counters.
func (f *Feed) Stats() Stats {
	f.mu.Lock()
	pending := len(f.pending)
	f.mu.Unlock()
	return Stats{
		Published:     f.published.Load(),
		PublishErrors: f.publishErrors.Load(),
		Pending:       pending,
		Received:      f.received.Load(),
		Resyncs:       f.resyncs.Load(),
		Gaps:          f.gaps.Load(),
		ReadErrors:    f.readErrors.Load(),
		Healthy:       f.healthy.Load(),
	}
}
