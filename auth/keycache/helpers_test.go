package keycache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
)

// spyStore wraps a memory store, counts the calls that reach it and lets a
// test hold a lookup after it read the store.
type spyStore struct {
	*auth.Memory
	lookups, orgCalls atomic.Int64

	mu            sync.Mutex
	before, after func(publicID string) // called around the read
	fail          error                 // returned while non-nil
}

func newSpy() *spyStore { return &spyStore{Memory: auth.NewMemory(auth.MemoryOptions{})} }

func (s *spyStore) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	before, after, fail := s.before, s.after, s.fail
	s.mu.Unlock()
	if fail != nil {
		return auth.Key{}, fail
	}
	if before != nil {
		before(publicID)
	}
	k, err := s.Memory.LookupKey(ctx, publicID)
	if after != nil {
		after(publicID)
	}
	return k, err
}

func (s *spyStore) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	s.orgCalls.Add(1)
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return false, fail
	}
	return s.Memory.APIEnabled(ctx, orgID)
}

func (s *spyStore) holdBefore(f func(string)) {
	s.mu.Lock()
	s.before = f
	s.mu.Unlock()
}

func (s *spyStore) holdAfter(f func(string)) {
	s.mu.Lock()
	s.after = f
	s.mu.Unlock()
}

func (s *spyStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// issued is a stored key with its raw form.
type issued struct {
	auth.Key
	raw string
}

// org creates an organization with the API switched on or off.
func org(t testing.TB, s auth.OrgStore, on bool) string {
	t.Helper()
	o, err := s.CreateOrg(context.Background(), auth.Org{Name: "org", APIEnabled: on})
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// issue stores a new key of the organization.
func issue(t testing.TB, s auth.KeyStore, orgID string) issued {
	t.Helper()
	raw, p, err := auth.Generate("joby", auth.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	k := auth.Key{
		ID: uuid.New(), OrganizationID: orgID, Name: "k", Env: p.Env, PublicID: p.PublicID,
		Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
		Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	}
	if err := s.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return issued{Key: k, raw: raw.Reveal()}
}

func newCache(t testing.TB, opts keycache.Options) *keycache.Cache {
	t.Helper()
	c, err := keycache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustLookup(t testing.TB, c *keycache.Cache, publicID string) auth.Key {
	t.Helper()
	k, err := c.LookupKey(context.Background(), publicID)
	if err != nil {
		t.Fatalf("LookupKey(%s): %v", publicID, err)
	}
	return k
}

func mustEnabled(t testing.TB, c *keycache.Cache, orgID string) bool {
	t.Helper()
	on, err := c.APIEnabled(context.Background(), orgID)
	if err != nil {
		t.Fatalf("APIEnabled(%s): %v", orgID, err)
	}
	return on
}

// wantCalls checks how many lookups reached the store.
func wantCalls(t testing.TB, s *spyStore, lookups, orgCalls int64) {
	t.Helper()
	if got := s.lookups.Load(); got != lookups {
		t.Errorf("store lookups = %d, want %d", got, lookups)
	}
	if got := s.orgCalls.Load(); got != orgCalls {
		t.Errorf("store APIEnabled calls = %d, want %d", got, orgCalls)
	}
}

var errDown = errors.New("store down")

func ptr[T any](v T) *T { return &v }

// fakeClock is a manual clock for tests outside synctest.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (s issued) String() string { return fmt.Sprintf("key %s", s.ID) }

func revoked(k auth.Key) bool { return k.Revoked() }
