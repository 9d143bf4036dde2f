package idempotency

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// MemoryOptions configures [NewMemory].
type MemoryOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SweepEvery is how often Claim also deletes expired records: default
	// one minute.
	SweepEvery time.Duration
}

// Memory is an in-process [Store] for a single process (tests, demos, one
// pod). Records live in a map; expired ones are swept while claiming.
type Memory struct {
	mu        sync.Mutex
	now       func() time.Time
	every     time.Duration
	lastSweep time.Time
	records   map[memKey]*memRecord
}

type memKey struct{ scope, key string }

type memRecord struct {
	fingerprint string
	token       string
	done        bool
	resp        Response
	expires     time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now, every: opts.SweepEvery, records: map[memKey]*memRecord{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.every <= 0 {
		m.every = time.Minute
	}
	return m
}

func lockOf(d time.Duration) time.Duration { return max(d, time.Millisecond) }

// Claim implements [Store].
func (m *Memory) Claim(ctx context.Context, c Claim) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastSweep) >= m.every {
		m.sweep(now)
	}
	k := memKey{c.Scope, c.Key}
	if r, ok := m.records[k]; ok && now.Before(r.expires) {
		switch {
		case r.fingerprint != c.Fingerprint:
			return Result{State: Mismatch}, nil
		case !r.done:
			return Result{State: InFlight}, nil
		}
		return Result{State: Completed, Response: copyResponse(r.resp)}, nil
	}
	m.records[k] = &memRecord{fingerprint: c.Fingerprint, token: c.Token, expires: now.Add(lockOf(c.Lock))}
	return Result{State: Claimed}, nil
}

// Complete implements [Store].
func (m *Memory) Complete(ctx context.Context, ref Ref, resp Response, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[memKey{ref.Scope, ref.Key}]
	if !ok || r.done || r.token != ref.Token {
		return ErrClaimLost
	}
	r.done, r.resp, r.expires = true, copyResponse(resp), m.now().Add(lockOf(ttl))
	return nil
}

// Release implements [Store].
func (m *Memory) Release(ctx context.Context, ref Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{ref.Scope, ref.Key}
	if r, ok := m.records[k]; ok && !r.done && r.token == ref.Token {
		delete(m.records, k)
	}
	return nil
}

// DeleteExpired deletes the expired records and returns how many it
// deleted.
func (m *Memory) DeleteExpired(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sweep(m.now()), nil
}

// Len returns the number of records, expired ones included until swept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

func (m *Memory) sweep(now time.Time) int64 {
	m.lastSweep = now
	var n int64
	for k, r := range m.records {
		if !now.Before(r.expires) {
			delete(m.records, k)
			n++
		}
	}
	return n
}

func copyResponse(r Response) Response {
	return Response{Status: r.Status, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
}
