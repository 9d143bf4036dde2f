package keycache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse.dev/auth"
)

// Defaults of [Options].
const (
	DefaultMaxEntries  = 100_000
	DefaultMaxNegative = 10_000
	DefaultMaxOrgs     = 10_000
	DefaultTTL         = 5 * time.Minute
	DefaultStaleAfter  = 5 * time.Second
	DefaultNegativeTTL = 10 * time.Second
)

// Options configures [New]. Store and Orgs are required; every other zero
// field means the default in its comment.
type Options struct {
	// Store is the key store whose lookups are cached (for example a
	// sqlstore.Store or an auth.Memory). Required.
	Store auth.Store
	// Orgs answers whether an organization's Developer API module is on;
	// its answers are cached too. Required.
	Orgs auth.OrgChecker
	// MaxEntries bounds the cached keys: default [DefaultMaxEntries]. A
	// full cache evicts by a clock (second chance) algorithm per shard:
	// keys not used since the hand last passed, or expired, go first.
	MaxEntries int
	// MaxNegative bounds the negative entries (public ids the store does
	// not know), kept apart from the keys so that a flood of unknown ids
	// never evicts a valid key: default [DefaultMaxNegative].
	MaxNegative int
	// MaxOrgs bounds the cached organization answers: default
	// [DefaultMaxOrgs].
	MaxOrgs int
	// TTL is the longest an entry is used while the invalidation feed is
	// healthy: default [DefaultTTL].
	TTL time.Duration
	// StaleAfter is the longest an entry is used while the invalidation
	// feed is unhealthy or absent (see [Cache.MarkFeedHealthy]); older
	// entries are read from the store again: default [DefaultStaleAfter].
	StaleAfter time.Duration
	// NegativeTTL is how long "not found" is remembered for a public id:
	// default [DefaultNegativeTTL] (and never longer than StaleAfter while
	// the feed is unhealthy).
	NegativeTTL time.Duration
	// PublicIDs lists every existing public id, for the membership filter
	// (see [Cache.KeyHint] and [Cache.LoadFilter]). Nil means Store when it
	// implements [auth.PublicIDLister]; otherwise there is no filter and
	// every uncached public id is [auth.KeyUnknown].
	PublicIDs auth.PublicIDLister
	// Now is the clock; only differences between its readings matter.
	// Nil means time.Now.
	Now func() time.Time
}

// Change names what changed in the store, for [Cache.Apply] and for
// invalidation feeds. PublicID set: a key with this public id was created
// (it joins the membership filter; see [Cache.Created]). KeyID set: that
// key changed (scopes, limit, expiry, revocation). KeyID empty and OrgID
// set: the organization changed (its API switch). All three empty:
// anything may have changed; drop everything.
type Change struct {
	OrgID    string
	KeyID    string
	PublicID string
}

// Stats are the counters of a [Cache], read with [Cache.Stats]. Counters
// only grow; Entries, NegativeEntries, OrgEntries and FeedHealthy are the
// current state.
type Stats struct {
	// Hits are key lookups answered from a cached key.
	Hits uint64
	// NegativeHits are key lookups answered "not found" from a negative
	// entry.
	NegativeHits uint64
	// Misses are key lookups that needed the store (no entry, or an
	// expired or stale one).
	Misses uint64
	// Stale are the misses whose entry was older than StaleAfter while
	// the feed was unhealthy.
	Stale uint64
	// OrgHits and OrgMisses count organization lookups likewise.
	OrgHits, OrgMisses uint64
	// Coalesced are misses that shared a concurrent lookup's store read.
	Coalesced uint64
	// Errors are store reads that failed (not cached).
	Errors uint64
	// Invalidations are applied changes of one key or organization.
	Invalidations uint64
	// Flushes are applied changes that dropped the whole cache.
	Flushes uint64
	// Evictions are entries dropped to stay within the size bounds.
	Evictions uint64
	// Entries, NegativeEntries and OrgEntries are the cached entries now.
	Entries, NegativeEntries, OrgEntries int
	// FeedHealthy reports whether the invalidation feed's lease is valid.
	FeedHealthy bool
	// Reads are store reads of keys (each miss that did not share another
	// one's read, plus repeats of reads overtaken by an invalidation).
	Reads uint64
	// FilterRejects are public ids answered [auth.KeyAbsent] by the
	// membership filter: no key has them, and no I/O was needed.
	FilterRejects uint64
	// FilterIDs are the public ids in the membership filter, FilterBytes
	// its memory, and FilterComplete whether it holds every id of the
	// store (loaded, and not being reloaded).
	FilterIDs      int64
	FilterBytes    int
	FilterComplete bool
}

// Cache is a caching [auth.Store] and [auth.OrgChecker] in front of another
// one. Use it as both Store and Orgs of auth.Options. See the package
// documentation for its consistency rules. A Cache is safe for concurrent
// use and starts no goroutine.
type Cache struct {
	store      auth.Store
	orgs       auth.OrgChecker
	ttl        int64
	negTTL     int64
	staleAfter int64
	now        func() time.Time // nil: time.Now, read through time.Since
	base       time.Time

	keys   *table[auth.Key]
	neg    *table[struct{}]
	orgTab *table[bool]

	// inv orders inserts (read-locked) against invalidations (locked). An
	// invalidation bumps gen and notes what it concerns in recent; a store
	// read overtaken by one that concerns it is neither cached nor
	// answered, but repeated.
	inv    sync.RWMutex
	gen    atomic.Uint64    // invalidations so far; written under inv
	recent [64]invalidation // the latest invalidations by gen; under inv

	keyFlights flights[auth.Key]
	orgFlights flights[bool]

	healthyUntil atomic.Int64 // cache clock; math.MinInt64 when unhealthy

	// ids is the membership filter of existing public ids.
	ids    *filter
	lister auth.PublicIDLister

	misses, orgMisses, coalesced, errs, invalidations, flushes, reads, rejects atomic.Uint64
}

// invalidation is what one invalidation concerned.
type invalidation struct {
	keyID, orgID, publicID string
	all                    bool
}

var (
	_ auth.Store        = (*Cache)(nil)
	_ auth.OrgChecker   = (*Cache)(nil)
	_ auth.Hinter       = (*Cache)(nil)
	_ auth.KeyOrgLookup = (*Cache)(nil)
)

// New returns a cache in front of opts.Store and opts.Orgs. It is an error
// if either is nil or a bound or duration is negative. The feed starts
// unhealthy: until something calls [Cache.MarkFeedHealthy], entries are
// re-read after StaleAfter.
func New(opts Options) (*Cache, error) {
	if opts.Store == nil {
		return nil, errors.New("keycache: Options.Store is required")
	}
	if opts.Orgs == nil {
		return nil, errors.New("keycache: Options.Orgs is required")
	}
	if opts.MaxEntries < 0 || opts.MaxNegative < 0 || opts.MaxOrgs < 0 {
		return nil, errors.New("keycache: negative MaxEntries, MaxNegative or MaxOrgs")
	}
	if opts.TTL < 0 || opts.StaleAfter < 0 || opts.NegativeTTL < 0 {
		return nil, errors.New("keycache: negative TTL, StaleAfter or NegativeTTL")
	}
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	defDur := func(v, d time.Duration) int64 {
		if v == 0 {
			return int64(d)
		}
		return int64(v)
	}
	c := &Cache{
		store:      opts.Store,
		orgs:       opts.Orgs,
		ttl:        defDur(opts.TTL, DefaultTTL),
		negTTL:     defDur(opts.NegativeTTL, DefaultNegativeTTL),
		staleAfter: defDur(opts.StaleAfter, DefaultStaleAfter),
		now:        opts.Now,
		keys:       newTable[auth.Key](def(opts.MaxEntries, DefaultMaxEntries), true),
		neg:        newTable[struct{}](def(opts.MaxNegative, DefaultMaxNegative), false),
		orgTab:     newTable[bool](def(opts.MaxOrgs, DefaultMaxOrgs), false),
		ids:        newFilter(),
		lister:     opts.PublicIDs,
	}
	if c.lister == nil {
		c.lister, _ = opts.Store.(auth.PublicIDLister)
	}
	if c.now == nil {
		c.base = time.Now()
	} else {
		c.base = c.now()
	}
	c.healthyUntil.Store(math.MinInt64)
	return c, nil
}

// clock returns the cache clock: nanoseconds since New. Without an injected
// clock it reads only the monotonic clock (time.Since), which costs about
// half of time.Now.
func (c *Cache) clock() int64 {
	if c.now == nil {
		return int64(time.Since(c.base))
	}
	return int64(c.now().Sub(c.base))
}

// minLoaded returns the load time at or below which entries are stale at now:
// none while the feed is healthy, now-StaleAfter otherwise.
func (c *Cache) minLoaded(now int64) int64 {
	if now < c.healthyUntil.Load() {
		return math.MinInt64
	}
	return now - c.staleAfter
}

// LookupKey returns the key with the public id, or [auth.ErrNotFound], from
// the cache when it holds a usable entry (no I/O, no allocation) and from
// the store otherwise. Store errors other than ErrNotFound are returned
// wrapped and are not cached. Like a store, it fails once ctx is done, hit
// or not.
//
// The returned Key shares its pointer fields (ExpiresAt, LastUsedAt,
// RevokedAt) with the cache: read them, never write through them.
// LastUsedAt is as of the store read (touches are not invalidations).
func (c *Cache) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	if err := ctx.Err(); err != nil {
		return auth.Key{}, fmt.Errorf("keycache: look up key %s: %w", publicID, err)
	}
	now := c.clock()
	minLoaded := c.minLoaded(now)
	k, st := c.keys.get(publicID, now, minLoaded)
	if st == fresh {
		return k, nil
	}
	return c.lookupMiss(ctx, publicID, st, now, minLoaded)
}

// LookupKeyOrg is [Cache.LookupKey] followed, on a hit, by the cached
// answer of [Cache.APIEnabled] for the key's organization, both read at one
// reading of the clock (auth's middleware uses it through
// [auth.KeyOrgLookup]). known is false when the key or the organization
// was not a usable cache entry; the caller then asks APIEnabled, which
// reads the store.
func (c *Cache) LookupKeyOrg(ctx context.Context, publicID string) (k auth.Key, apiEnabled, known bool, err error) {
	if err := ctx.Err(); err != nil {
		return auth.Key{}, false, false, fmt.Errorf("keycache: look up key %s: %w", publicID, err)
	}
	now := c.clock()
	minLoaded := c.minLoaded(now)
	k, e, o, st := c.keys.getOrg(publicID, now, minLoaded)
	if st == fresh {
		if o != nil {
			return k, o.on, true, nil
		}
		on, loaded, expiry, ost := c.orgTab.getAnswer(k.OrganizationID, now, minLoaded)
		if ost != fresh {
			return k, false, false, nil
		}
		// Keep the answer in the key's entry for the next hits. An
		// invalidation of the key or organization since e was found has
		// removed e (entries are never reinserted), so the copy is then
		// never read.
		e.orgAns.Store(&orgAnswer{on: on, loaded: loaded, expiry: expiry})
		return k, on, true, nil
	}
	k, err = c.lookupMiss(ctx, publicID, st, now, minLoaded)
	return k, false, false, err
}

// lookupMiss answers a key lookup that found no usable entry (st) at the
// cache clock now: from a negative entry, or from the store.
func (c *Cache) lookupMiss(ctx context.Context, publicID string, st int, now, minLoaded int64) (auth.Key, error) {
	if st == absent {
		if _, nst := c.neg.get(publicID, now, minLoaded); nst == fresh {
			return auth.Key{}, auth.ErrNotFound
		}
	}
	c.misses.Add(1)
	k, err := load(ctx, c, &c.keyFlights, publicID, c.readKey, c.commitKey)
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, auth.ErrNotFound):
		return auth.Key{}, auth.ErrNotFound
	}
	return auth.Key{}, fmt.Errorf("keycache: look up key %s: %w", publicID, err)
}

// readKey reads a key from the store, counted in Stats.Reads.
func (c *Cache) readKey(ctx context.Context, publicID string) (auth.Key, error) {
	c.reads.Add(1)
	return c.store.LookupKey(ctx, publicID)
}

// commitKey caches the answer of a store read of the public id, unless an
// invalidation that concerns it happened since the read began (then the
// read is repeated). The caller holds c.inv read-locked.
func (c *Cache) commitKey(publicID string, k auth.Key, err error, r read) bool {
	switch {
	case err == nil:
		if c.changedSince(r.gen, k.ID, k.OrganizationID, "") {
			return false
		}
		c.keys.put(&entry[auth.Key]{key: publicID, id: k.ID, org: k.OrganizationID, val: k, loaded: r.start, expiry: r.start + c.ttl}, r.end)
		c.neg.remove(publicID)
		c.ids.add(publicID) // the store knows it, whatever the filter missed
	case errors.Is(err, auth.ErrNotFound):
		if c.changedSince(r.gen, "", "", publicID) {
			return false
		}
		c.neg.put(&entry[struct{}]{key: publicID, loaded: r.start, expiry: r.start + c.negTTL}, r.end)
		c.keys.remove(publicID)
	}
	return true
}

// APIEnabled reports whether the organization's Developer API module is
// on, from the cache when it holds a usable answer (no I/O, no allocation)
// and from opts.Orgs otherwise. Errors are returned wrapped and are not
// cached.
func (c *Cache) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("keycache: organization %s: %w", orgID, err)
	}
	now := c.clock()
	if on, st := c.orgTab.get(orgID, now, c.minLoaded(now)); st == fresh {
		return on, nil
	}
	c.orgMisses.Add(1)
	on, err := load(ctx, c, &c.orgFlights, orgID, c.orgs.APIEnabled, c.commitOrg)
	if err != nil {
		return false, fmt.Errorf("keycache: organization %s: %w", orgID, err)
	}
	return on, nil
}

func (c *Cache) commitOrg(orgID string, on bool, err error, r read) bool {
	if err != nil {
		return true
	}
	if c.changedSince(r.gen, "", orgID, "") {
		return false
	}
	c.orgTab.put(&entry[bool]{key: orgID, val: on, loaded: r.start, expiry: r.start + c.ttl}, r.end)
	return true
}

// changedSince reports whether an invalidation since gen concerns the key
// id, the organization or the public id (created since; a flush concerns
// everything; "" matches only a flush). The caller holds c.inv read-locked.
func (c *Cache) changedSince(gen uint64, keyID, orgID, publicID string) bool {
	cur := c.gen.Load()
	if cur-gen > uint64(len(c.recent)) {
		return true // too many to tell
	}
	for g := gen + 1; g <= cur; g++ {
		r := &c.recent[g%uint64(len(c.recent))]
		if r.all || keyID != "" && r.keyID == keyID || orgID != "" && r.orgID == orgID || publicID != "" && r.publicID == publicID {
			return true
		}
	}
	return false
}

// record notes an invalidation in the recent ring and bumps gen. The caller
// holds c.inv locked.
func (c *Cache) record(keyID, orgID string, all bool) {
	c.recordCreated(keyID, orgID, "", all)
}

func (c *Cache) recordCreated(keyID, orgID, publicID string, all bool) {
	g := c.gen.Load() + 1
	c.recent[g%uint64(len(c.recent))] = invalidation{keyID: keyID, orgID: orgID, publicID: publicID, all: all}
	c.gen.Store(g)
}

// InvalidateKey drops the cached key with the id (a UUID, not the public
// id). Lookups that start after it returns read the store again.
func (c *Cache) InvalidateKey(keyID string) {
	c.inv.Lock()
	c.record(keyID, "", false)
	c.keys.removeID(keyID)
	c.inv.Unlock()
	c.invalidations.Add(1)
}

// InvalidateOrg drops the organization's cached API answer and every
// cached key of the organization (a scan of the cache).
func (c *Cache) InvalidateOrg(orgID string) {
	c.inv.Lock()
	c.record("", orgID, false)
	c.orgTab.remove(orgID)
	c.keys.removeOrg(orgID)
	c.inv.Unlock()
	c.invalidations.Add(1)
}

// Flush drops every entry, negative ones included.
func (c *Cache) Flush() {
	c.inv.Lock()
	c.record("", "", true)
	c.keys.clear()
	c.neg.clear()
	c.orgTab.clear()
	c.inv.Unlock()
	c.flushes.Add(1)
}

// Created records that a key with the public id now exists: it joins the
// membership filter, and a "not found" remembered for it (or being read)
// is dropped. Call it (through [Cache.Apply] or a feed's Publish) after the
// key's store write returned.
func (c *Cache) Created(publicID string) {
	c.inv.Lock()
	c.recordCreated("", "", publicID, false)
	c.ids.add(publicID)
	c.neg.remove(publicID)
	c.inv.Unlock()
}

// Apply applies a change: [Cache.Created] when ch.PublicID is set, then
// [Cache.InvalidateKey] when ch.KeyID is set, else [Cache.InvalidateOrg]
// when ch.OrgID is set, else (unless PublicID was set) [Cache.Flush].
func (c *Cache) Apply(ch Change) {
	if ch.PublicID != "" {
		c.Created(ch.PublicID)
		if ch.KeyID == "" && ch.OrgID == "" {
			return
		}
	}
	switch {
	case ch.KeyID != "":
		c.InvalidateKey(ch.KeyID)
	case ch.OrgID != "":
		c.InvalidateOrg(ch.OrgID)
	default:
		c.Flush()
	}
}

// MarkFeedHealthy tells the cache that its invalidation feed delivers
// changes and will keep doing so for lease: until then entries live up to
// TTL. A feed renews the lease after each successful read; when it stops
// renewing (an outage, a stuck read, a stopped feed), the lease runs out
// and entries older than StaleAfter are read again. A lease <= 0 is
// [Cache.MarkFeedUnhealthy].
func (c *Cache) MarkFeedHealthy(lease time.Duration) {
	if lease <= 0 {
		c.MarkFeedUnhealthy()
		return
	}
	c.healthyUntil.Store(c.clock() + int64(lease))
}

// MarkFeedUnhealthy ends the feed's lease at once: entries older than
// StaleAfter are read again.
func (c *Cache) MarkFeedUnhealthy() { c.healthyUntil.Store(math.MinInt64) }

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	k, n, o := c.keys.counts(), c.neg.counts(), c.orgTab.counts()
	ids, bytes := c.ids.size()
	return Stats{
		Hits:            k.hits,
		NegativeHits:    n.hits,
		Misses:          c.misses.Load(),
		Stale:           k.stale + n.stale,
		OrgHits:         o.hits + k.orgHits,
		OrgMisses:       c.orgMisses.Load(),
		Coalesced:       c.coalesced.Load(),
		Errors:          c.errs.Load(),
		Invalidations:   c.invalidations.Load(),
		Flushes:         c.flushes.Load(),
		Evictions:       k.evictions + n.evictions + o.evictions,
		Entries:         k.entries,
		NegativeEntries: n.entries,
		OrgEntries:      o.entries,
		FeedHealthy:     c.clock() < c.healthyUntil.Load(),
		Reads:           c.reads.Load(),
		FilterRejects:   c.rejects.Load(),
		FilterIDs:       ids,
		FilterBytes:     bytes,
		FilterComplete:  c.ids.complete.Load(),
	}
}

// maxReads bounds the store reads of one miss when every read is overtaken
// by an invalidation that concerns it.
const maxReads = 8

// read describes one store read for a commit function: the gen and cache
// clock when it began and the cache clock when it ended.
type read struct {
	gen        uint64
	start, end int64
}

// flight is the store read in progress for one id, shared by the lookups
// that miss while it runs.
type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
}

type flights[V any] struct {
	mu sync.Mutex
	m  map[string]*flight[V]
}

// load returns the store's answer for id. At most one read per id runs at a
// time and concurrent misses share it. A read that an invalidation of the
// same key, organization or everything overtook is repeated before anyone
// gets its answer, so a lookup that starts after an invalidation never gets
// an answer read before it; and since reads of one id never overlap,
// answers for an id never go back in time. commit caches the answer (with
// fl.mu held and c.inv read-locked) and reports false when it was overtaken.
func load[V any](ctx context.Context, c *Cache, fl *flights[V], id string,
	readStore func(context.Context, string) (V, error),
	commit func(id string, v V, err error, r read) bool,
) (V, error) {
	for {
		fl.mu.Lock()
		if f := fl.m[id]; f != nil {
			fl.mu.Unlock()
			c.coalesced.Add(1)
			select {
			case <-f.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			if f.err != nil && ctx.Err() == nil &&
				(errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				continue // the sharing lookup's request ended, not ours
			}
			return f.val, f.err
		}
		f := &flight[V]{done: make(chan struct{})}
		if fl.m == nil {
			fl.m = make(map[string]*flight[V])
		}
		fl.m[id] = f
		fl.mu.Unlock()
		lead(ctx, c, fl, f, id, readStore, commit)
		return f.val, f.err
	}
}

// lead runs the flight's reads and releases the lookups sharing it, even if
// the store panics.
func lead[V any](ctx context.Context, c *Cache, fl *flights[V], f *flight[V], id string,
	readStore func(context.Context, string) (V, error),
	commit func(id string, v V, err error, r read) bool,
) {
	defer func() {
		fl.mu.Lock()
		if fl.m[id] == f {
			delete(fl.m, id)
		}
		fl.mu.Unlock()
		close(f.done)
	}()
	f.err = errors.New("keycache: store lookup panicked")
	for attempt := 1; ; attempt++ {
		r := read{gen: c.gen.Load(), start: c.clock()}
		v, err := readStore(ctx, id)
		r.end = c.clock()
		fl.mu.Lock()
		c.inv.RLock()
		ok := commit(id, v, err, r)
		if ok {
			delete(fl.m, id) // later lookups read again
		}
		c.inv.RUnlock()
		fl.mu.Unlock()
		if err != nil && !errors.Is(err, auth.ErrNotFound) {
			c.errs.Add(1)
		}
		if ok {
			f.val, f.err = v, err
			return
		}
		if attempt == maxReads {
			f.err = fmt.Errorf("keycache: %s changed during %d consecutive store reads", id, maxReads)
			return
		}
	}
}
