package keycache_test

import (
	"context"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/authtest"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
)

// cachedKeys is a KeyStore whose lookups go through a cache and whose
// changes are applied to the cache after the store write, as the admin API
// does through its OnKeyChange hook. With warm set, every write is followed
// by a lookup, so the suite's later reads are cache hits, and TouchKeys
// invalidates too (the suite checks last_used_at, which in production is
// allowed to lag by up to TTL).
type cachedKeys struct {
	auth.KeyStore
	c    *keycache.Cache
	warm bool
}

func (s cachedKeys) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	return s.c.LookupKey(ctx, publicID)
}

func (s cachedKeys) warmUp(publicID string) {
	if s.warm {
		_, _ = s.c.LookupKey(context.Background(), publicID)
	}
}

func (s cachedKeys) CreateKey(ctx context.Context, k auth.Key) error {
	err := s.KeyStore.CreateKey(ctx, k)
	s.warmUp(k.PublicID)
	return err
}

func (s cachedKeys) UpdateKey(ctx context.Context, orgID, id string, u auth.KeyUpdate, now time.Time) (auth.Key, error) {
	k, err := s.KeyStore.UpdateKey(ctx, orgID, id, u, now)
	if err == nil {
		s.c.InvalidateKey(id)
		s.warmUp(k.PublicID)
	}
	return k, err
}

func (s cachedKeys) RevokeKey(ctx context.Context, orgID, id string, at time.Time) (auth.Key, error) {
	k, err := s.KeyStore.RevokeKey(ctx, orgID, id, at)
	if err == nil {
		s.c.InvalidateKey(id)
		s.warmUp(k.PublicID)
	}
	return k, err
}

// ReplaceKey invalidates the old key, as the admin API's OnKeyChange does
// after a rotation (its expiry changed); the new key was never cached.
func (s cachedKeys) ReplaceKey(ctx context.Context, orgID, id string, next auth.Key, oldExpiresAt, now time.Time) (auth.Key, error) {
	k, err := s.KeyStore.ReplaceKey(ctx, orgID, id, next, oldExpiresAt, now)
	if err == nil {
		s.c.InvalidateKey(id)
		s.warmUp(k.PublicID)
		s.warmUp(next.PublicID)
	}
	return k, err
}

func (s cachedKeys) TouchKeys(ctx context.Context, ids []string, at time.Time) error {
	err := s.KeyStore.TouchKeys(ctx, ids, at)
	if s.warm {
		for _, id := range ids {
			s.c.InvalidateKey(id)
		}
	}
	return err
}

type cachedOrgs struct {
	auth.OrgStore
	c    *keycache.Cache
	warm bool
}

func (s cachedOrgs) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	return s.c.APIEnabled(ctx, orgID)
}

func (s cachedOrgs) CreateOrg(ctx context.Context, o auth.Org) (auth.Org, error) {
	o, err := s.OrgStore.CreateOrg(ctx, o)
	if err == nil && s.warm {
		_, _ = s.c.APIEnabled(ctx, o.ID)
	}
	return o, err
}

func (s cachedOrgs) SetAPIEnabled(ctx context.Context, id string, on bool, now time.Time) (auth.Org, error) {
	o, err := s.OrgStore.SetAPIEnabled(ctx, id, on, now)
	if err == nil {
		s.c.InvalidateOrg(id)
		if s.warm {
			_, _ = s.c.APIEnabled(ctx, id)
		}
	}
	return o, err
}

func cached(t *testing.T, keys auth.KeyStore, orgs auth.OrgStore, warm bool) authtest.Stores {
	c := newCache(t, keycache.Options{Store: keys, Orgs: orgs})
	c.MarkFeedHealthy(time.Hour)
	return authtest.Stores{Keys: cachedKeys{keys, c, warm}, Orgs: cachedOrgs{orgs, c, warm}}
}

// TestStoreSuite runs the store behaviour suite with lookups through the
// cache: caching must not change what a lookup answers.
func TestStoreSuite(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("memory", func(t *testing.T) {
				t.Parallel()
				authtest.RunStore(t, func(t *testing.T) authtest.Stores {
					m := auth.NewMemory(auth.MemoryOptions{})
					return cached(t, m, m, warm)
				})
			})
			dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
				t.Parallel()
				s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				authtest.RunStore(t, func(t *testing.T) authtest.Stores { return cached(t, s, s, warm) })
			})
		})
	}
}
