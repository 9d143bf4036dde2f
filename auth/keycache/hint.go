package keycache

import (
	"context"
	"fmt"

	"gatehouse.dev/auth"
)

// KeyHint tells the authentication middleware, without I/O, whether a
// lookup of the public id needs an unvouched store read ([auth.Hinter]):
//
//   - [auth.KeyPresent]: the id is in the membership filter (it exists, or
//     rarely a false positive, about 1 in 2,000 random ids) or cached;
//   - [auth.KeyAbsent]: a "not found" for it is cached, or the filter is
//     complete and the invalidation feed healthy (every "key created"
//     change reaches the filter) and the id is not in it;
//   - [auth.KeyUnknown]: otherwise (no filter loaded, a reload running, or
//     the feed unhealthy or absent): the read is guarded by the
//     middleware's throttle.
//
// A key created on another pod is therefore refused on this one (401) until
// the feed has brought its "key created" change, as revocations take the
// feed's delay to arrive (typically well under a millisecond).
func (c *Cache) KeyHint(publicID string) auth.KeyHint {
	if c.ids.has(publicID) {
		return auth.KeyPresent
	}
	now := c.clock()
	minLoaded := c.minLoaded(now)
	if c.keys.has(publicID, now, minLoaded) {
		return auth.KeyPresent
	}
	if c.neg.has(publicID, now, minLoaded) {
		return auth.KeyAbsent
	}
	if c.ids.complete.Load() && now < c.healthyUntil.Load() {
		c.rejects.Add(1)
		return auth.KeyAbsent
	}
	return auth.KeyUnknown
}

// LoadFilter (re)builds the membership filter from Options.PublicIDs: one
// listing of every public id (about 4 bytes of filter per id). Ids
// [Cache.Created] adds meanwhile are kept. Until it returns nil the filter
// is incomplete and answers no [auth.KeyAbsent]. Call it at startup (so
// that keys that exist are vouched for from the first request); an
// invalidation feed calls it again whenever it may have missed "key
// created" changes (gatehouse.dev/auth/keycache/redisfeed does, after each
// resync). Without a lister it does nothing.
func (c *Cache) LoadFilter(ctx context.Context) error {
	if c.lister == nil {
		return nil
	}
	c.ids.beginReload()
	var ids []string
	err := c.lister.ListPublicIDs(ctx, func(id string) { ids = append(ids, id) })
	c.ids.endReload(ids, err == nil)
	if err != nil {
		return fmt.Errorf("keycache: load the public id filter: %w", err)
	}
	return nil
}
