// Package redisfeed propagates API key and organization changes between
// pods through a Redis Stream, so that every pod's [keycache.Cache] drops
// what changed within milliseconds.
//
// The pod that changes a key (revocation, scopes, limit, expiry) or an
// organization's API switch calls [Feed.Publish] after the store write:
// Publish applies the change to the local cache at once, so that pod
// refuses a revoked key on its very next request, and appends it to the
// stream (XADD … MAXLEN ~ MaxLen). Every pod runs [Feed.Run], which reads
// the stream with XREAD BLOCK from the last entry it read and applies other
// pods' changes to its cache. With the admin API:
//
//	feed, _ := redisfeed.New(redisfeed.Options{Client: rdb, Cache: cache})
//	adminOpts.OnKeyChange = func(ctx context.Context, orgID, keyID string) {
//		if err := feed.Publish(ctx, keycache.Change{OrgID: orgID, KeyID: keyID}); err != nil {
//			logger.WarnContext(ctx, "key change not propagated yet", "err", err)
//		}
//	}
//	g.Go(func() error { return feed.Run(ctx) })
//
// # Why a stream
//
// Unlike pub/sub, a stream lets a pod tell that it missed something. Run
// drops the whole cache when it starts, when it reads again after an error
// (it may have missed entries meanwhile), and when entries it had not read
// yet were trimmed or deleted (checked with XINFO STREAM after each read
// that returned entries: on Redis 7 and later exactly, by comparing the
// entries read with the stream's entries-added count whenever the pod has
// caught up; before, conservatively, by comparing its position with the
// stream's first entry).
//
// # When Redis is down
//
// While reads fail, Run marks the cache unhealthy, and the cache re-reads
// any entry older than its StaleAfter (default 5 s) from the store: pods
// keep serving keys from the store, refuse keys revoked through themselves
// at once and keys revoked elsewhere within StaleAfter. Each successful
// read renews a lease of 3×Block (default 3 s), so a read that hangs
// without an error also ends the TTL regime. A Publish whose XADD fails is
// kept and appended by Run when Redis answers again. Run logs once when the
// feed goes down and once when it is back (and has dropped the cache).
//
// The stream's key defaults to "{gatehouse}:keycache"; the hash tag keeps
// it and related keys on one slot of a Redis Cluster. Any
// redis.UniversalClient works.
package redisfeed
