package auth

import (
	"context"
	"errors"
	"time"

	"gatehouse.dev/scope"
)

// Errors returned by every [Store], [KeyStore] and [OrgStore] implementation.
var (
	// ErrNotFound: no key or organization with that id (in that organization).
	ErrNotFound = errors.New("auth: not found")
	// ErrConflict: a key or organization with that id or public id exists.
	ErrConflict = errors.New("auth: already exists")
	// ErrRotated: the key was already replaced by a rotation.
	ErrRotated = errors.New("auth: key already rotated")
	// ErrRevoked: the key is revoked (it cannot be rotated).
	ErrRevoked = errors.New("auth: key revoked")
	// ErrExpired: the key has expired (it cannot be rotated).
	ErrExpired = errors.New("auth: key expired")
	// ErrInvalidRateLimit: a key's RateLimitPerMinute is below 1, which no
	// limiter can enforce; stores refuse to create or update such a key.
	ErrInvalidRateLimit = errors.New("auth: rate limit per minute must be at least 1")
)

// Key is the stored record of an API key. It never holds the raw key: Hash
// is the hex SHA-256 of the full key string.
type Key struct {
	ID             string // UUID
	OrganizationID string
	Name           string
	Env            string // "live" or "test"
	PublicID       string // 16 base62 characters, unique
	Hash           string // hex SHA-256 of the full key
	DisplayPrefix  string // e.g. "joby_live_<public_id>_…"
	Scopes         scope.Set
	// RateLimitPerMinute is the key's limit (1–300 through the admin API).
	RateLimitPerMinute int
	ExpiresAt          *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastUsedAt         *time.Time
	RevokedAt          *time.Time
	// Lineage is the id shared by a key and every key rotated from it
	// (the id of the first key of the chain): one rate-limit bucket, one
	// idempotency scope, one owner of webhook subscriptions. Stores fill
	// it on every read; it equals ID for a key never rotated. Empty on
	// create means ID.
	Lineage string
	// ReplacedBy is the id of the key that replaced this one by
	// [RotateKey]; empty while the key was never rotated. Stores fill it
	// on every read and ignore it on create.
	ReplacedBy string
}

// LineageID returns k.Lineage, or k.ID when the lineage is not set.
func (k *Key) LineageID() string {
	if k.Lineage != "" {
		return k.Lineage
	}
	return k.ID
}

// Rotated reports whether the key was replaced by a rotation.
func (k *Key) Rotated() bool { return k.ReplacedBy != "" }

// Revoked reports whether the key has been revoked.
func (k *Key) Revoked() bool { return k.RevokedAt != nil }

// Expired reports whether the key has expired at now.
func (k *Key) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// Org is an organization as gatehouse stores it: the tenant of keys and
// records, with the switch of its Developer API module (off by default).
type Org struct {
	ID         string
	Name       string
	APIEnabled bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Store looks keys up for the authentication middleware.
type Store interface {
	// LookupKey returns the key with the public id, or ErrNotFound.
	LookupKey(ctx context.Context, publicID string) (Key, error)
}

// KeyOrgLookup is implemented by stores that are also the [OrgChecker] of
// the middleware and can answer a key and its organization's API switch in
// one call: gatehouse.dev/auth/keycache's Cache (one clock read on a hit).
// The middleware uses it only when Options.Store and Options.Orgs are the
// same value; otherwise, and for stores without it, it calls LookupKey and
// then APIEnabled.
type KeyOrgLookup interface {
	// LookupKeyOrg returns what LookupKey(ctx, publicID) returns. When err
	// is nil and known is true, apiEnabled is what
	// APIEnabled(ctx, k.OrganizationID) would have answered at the same
	// time; known false means the caller asks APIEnabled itself.
	LookupKeyOrg(ctx context.Context, publicID string) (k Key, apiEnabled, known bool, err error)
}

// OrgChecker tells whether an organization's Developer API module is on. An
// embedding service may answer from its own tables; the SQL and memory
// stores answer from theirs. An unknown organization is not enabled.
type OrgChecker interface {
	APIEnabled(ctx context.Context, orgID string) (bool, error)
}

// OrgCheckerFunc adapts a function to [OrgChecker].
type OrgCheckerFunc func(ctx context.Context, orgID string) (bool, error)

// APIEnabled calls f.
func (f OrgCheckerFunc) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	return f(ctx, orgID)
}

// KeyUpdate is a partial change of a key's metadata; nil fields stay as they
// are. SetExpiresAt with a nil ExpiresAt clears the expiry.
type KeyUpdate struct {
	Name               *string
	Scopes             *scope.Set
	RateLimitPerMinute *int
	SetExpiresAt       bool
	ExpiresAt          *time.Time
}

// IsZero reports whether u changes nothing.
func (u KeyUpdate) IsZero() bool {
	return u.Name == nil && u.Scopes == nil && u.RateLimitPerMinute == nil && !u.SetExpiresAt
}

// KeyStore manages keys for the admin API. Every method but LookupKey and
// TouchKeys is scoped to an organization: a key of another organization is
// ErrNotFound.
type KeyStore interface {
	Store
	// CreateKey stores k (ID, PublicID and Hash set by the caller).
	CreateKey(ctx context.Context, k Key) error
	GetKey(ctx context.Context, orgID, id string) (Key, error)
	// ListKeys returns the organization's keys, newest first.
	ListKeys(ctx context.Context, orgID string) ([]Key, error)
	UpdateKey(ctx context.Context, orgID, id string, u KeyUpdate, now time.Time) (Key, error)
	// RevokeKey sets RevokedAt to at unless already revoked (idempotent)
	// and returns the key.
	RevokeKey(ctx context.Context, orgID, id string, at time.Time) (Key, error)
	// TouchKeys sets last_used_at of the keys to at, in one statement.
	TouchKeys(ctx context.Context, ids []string, at time.Time) error
	// ReplaceKey stores next as the replacement of the organization's key
	// id, atomically: next is created in the old key's lineage (its
	// Lineage is set from the old key), the old key's ReplacedBy becomes
	// next.ID and its ExpiresAt becomes oldExpiresAt unless that is later
	// than the expiry it has. It returns the old key as it now is.
	// ErrNotFound: no such key in the organization; ErrRevoked, ErrRotated,
	// ErrExpired (at now): the old key cannot be replaced, and nothing is
	// written. Use [RotateKey] rather than calling it directly.
	ReplaceKey(ctx context.Context, orgID, id string, next Key, oldExpiresAt, now time.Time) (Key, error)
}

// OrgStore manages organizations for the admin API.
type OrgStore interface {
	OrgChecker
	CreateOrg(ctx context.Context, o Org) (Org, error)
	GetOrg(ctx context.Context, id string) (Org, error)
	SetAPIEnabled(ctx context.Context, id string, on bool, now time.Time) (Org, error)
	// ListOrgs returns one page of organizations, newest first (created
	// at, then id, descending), as described by q.
	ListOrgs(ctx context.Context, q OrgQuery) ([]Org, error)
}

// OrgQuery selects a page of [OrgStore.ListOrgs].
type OrgQuery struct {
	// Name, when set, keeps the organizations whose name contains it,
	// case-insensitively for ASCII letters. % and _ are plain characters.
	Name string
	// After, when set, continues after this organization (the last one
	// of the previous page): only organizations older than it, in the
	// (CreatedAt, ID) order, are returned. Its CreatedAt and ID are read.
	After *Org
	// Limit bounds the page; zero or less means 100.
	Limit int
}

// DefaultOrgPage is the page size of [OrgQuery] when Limit is zero.
const DefaultOrgPage = 100

// PublicIDLister lists the public id of every stored key (revoked and
// expired ones included), so that a cache can tell, without I/O, that a
// public id does not exist (gatehouse.dev/auth/keycache loads its
// membership filter from it). [Memory] and the SQL store implement it.
type PublicIDLister interface {
	// ListPublicIDs calls fn with each public id, in no particular order.
	ListPublicIDs(ctx context.Context, fn func(publicID string)) error
}
