package audit

import (
	"context"
	"slices"
	"sort"
	"sync"
)

// DefaultMaxKeys is how many keys a [Memory] log holds when
// MemoryOptions.MaxKeys is zero.
const DefaultMaxKeys = 10000

// MemoryOptions configures [NewMemory]. The zero value is usable.
type MemoryOptions struct {
	// Cap is how many entries each key keeps. Zero means [DefaultCap].
	Cap int
	// MaxKeys bounds the number of keys held; writing a new key beyond it
	// evicts the key written least recently. Zero means [DefaultMaxKeys]
	// (about 100 MB in the worst case with the default cap and ~200-byte
	// entries).
	MaxKeys int
}

// Memory is an in-process capped log: per organization and key a ring of
// the newest Cap entries by (Time, RequestID), for at most MaxKeys keys. It
// implements [Writer], [Reader] and [Sink] (Record writes synchronously under
// a mutex, without allocating once a key's ring exists) and is safe for
// concurrent use. It is the embedded default for a single process; pods
// sharing an audit log use the SQL or Redis backends.
type Memory struct {
	cap     int
	maxKeys int

	mu   sync.Mutex
	keys map[memKey]*memRing
	// head is the most recently written ring, head.prev the least recently
	// written one (a circular doubly linked list).
	head *memRing
}

var (
	_ Log  = (*Memory)(nil)
	_ Sink = (*Memory)(nil)
)

type memKey struct{ org, key string }

// memRing holds the entries of one key in ascending (Time, RequestID)
// order: logical index i is buf[(start+i)%len(buf)].
type memRing struct {
	id         memKey
	buf        []Entry // allocated with the first entry kept
	start, n   int
	refused    Refused
	prev, next *memRing
}

// NewMemory returns an empty in-memory log.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Cap <= 0 {
		opts.Cap = DefaultCap
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	return &Memory{cap: opts.Cap, maxKeys: opts.MaxKeys, keys: make(map[memKey]*memRing)}
}

// Cap returns how many entries each key keeps.
func (m *Memory) Cap() int { return m.cap }

// Record stores e at once (counting it in the key's [Refused] when it is
// [Entry.RateLimited]). Entries without KeyID or OrganizationID are
// ignored.
func (m *Memory) Record(e Entry) {
	if e.KeyID == "" || e.OrganizationID == "" {
		return
	}
	e = e.Normalized()
	e.Operations = slices.Clone(e.Operations) // the caller's slice stays its own
	m.mu.Lock()
	m.add(e)
	m.mu.Unlock()
}

// Write stores entries, keeping the newest Cap of each key by (Time,
// RequestID); an entry equal in both to a stored one replaces it. An
// [Entry.RateLimited] entry is counted in the key's [Refused] instead.
// Entries without KeyID or OrganizationID are ignored. It never fails.
func (m *Memory) Write(_ context.Context, entries []Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range entries {
		if entries[i].KeyID == "" || entries[i].OrganizationID == "" {
			continue
		}
		e := entries[i].Normalized()
		e.Operations = slices.Clone(e.Operations)
		m.add(e)
	}
	return nil
}

// Latest returns the newest entries of key keyID of organization orgID,
// newest first, at most Cap; an empty non-nil slice when there are none.
func (m *Memory) Latest(_ context.Context, orgID, keyID string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.keys[memKey{orgID, keyID}]
	if r == nil || r.n == 0 {
		return []Entry{}, nil
	}
	out := make([]Entry, r.n)
	for i := 0; i < r.n; i++ {
		out[i] = r.at(r.n - 1 - i)
	}
	return out, nil
}

// Refused returns the count of key keyID's refused requests; see
// [Refused]. It never fails.
func (m *Memory) Refused(_ context.Context, orgID, keyID string) (Refused, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.keys[memKey{orgID, keyID}]
	if r == nil {
		return Refused{}, nil
	}
	out := r.refused
	if out.LastAt != nil {
		t := *out.LastAt
		out.LastAt = &t
	}
	return out, nil
}

// Len returns the number of keys held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// add inserts e (normalized, with ids) under m.mu.
func (m *Memory) add(e Entry) {
	id := memKey{e.OrganizationID, e.KeyID}
	r := m.keys[id]
	if r == nil {
		if len(m.keys) >= m.maxKeys {
			m.evict()
		}
		r = &memRing{id: id}
		m.keys[id] = r
		m.pushFront(r)
	} else if m.head != r {
		m.unlink(r)
		m.pushFront(r)
	}
	if e.RateLimited() {
		r.refused = r.refused.AddRefused(e)
		return
	}
	if r.buf == nil {
		r.buf = make([]Entry, m.cap)
	}
	r.insert(e)
}

func (m *Memory) evict() {
	if m.head == nil {
		return
	}
	oldest := m.head.prev
	m.unlink(oldest)
	delete(m.keys, oldest.id)
}

func (m *Memory) pushFront(r *memRing) {
	if m.head == nil {
		r.prev, r.next = r, r
	} else {
		r.next = m.head
		r.prev = m.head.prev
		m.head.prev.next = r
		m.head.prev = r
	}
	m.head = r
}

func (m *Memory) unlink(r *memRing) {
	if r.next == r {
		m.head = nil
	} else {
		r.prev.next = r.next
		r.next.prev = r.prev
		if m.head == r {
			m.head = r.next
		}
	}
	r.prev, r.next = nil, nil
}

func (r *memRing) at(i int) Entry { return r.buf[(r.start+i)%len(r.buf)] }

func (r *memRing) set(i int, e Entry) { r.buf[(r.start+i)%len(r.buf)] = e }

// insert puts e at its place in (Time, RequestID) order, dropping the oldest
// entry when the ring is full. The common case, e newer than everything
// held, is O(1).
func (r *memRing) insert(e Entry) {
	size := len(r.buf)
	if r.n == 0 || Less(r.at(r.n-1), e) {
		if r.n < size {
			r.set(r.n, e)
			r.n++
			return
		}
		r.buf[r.start] = e
		r.start = (r.start + 1) % size
		return
	}
	// p is the first position whose entry is not older than e.
	p := sort.Search(r.n, func(i int) bool { return !Less(r.at(i), e) })
	if p < r.n {
		if q := r.at(p); q.Time.Equal(e.Time) && q.RequestID == e.RequestID {
			r.set(p, e)
			return
		}
	}
	if r.n == size {
		if p == 0 {
			return // older than all of a full ring
		}
		// Drop the oldest; positions before p shift down by one.
		r.buf[r.start] = Entry{}
		r.start = (r.start + 1) % size
		r.n--
		p--
	}
	for i := r.n; i > p; i-- {
		r.set(i, r.at(i-1))
	}
	r.set(p, e)
	r.n++
}
