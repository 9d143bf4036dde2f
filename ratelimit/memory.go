package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash/maphash"
	"math/bits"
	"runtime"
	"strings"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of keys a [Memory] limiter keeps state for
// when [MemoryOptions].MaxKeys is zero.
const DefaultMaxKeys = 1 << 18

// maxInlineKey is the longest key stored as it is; longer keys are stored as
// their SHA-256 digest, so one entry never holds more than this many bytes of
// key.
const maxInlineKey = 64

// sweepSample is how many entries an insert into a full shard examines to
// find idle keys (or else the entry closest to full) to drop.
const sweepSample = 32

// MemoryOptions configures [NewMemory]. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock. Nil means time.Now. Only differences between its
	// readings matter (the monotonic clock when it has one).
	Now func() time.Time
	// Shards is the number of independently locked parts the key space is
	// split into, rounded up to a power of two. Zero means the larger of 64
	// and 4×GOMAXPROCS, so that cores rarely wait on each other.
	Shards int
	// MaxKeys bounds the number of keys with state, and so the memory used:
	// at most MaxKeys × (about 60 bytes + the key, at most 64 bytes). Zero
	// means [DefaultMaxKeys]. A new key that would exceed the bound first
	// drops idle keys (whose bucket is full again, which is the same as no
	// state); if a sample of the shard finds none, the key closest to full is
	// dropped, which gives that key a fresh bucket early.
	MaxKeys int
}

// Memory is the in-process GCRA limiter: exact for one process, with no I/O
// and no background goroutine. Across several pods each pod enforces the
// full limit on its own; use gatehouse.dev/ratelimit/redislimit for one
// limit shared by all pods.
//
// State is one int64 per key in a map split into shards by a seeded hash of
// the key, each shard with its own mutex. A warm key costs one lock and two
// map operations, with no allocation for keys up to 64 bytes. Memory is safe
// for concurrent use.
type Memory struct {
	now      func() time.Time // nil: time.Now, read through time.Since
	base     time.Time
	seed     maphash.Seed
	shards   []shard
	mask     uint64
	perShard int
}

// shard is one independently locked part of a [Memory], padded to its own
// cache line.
type shard struct {
	mu   sync.Mutex
	tats map[string]int64
	_    [48]byte
}

var _ Limiter = (*Memory)(nil)
var _ Peeker = (*Memory)(nil)

// NewMemory returns an in-process limiter. It fails only for negative
// options.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if opts.Shards < 0 {
		return nil, errors.New("ratelimit: MemoryOptions.Shards must not be negative")
	}
	if opts.MaxKeys < 0 {
		return nil, errors.New("ratelimit: MemoryOptions.MaxKeys must not be negative")
	}
	n := opts.Shards
	if n == 0 {
		n = max(64, 4*runtime.GOMAXPROCS(0))
	}
	maxKeys := opts.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	n = 1 << bits.Len(uint(n-1)) // round up to a power of two
	for n > 1 && n > maxKeys {
		n /= 2
	}
	m := &Memory{
		now:      opts.Now,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		perShard: maxKeys / n,
	}
	if m.now == nil {
		m.base = time.Now()
	} else {
		m.base = m.now()
	}
	for i := range m.shards {
		m.shards[i].tats = make(map[string]int64)
	}
	return m, nil
}

// clock returns the limiter's clock: nanoseconds since NewMemory. Without
// an injected clock it reads only the monotonic clock (time.Since), which
// costs about half of time.Now.
func (m *Memory) clock() int64 {
	if m.now == nil {
		return int64(time.Since(m.base))
	}
	return int64(m.now().Sub(m.base))
}

// Allow records one event of key if it fits in l. ctx is not used: Memory
// does no I/O. The only error is one wrapping [ErrInvalidLimit].
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Result, error) {
	e, err := l.emission()
	if err != nil {
		return Result{}, err
	}
	k := storedKey(key)
	now := m.clock()
	s := &m.shards[maphash.String(m.seed, k)&m.mask]
	s.mu.Lock()
	tat, found := s.tats[k]
	res, newTAT := allowAt(l, e, tat, found, now)
	if res.Allowed {
		if found {
			s.tats[k] = newTAT
		} else {
			s.insert(k, newTAT, now, m.perShard)
		}
	}
	s.mu.Unlock()
	return res, nil
}

// Peek reports what Allow would answer for key now without recording
// anything (see [Peeker]).
func (m *Memory) Peek(_ context.Context, key string, l Limit) (Result, error) {
	e, err := l.emission()
	if err != nil {
		return Result{}, err
	}
	k := storedKey(key)
	now := m.clock()
	s := &m.shards[maphash.String(m.seed, k)&m.mask]
	s.mu.Lock()
	tat, found := s.tats[k]
	s.mu.Unlock()
	return peekAt(l, e, tat, found, now), nil
}

// Len returns the number of keys holding state, idle ones included until
// they are dropped.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}

// storedKey returns the map key of key: key itself when short, otherwise a
// marker byte and its SHA-256 digest. A short key cannot collide with a
// digest unless someone finds a SHA-256 preimage.
func storedKey(key string) string {
	if len(key) <= maxInlineKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\xff" + string(sum[:])
}

// insert adds a key with no state yet. It first makes room: in a full shard
// it drops the idle keys among a sample, or else the sampled key closest to
// full; otherwise it drops the idle keys among a couple of entries, so idle
// keys leave without a sweeper goroutine. Called with s.mu held.
func (s *shard) insert(k string, tat, now int64, capacity int) {
	if len(s.tats) >= capacity {
		s.evict(now, sweepSample, true)
	} else {
		s.evict(now, 2, false)
	}
	s.tats[strings.Clone(k)] = tat
}

// evict examines up to n entries (Go map iteration starts at a random
// place), deletes the idle ones (TAT at or before now: the bucket is full)
// and, if force is set and none was idle, the one with the smallest TAT.
func (s *shard) evict(now int64, n int, force bool) {
	var (
		removed, haveOldest bool
		oldest              string
		oldTAT              int64
		seen                int
	)
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
			removed = true
		} else if !haveOldest || tat < oldTAT {
			oldest, oldTAT, haveOldest = k, tat, true
		}
		if seen++; seen >= n {
			break
		}
	}
	if force && !removed && haveOldest {
		delete(s.tats, oldest)
	}
}
