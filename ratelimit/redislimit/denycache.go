package redislimit

import (
	"hash/maphash"
	"sync"

	"gatehouse.dev/ratelimit"
)

// denyCache remembers, per Redis key, that Redis answered "a cost of c is
// limited until T", so that this pod refuses costs of c or more of that
// key locally until T (a TAT only grows but with time, so a bigger cost
// cannot fit earlier); cheaper costs still ask Redis. Entries carry the
// limit they were made with; a different limit (a key whose limit an admin
// changed) ignores them. The cache is sharded and bounded; expired entries
// leave on later inserts.
type denyCache struct {
	seed     maphash.Seed
	shards   [16]denyShard
	perShard int
}

type denyShard struct {
	mu sync.Mutex
	m  map[string]denial
	_  [48]byte
}

type denial struct {
	limit   ratelimit.Limit
	cost    int   // the denied cost (at least 1)
	until   int64 // monotonic ns: when the next event will be allowed
	resetAt int64 // monotonic ns: when the bucket is full
}

func newDenyCache(size int) *denyCache {
	c := &denyCache{seed: maphash.MakeSeed(), perShard: max(size/16, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]denial)
	}
	return c
}

func (c *denyCache) shard(key string) *denyShard {
	return &c.shards[maphash.String(c.seed, key)&15]
}

// get returns the denial of key under limit l still in force at now that
// refuses cost too.
func (c *denyCache) get(key string, l ratelimit.Limit, cost int, now int64) (denial, bool) {
	s := c.shard(key)
	s.mu.Lock()
	d, ok := s.m[key]
	if ok && (d.limit != l || d.until <= now) {
		delete(s.m, key)
		ok = false
	}
	s.mu.Unlock()
	return d, ok && cost >= d.cost
}

// put records a denial of key.
func (c *denyCache) put(key string, d denial, now int64) {
	s := c.shard(key)
	s.mu.Lock()
	if _, exists := s.m[key]; !exists && len(s.m) >= c.perShard {
		// Make room: drop the expired entries among a sample, or else
		// one entry (losing it only costs a Redis call).
		dropped := false
		seen := 0
		var victim string
		for k, e := range s.m {
			if e.until <= now {
				delete(s.m, k)
				dropped = true
			} else {
				victim = k
			}
			if seen++; seen >= 8 {
				break
			}
		}
		if !dropped {
			delete(s.m, victim)
		}
	}
	s.m[key] = d
	s.mu.Unlock()
}

func (c *denyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
