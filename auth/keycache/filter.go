package keycache

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Bloom filter parameters: 16 bits and 11 probes per id at full capacity,
// a false-positive rate of about 0.05% per layer.
const (
	filterBitsPerID = 16
	filterProbes    = 11
	minFilterIDs    = 4096
)

// bloom is one fixed-size layer of the membership filter. Bits are set
// atomically, so lookups take no lock.
type bloom struct {
	words    []atomic.Uint64
	mask     uint64 // bits-1; the bit count is a power of two
	capacity int64
	n        atomic.Int64 // ids added
}

func newBloom(capacity int) *bloom {
	capacity = max(capacity, minFilterIDs)
	nbits := uint64(1) << bits.Len64(uint64(capacity*filterBitsPerID)-1)
	return &bloom{words: make([]atomic.Uint64, nbits/64), mask: nbits - 1, capacity: int64(capacity)}
}

// probes derives the probe positions from two 64-bit hashes (double
// hashing).
func (b *bloom) add(h1, h2 uint64) {
	for i := range uint64(filterProbes) {
		p := (h1 + i*h2) & b.mask
		b.words[p/64].Or(1 << (p % 64))
	}
	b.n.Add(1)
}

func (b *bloom) has(h1, h2 uint64) bool {
	for i := range uint64(filterProbes) {
		p := (h1 + i*h2) & b.mask
		if b.words[p/64].Load()&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

// filter is the set of existing public ids: a Bloom filter (no false
// negatives, rare false positives) that only grows. A full layer gets a
// bigger one beside it; a reload replaces all layers by one sized for what
// the store holds, replaying the ids added while the reload ran.
type filter struct {
	seed1, seed2 maphash.Seed
	layers       atomic.Pointer[[]*bloom]

	mu       sync.Mutex // serializes adds and reloads' swaps
	loading  int        // reloads in progress; while > 0, adds are journaled
	journal  []string
	reloadMu sync.Mutex // one reload at a time
	// complete reports that the last reload succeeded and none runs.
	complete atomic.Bool
}

func newFilter() *filter {
	f := &filter{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
	f.layers.Store(&[]*bloom{newBloom(minFilterIDs)})
	return f
}

func (f *filter) hash(id string) (uint64, uint64) {
	return maphash.String(f.seed1, id), maphash.String(f.seed2, id) | 1
}

// has reports whether id may be in the set (false: certainly not).
func (f *filter) has(id string) bool {
	h1, h2 := f.hash(id)
	for _, b := range *f.layers.Load() {
		if b.has(h1, h2) {
			return true
		}
	}
	return false
}

// add puts id in the set.
func (f *filter) add(id string) {
	h1, h2 := f.hash(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loading > 0 {
		f.journal = append(f.journal, id)
	}
	ls := *f.layers.Load()
	for _, b := range ls {
		if b.has(h1, h2) {
			return // there already (or a false positive: answered as present anyway)
		}
	}
	last := ls[len(ls)-1]
	if last.n.Load() >= last.capacity {
		last = newBloom(int(2 * last.capacity))
		next := append(ls[:len(ls):len(ls)], last)
		f.layers.Store(&next)
	}
	last.add(h1, h2)
}

// beginReload starts journaling adds; endReload swaps in fresh (built from
// a store listing that began after beginReload) plus the journal.
func (f *filter) beginReload() {
	f.reloadMu.Lock()
	f.complete.Store(false)
	f.mu.Lock()
	f.loading++
	f.mu.Unlock()
}

func (f *filter) endReload(ids []string, ok bool) {
	defer f.reloadMu.Unlock()
	var fresh *bloom
	if ok {
		fresh = newBloom(2 * len(ids))
		for _, id := range ids {
			fresh.add(f.hash(id))
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loading--
	if ok {
		for _, id := range f.journal {
			fresh.add(f.hash(id))
		}
		f.layers.Store(&[]*bloom{fresh})
	}
	if f.loading == 0 {
		f.journal = nil
	}
	f.complete.Store(ok)
}

// size returns the ids added (with repeats) since the last reload, and the
// filter's memory in bytes.
func (f *filter) size() (ids int64, bytes int) {
	for _, b := range *f.layers.Load() {
		ids += b.n.Load()
		bytes += len(b.words) * 8
	}
	return ids, bytes
}
