package keycache

import (
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// entry is one cached answer. Its fields other than ref never change after
// it is inserted, so readers holding the shard's read lock may copy val.
type entry[V any] struct {
	key    string // lookup key: public id or organization id
	id     string // key id (keys table only), for invalidation by key id
	org    string // organization id (keys table only)
	val    V
	loaded int64 // cache clock when the store read began
	expiry int64 // cache clock after which the entry is not used
	slot   int   // index in the shard's ring
	ref    atomic.Bool
	// org is the organization's answer as found in the organizations'
	// table (keys table only; nil until a lookup copies it here): a hit
	// then needs one lock. Dropping the organization's entry drops every
	// key entry of the organization too, so this copy never outlives an
	// invalidation; it keeps the loaded time and expiry of the copied
	// entry.
	orgAns atomic.Pointer[orgAnswer]
}

// orgAnswer is a copy of an organizations' table entry.
type orgAnswer struct {
	on             bool
	loaded, expiry int64
}

// shard is an independently locked part of a table: a map for lookups and
// a ring of the same entries for clock (second-chance) eviction.
type shard[V any] struct {
	mu   sync.RWMutex
	m    map[string]*entry[V]
	byID map[string]*entry[V] // key id → entry; nil for tables without ids
	ring []*entry[V]
	hand int

	hits, stale, evictions atomic.Uint64
	orgHits                atomic.Uint64 // organization answers found in key entries
	_                      [64]byte      // keep hot counters of neighbours apart
}

// table is a bounded map from string to V split into shards by a seeded
// hash. A hit takes one read lock and allocates nothing.
type table[V any] struct {
	seed     maphash.Seed
	shards   []shard[V]
	mask     uint64
	perShard int
	withIDs  bool
}

// newTable returns a table of at most limit entries (rounded up to a
// multiple of the shard count).
func newTable[V any](limit int, withIDs bool) *table[V] {
	n := 1 << bits.Len(uint(max(16, 4*runtime.GOMAXPROCS(0))-1))
	for n > 1 && limit/n < 64 {
		n /= 2
	}
	t := &table[V]{
		seed:     maphash.MakeSeed(),
		shards:   make([]shard[V], n),
		mask:     uint64(n - 1),
		perShard: (limit + n - 1) / n,
		withIDs:  withIDs,
	}
	for i := range t.shards {
		t.shards[i].reset(withIDs)
	}
	return t
}

func (s *shard[V]) reset(withIDs bool) {
	s.m = make(map[string]*entry[V])
	s.byID = nil
	if withIDs {
		s.byID = make(map[string]*entry[V])
	}
	s.ring = nil
	s.hand = 0
}

func (t *table[V]) shard(key string) *shard[V] {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// lookup results.
const (
	absent = iota
	fresh
	expired // past its TTL
	stale   // loaded at or before minLoaded (the feed is down)
)

// get returns the value cached for key if it has not expired at now and was
// loaded after minLoaded.
func (t *table[V]) get(key string, now, minLoaded int64) (V, int) {
	s := t.shard(key)
	s.mu.RLock()
	e := s.m[key]
	if e == nil {
		s.mu.RUnlock()
		var zero V
		return zero, absent
	}
	if now >= e.expiry {
		s.mu.RUnlock()
		var zero V
		return zero, expired
	}
	if e.loaded <= minLoaded {
		s.mu.RUnlock()
		s.stale.Add(1)
		var zero V
		return zero, stale
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	v := e.val
	s.mu.RUnlock()
	s.hits.Add(1)
	return v, fresh
}

// getOrg is get of the keys table that also returns the entry and its copy
// of the organization's answer when that is usable at now (nil otherwise,
// and then not counted).
func (t *table[V]) getOrg(key string, now, minLoaded int64) (V, *entry[V], *orgAnswer, int) {
	s := t.shard(key)
	s.mu.RLock()
	e := s.m[key]
	var zero V
	switch {
	case e == nil:
		s.mu.RUnlock()
		return zero, nil, nil, absent
	case now >= e.expiry:
		s.mu.RUnlock()
		return zero, nil, nil, expired
	case e.loaded <= minLoaded:
		s.mu.RUnlock()
		s.stale.Add(1)
		return zero, nil, nil, stale
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	v := e.val
	o := e.orgAns.Load()
	s.mu.RUnlock()
	s.hits.Add(1)
	if o != nil && now < o.expiry && o.loaded > minLoaded {
		s.orgHits.Add(1)
	} else {
		o = nil
	}
	return v, e, o, fresh
}

// getAnswer is get that also returns the entry's load time and expiry.
func (t *table[V]) getAnswer(key string, now, minLoaded int64) (v V, loaded, expiry int64, st int) {
	s := t.shard(key)
	s.mu.RLock()
	e := s.m[key]
	switch {
	case e == nil:
		s.mu.RUnlock()
		return v, 0, 0, absent
	case now >= e.expiry:
		s.mu.RUnlock()
		return v, 0, 0, expired
	case e.loaded <= minLoaded:
		s.mu.RUnlock()
		s.stale.Add(1)
		return v, 0, 0, stale
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	v, loaded, expiry = e.val, e.loaded, e.expiry
	s.mu.RUnlock()
	s.hits.Add(1)
	return v, loaded, expiry, fresh
}

// put inserts e, replacing any entry of the same key; in a full shard it
// first evicts one entry by the clock algorithm (expired entries and those
// not used since the hand last passed go first). now is the cache clock.
func (t *table[V]) put(e *entry[V], now int64) {
	s := t.shard(e.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[e.key]; old != nil {
		s.unlink(old)
	}
	if len(s.ring) >= t.perShard {
		s.evict(now)
	}
	e.slot = len(s.ring)
	s.ring = append(s.ring, e)
	s.m[e.key] = e
	if s.byID != nil && e.id != "" {
		s.byID[e.id] = e
	}
}

// evict removes one entry. The caller holds s.mu.
func (s *shard[V]) evict(now int64) {
	for {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		if e.ref.Load() && now < e.expiry {
			e.ref.Store(false)
			s.hand++
			continue
		}
		s.unlink(e) // moves the last entry into this slot; the hand stays
		s.evictions.Add(1)
		return
	}
}

// unlink removes e from the maps and the ring. The caller holds s.mu.
func (s *shard[V]) unlink(e *entry[V]) {
	if s.m[e.key] == e {
		delete(s.m, e.key)
	}
	if s.byID != nil && e.id != "" && s.byID[e.id] == e {
		delete(s.byID, e.id)
	}
	last := len(s.ring) - 1
	if e.slot <= last && s.ring[e.slot] == e {
		moved := s.ring[last]
		s.ring[e.slot] = moved
		moved.slot = e.slot
		s.ring[last] = nil
		s.ring = s.ring[:last]
	}
}

// remove drops the entry of key, if any.
func (t *table[V]) remove(key string) {
	s := t.shard(key)
	s.mu.Lock()
	if e := s.m[key]; e != nil {
		s.unlink(e)
	}
	s.mu.Unlock()
}

// removeID drops the entry with the key id. Entries are sharded by their
// lookup key, so every shard's id index is consulted.
func (t *table[V]) removeID(id string) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		if e := s.byID[id]; e != nil {
			s.unlink(e)
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// removeOrg drops every entry of the organization (a scan of the table).
func (t *table[V]) removeOrg(org string) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for j := 0; j < len(s.ring); {
			if e := s.ring[j]; e.org == org {
				s.unlink(e) // moves another entry into slot j
				n++
				continue
			}
			j++
		}
		s.mu.Unlock()
	}
	return n
}

// clear drops every entry.
func (t *table[V]) clear() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.reset(t.withIDs)
		s.mu.Unlock()
	}
}

// counts sums the shards' counters and sizes.
type counts struct {
	hits, stale, evictions, orgHits uint64
	entries                         int
}

func (t *table[V]) counts() counts {
	var c counts
	for i := range t.shards {
		s := &t.shards[i]
		c.hits += s.hits.Load()
		c.stale += s.stale.Load()
		c.evictions += s.evictions.Load()
		c.orgHits += s.orgHits.Load()
		s.mu.RLock()
		c.entries += len(s.m)
		s.mu.RUnlock()
	}
	return c
}

// has reports whether key has an entry usable at now, without counting a
// hit or copying the value.
func (t *table[V]) has(key string, now, minLoaded int64) bool {
	s := t.shard(key)
	s.mu.RLock()
	e := s.m[key]
	ok := e != nil && now < e.expiry && e.loaded > minLoaded
	s.mu.RUnlock()
	return ok
}
