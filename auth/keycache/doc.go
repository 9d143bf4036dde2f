// Package keycache verifies API keys without a store round trip per
// request: [Cache] wraps any [auth.Store] and [auth.OrgChecker] and is both
// itself, so it drops into auth.Options:
//
//	c, err := keycache.New(keycache.Options{Store: store, Orgs: store})
//	mw, err := auth.New(auth.Options{Store: c, Orgs: c, Prefix: "joby"})
//
// # What is cached
//
// Keys by public id (at most MaxEntries, clock eviction), "not found" for
// unknown public ids (at most MaxNegative, NegativeTTL, kept apart so that a
// flood of unknown ids never evicts a valid key), and each organization's
// API switch (at most MaxOrgs). Store errors are never cached.
//
// # The public id filter
//
// A membership filter holds every existing public id: [Cache.LoadFilter]
// loads it from Options.PublicIDs (call it at startup), [Cache.Created] (or
// a [Change] with PublicID) adds a new key, and an invalidation feed reloads
// it whenever it may have missed a creation. [Cache.KeyHint] tells the
// authentication middleware (auth.Hinter) what it knows without I/O: an id
// in the filter is looked up (at most one shared store read, then cached);
// an id not in it is refused with no I/O while the feed is healthy and the
// filter complete; otherwise the store is read, and those reads are what
// auth.Options.Throttle limits per client address. So distinct random ids
// cost no store reads while the feed is healthy, and a key that verifies is
// never throttled.
// A cache hit takes one shard read lock, does no I/O and allocates nothing;
// concurrent misses of the same id share one store read.
//
// The middleware checks revocation, expiry and the hash on every request,
// so an entry only has to be as fresh as the store row it copies: expiry
// needs no invalidation, while revocation, scope, limit or expiry changes
// and organization switches do.
//
// # Consistency
//
// Changes reach the cache through [Cache.Apply] (or InvalidateKey,
// InvalidateOrg, Flush). Call it in the process that made the change after
// the store write returned: that process sees the change on its very next
// lookup. Other processes learn about it through an invalidation feed such
// as gatehouse.dev/auth/keycache/redisfeed, whose Publish does both.
//
// Store reads of one id never overlap (concurrent misses share one), and a
// read overtaken by an invalidation of the same key, its organization or
// everything is repeated before anyone gets its answer or it is cached. So
// once a cache has applied a change it never answers with the state before
// it again, and the answers for one id never go back in time. The shared
// property test (internal/proptest), run in process and through Redis,
// checks both.
//
// Staleness is bounded without the feed too. While the feed holds a valid
// lease ([Cache.MarkFeedHealthy], renewed by the feed after every
// successful read) entries live up to TTL (default 5 minutes). Without a
// feed, during an outage, or when the feed stops renewing its lease,
// entries older than StaleAfter (default 5 seconds) are read from the
// store again, so a change made anywhere is seen within StaleAfter (plus
// the lease still running when the feed went quiet).
package keycache
