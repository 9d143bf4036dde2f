package auth

import (
	"context"
	"fmt"
	"time"

	"gatehouse.dev/internal/uuid"
)

// MaxRotationGrace is the longest grace period of [RotateKey]: 7 days.
const MaxRotationGrace = 7 * 24 * time.Hour

// Rotation is the result of [RotateKey]: the new key, returned once, and
// both records as stored.
type Rotation struct {
	// Raw is the new key, secret included; show it once (it redacts
	// itself everywhere else).
	Raw RawKey
	// New is the stored record of the new key.
	New Key
	// Old is the replaced key, with its new expiry and ReplacedBy.
	Old Key
}

// RotateKey replaces the organization's key id by a new key with the same
// name, environment, scopes, rate limit and expiry, in the same lineage (so
// both share one rate-limit bucket, one idempotency scope and the webhook
// subscriptions). The old key keeps working for grace (0 to
// [MaxRotationGrace]) and then expires; never later than the expiry it
// already had. prefix is the key prefix of the new key (e.g. "joby").
//
// Errors: [ErrNotFound] (no such key in the organization), [ErrRevoked],
// [ErrRotated] (the key was already replaced), [ErrExpired], or a store
// error. A grace outside the range is an error too; callers validate it
// first.
func RotateKey(ctx context.Context, s KeyStore, prefix, orgID, id string, grace time.Duration, now time.Time) (Rotation, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return Rotation{}, fmt.Errorf("auth: rotate: grace %v out of range 0..%v", grace, MaxRotationGrace)
	}
	old, err := s.GetKey(ctx, orgID, id)
	if err != nil {
		return Rotation{}, err
	}
	switch {
	case old.Revoked():
		return Rotation{}, ErrRevoked
	case old.Rotated():
		return Rotation{}, ErrRotated
	case old.Expired(now):
		return Rotation{}, ErrExpired
	}
	now = now.UTC()
	raw, next, err := NewKey(prefix, old.Env, Key{
		ID:                 uuid.New(),
		OrganizationID:     old.OrganizationID,
		Name:               old.Name,
		Scopes:             old.Scopes,
		RateLimitPerMinute: old.RateLimitPerMinute,
		ExpiresAt:          old.ExpiresAt,
		CreatedAt:          now,
		UpdatedAt:          now,
		Lineage:            old.LineageID(),
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("auth: rotate: %w", err)
	}
	oldExpires := now.Add(grace)
	if old.ExpiresAt != nil && old.ExpiresAt.Before(oldExpires) {
		oldExpires = *old.ExpiresAt
	}
	old, err = s.ReplaceKey(ctx, orgID, id, next, oldExpires, now)
	if err != nil {
		return Rotation{}, err
	}
	next.Lineage = old.LineageID()
	return Rotation{Raw: raw, New: cloneKey(next), Old: old}, nil
}

// CurrentKey follows ReplacedBy from the organization's key id to the key
// that replaced it last: the live key of the lineage. A key never rotated
// is its own current key. (Webhook subscriptions are owned by a lineage;
// their checks read the current key's scopes and state.)
func CurrentKey(ctx context.Context, s KeyStore, orgID, id string) (Key, error) {
	k, err := s.GetKey(ctx, orgID, id)
	// A lineage is a chain: each key is replaced at most once. The bound
	// only guards against a corrupted store.
	for i := 0; err == nil && k.ReplacedBy != "" && i < 1000; i++ {
		k, err = s.GetKey(ctx, orgID, k.ReplacedBy)
	}
	return k, err
}
