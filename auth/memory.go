package auth

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse.dev/internal/uuid"
)

// MemoryOptions configures [NewMemory]. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock for default timestamps. Nil means time.Now.
	Now func() time.Time
}

// Memory is an in-memory [KeyStore] and [OrgStore], for tests, examples and
// single-process services that do not need keys to survive a restart. It is
// safe for concurrent use. Records are copied on the way in and out, so
// callers cannot change stored state through a returned value. Timestamps
// are kept in UTC with microsecond precision, like the SQL store.
type Memory struct {
	now func() time.Time

	mu       sync.RWMutex
	keys     map[string]*Key   // by id
	byPublic map[string]string // public id → id
	orgs     map[string]Org
}

var (
	_ KeyStore = (*Memory)(nil)
	_ OrgStore = (*Memory)(nil)
)

// NewMemory returns an empty memory store.
func NewMemory(opts MemoryOptions) *Memory {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:      now,
		keys:     make(map[string]*Key),
		byPublic: make(map[string]string),
		orgs:     make(map[string]Org),
	}
}

// normTime is the precision every store keeps: UTC, microseconds.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := normTime(*t)
	return &v
}

// cloneKey returns a deep copy of k with normalized times. Scopes are an
// immutable set and need no copy.
func cloneKey(k Key) Key {
	k.ExpiresAt = normTimePtr(k.ExpiresAt)
	k.LastUsedAt = normTimePtr(k.LastUsedAt)
	k.RevokedAt = normTimePtr(k.RevokedAt)
	k.CreatedAt = normTime(k.CreatedAt)
	k.UpdatedAt = normTime(k.UpdatedAt)
	return k
}

// LookupKey returns the key with the public id, or ErrNotFound.
func (m *Memory) LookupKey(ctx context.Context, publicID string) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.byPublic[publicID]
	if !ok {
		return Key{}, ErrNotFound
	}
	return cloneKey(*m.keys[id]), nil
}

// CreateKey stores k as the first key of its own lineage (Lineage and
// ReplacedBy are ignored). A zero CreatedAt becomes now and a zero UpdatedAt
// becomes CreatedAt. An existing id or public id is ErrConflict.
func (m *Memory) CreateKey(ctx context.Context, k Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k.ID == "" || k.PublicID == "" || k.OrganizationID == "" {
		return errors.New("auth: memory: create key: ID, PublicID and OrganizationID are required")
	}
	if k.RateLimitPerMinute < 1 {
		return ErrInvalidRateLimit
	}
	k = cloneKey(k)
	k.Lineage = k.ID // a created key starts its own lineage
	k.ReplacedBy = ""
	if k.CreatedAt.IsZero() {
		k.CreatedAt = normTime(m.now())
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return ErrConflict
	}
	if _, ok := m.byPublic[k.PublicID]; ok {
		return ErrConflict
	}
	m.keys[k.ID] = &k
	m.byPublic[k.PublicID] = k.ID
	return nil
}

// scoped returns the stored key id of orgID, or nil. The caller holds mu.
func (m *Memory) scoped(orgID, id string) *Key {
	k, ok := m.keys[id]
	if !ok || k.OrganizationID != orgID {
		return nil
	}
	return k
}

// GetKey returns the organization's key, or ErrNotFound.
func (m *Memory) GetKey(ctx context.Context, orgID, id string) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	k := m.scoped(orgID, id)
	if k == nil {
		return Key{}, ErrNotFound
	}
	return cloneKey(*k), nil
}

// ListKeys returns the organization's keys, newest first (created_at, then
// id, descending). No keys is an empty slice.
func (m *Memory) ListKeys(ctx context.Context, orgID string) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	out := []Key{}
	for _, k := range m.keys {
		if k.OrganizationID == orgID {
			out = append(out, cloneKey(*k))
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// UpdateKey applies u to the organization's key and sets UpdatedAt to now.
// A zero update changes nothing and returns the key as it is.
func (m *Memory) UpdateKey(ctx context.Context, orgID, id string, u KeyUpdate, now time.Time) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	if u.RateLimitPerMinute != nil && *u.RateLimitPerMinute < 1 {
		return Key{}, ErrInvalidRateLimit
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.scoped(orgID, id)
	if k == nil {
		return Key{}, ErrNotFound
	}
	if u.IsZero() {
		return cloneKey(*k), nil
	}
	if u.Name != nil {
		k.Name = *u.Name
	}
	if u.Scopes != nil {
		k.Scopes = *u.Scopes
	}
	if u.RateLimitPerMinute != nil {
		k.RateLimitPerMinute = *u.RateLimitPerMinute
	}
	if u.SetExpiresAt {
		k.ExpiresAt = normTimePtr(u.ExpiresAt)
	}
	k.UpdatedAt = normTime(now)
	return cloneKey(*k), nil
}

// RevokeKey sets RevokedAt (and UpdatedAt) to at unless the key is already
// revoked, and returns the key.
func (m *Memory) RevokeKey(ctx context.Context, orgID, id string, at time.Time) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.scoped(orgID, id)
	if k == nil {
		return Key{}, ErrNotFound
	}
	if k.RevokedAt == nil {
		at = normTime(at)
		k.RevokedAt = &at
		k.UpdatedAt = at
	}
	return cloneKey(*k), nil
}

// TouchKeys sets LastUsedAt of the existing keys among ids to at, unless it
// is already later. Unknown ids are ignored.
func (m *Memory) TouchKeys(ctx context.Context, ids []string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at = normTime(at)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if k, ok := m.keys[id]; ok && (k.LastUsedAt == nil || k.LastUsedAt.Before(at)) {
			v := at
			k.LastUsedAt = &v
		}
	}
	return nil
}

// ReplaceKey stores next as the replacement of the organization's key id
// and shortens the old key's expiry to oldExpiresAt (see
// [KeyStore.ReplaceKey]).
func (m *Memory) ReplaceKey(ctx context.Context, orgID, id string, next Key, oldExpiresAt, now time.Time) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	if next.ID == "" || next.PublicID == "" || next.OrganizationID != orgID {
		return Key{}, errors.New("auth: memory: replace key: next needs ID, PublicID and the same OrganizationID")
	}
	if next.RateLimitPerMinute < 1 {
		return Key{}, ErrInvalidRateLimit
	}
	next = cloneKey(next)
	next.ReplacedBy = ""
	if next.CreatedAt.IsZero() {
		next.CreatedAt = normTime(now)
	}
	if next.UpdatedAt.IsZero() {
		next.UpdatedAt = next.CreatedAt
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.scoped(orgID, id)
	switch {
	case old == nil:
		return Key{}, ErrNotFound
	case old.Revoked():
		return Key{}, ErrRevoked
	case old.Rotated():
		return Key{}, ErrRotated
	case old.Expired(now):
		return Key{}, ErrExpired
	}
	if _, ok := m.keys[next.ID]; ok {
		return Key{}, ErrConflict
	}
	if _, ok := m.byPublic[next.PublicID]; ok {
		return Key{}, ErrConflict
	}
	next.Lineage = old.LineageID()
	m.keys[next.ID] = &next
	m.byPublic[next.PublicID] = next.ID
	old.ReplacedBy = next.ID
	if old.ExpiresAt == nil || oldExpiresAt.Before(*old.ExpiresAt) {
		e := normTime(oldExpiresAt)
		old.ExpiresAt = &e
	}
	old.UpdatedAt = normTime(now)
	return cloneKey(*old), nil
}

// ListOrgs returns one page of organizations, newest first (see
// [OrgStore.ListOrgs]).
func (m *Memory) ListOrgs(ctx context.Context, q OrgQuery) ([]Org, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultOrgPage
	}
	needle := asciiLower(q.Name)
	m.mu.RLock()
	out := []Org{}
	for _, o := range m.orgs {
		if needle != "" && !strings.Contains(asciiLower(o.Name), needle) {
			continue
		}
		if q.After != nil && compareOrgs(o, *q.After) >= 0 {
			continue
		}
		out = append(out, o)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Org) int { return compareOrgs(b, a) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// compareOrgs orders organizations by (CreatedAt, ID).
func compareOrgs(a, b Org) int {
	if c := a.CreatedAt.Compare(normTime(b.CreatedAt)); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// asciiLower lower-cases ASCII letters only, like SQLite's LIKE.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// APIEnabled reports whether the organization's Developer API module is on;
// an unknown organization is off.
func (m *Memory) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.orgs[orgID].APIEnabled, nil
}

// CreateOrg stores o and returns it. An empty ID becomes a new UUID, a zero
// CreatedAt becomes now and a zero UpdatedAt becomes CreatedAt. An existing
// id is ErrConflict.
func (m *Memory) CreateOrg(ctx context.Context, o Org) (Org, error) {
	if err := ctx.Err(); err != nil {
		return Org{}, err
	}
	if o.ID == "" {
		o.ID = uuid.New()
	}
	o.CreatedAt = normTime(o.CreatedAt)
	if o.CreatedAt.IsZero() {
		o.CreatedAt = normTime(m.now())
	}
	o.UpdatedAt = normTime(o.UpdatedAt)
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.orgs[o.ID]; ok {
		return Org{}, ErrConflict
	}
	m.orgs[o.ID] = o
	return o, nil
}

// GetOrg returns the organization, or ErrNotFound.
func (m *Memory) GetOrg(ctx context.Context, id string) (Org, error) {
	if err := ctx.Err(); err != nil {
		return Org{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, ok := m.orgs[id]
	if !ok {
		return Org{}, ErrNotFound
	}
	return o, nil
}

// SetAPIEnabled switches the organization's Developer API module and sets
// UpdatedAt to now.
func (m *Memory) SetAPIEnabled(ctx context.Context, id string, on bool, now time.Time) (Org, error) {
	if err := ctx.Err(); err != nil {
		return Org{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orgs[id]
	if !ok {
		return Org{}, ErrNotFound
	}
	o.APIEnabled = on
	o.UpdatedAt = normTime(now)
	m.orgs[id] = o
	return o, nil
}
