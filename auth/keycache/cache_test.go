package keycache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/scope"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	for _, tc := range []struct {
		name string
		opts keycache.Options
		ok   bool
	}{
		{"zero optional fields", keycache.Options{Store: m, Orgs: m}, true},
		{"everything set", keycache.Options{Store: m, Orgs: m, MaxEntries: 1, MaxNegative: 1, MaxOrgs: 1,
			TTL: time.Second, StaleAfter: time.Second, NegativeTTL: time.Second, Now: time.Now}, true},
		{"no store", keycache.Options{Orgs: m}, false},
		{"no orgs", keycache.Options{Store: m}, false},
		{"negative MaxEntries", keycache.Options{Store: m, Orgs: m, MaxEntries: -1}, false},
		{"negative MaxNegative", keycache.Options{Store: m, Orgs: m, MaxNegative: -1}, false},
		{"negative MaxOrgs", keycache.Options{Store: m, Orgs: m, MaxOrgs: -1}, false},
		{"negative TTL", keycache.Options{Store: m, Orgs: m, TTL: -1}, false},
		{"negative StaleAfter", keycache.Options{Store: m, Orgs: m, StaleAfter: -1}, false},
		{"negative NegativeTTL", keycache.Options{Store: m, Orgs: m, NegativeTTL: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := keycache.New(tc.opts)
			if tc.ok != (err == nil) || (c == nil) == tc.ok {
				t.Errorf("New = %v, %v; want ok=%v", c, err, tc.ok)
			}
		})
	}
}

func TestHitsDoNoIO(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s})

	for range 5 {
		got := mustLookup(t, c, k.PublicID)
		if got.ID != k.ID || got.Hash != k.Hash || !got.Scopes.Has("leads:read") {
			t.Fatalf("LookupKey = %+v, want key %s", got, k.ID)
		}
		if !mustEnabled(t, c, o) {
			t.Fatal("APIEnabled = false, want true")
		}
	}
	wantCalls(t, s, 1, 1)
	st := c.Stats()
	if st.Hits != 4 || st.Misses != 1 || st.OrgHits != 4 || st.OrgMisses != 1 || st.Entries != 1 || st.OrgEntries != 1 {
		t.Errorf("Stats = %+v, want 4 hits, 1 miss, 4 org hits, 1 org miss, 1 entry each", st)
	}
	if st.FeedHealthy {
		t.Error("FeedHealthy = true without a feed")
	}
}

func TestHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s})
	ctx := context.Background()
	mustLookup(t, c, k.PublicID)
	mustEnabled(t, c, o)
	unknown := "0123456789abcdef"
	if _, err := c.LookupKey(ctx, unknown); !errors.Is(err, auth.ErrNotFound) {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"key":      func() { _, _ = c.LookupKey(ctx, k.PublicID) },
		"negative": func() { _, _ = c.LookupKey(ctx, unknown) },
		"org":      func() { _, _ = c.APIEnabled(ctx, o) },
	} {
		if a := testing.AllocsPerRun(200, f); a != 0 {
			t.Errorf("%s hit: %v allocations, want 0", name, a)
		}
	}
	wantCalls(t, s, 2, 1)
}

func TestNegativeEntries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		c := newCache(t, keycache.Options{Store: s, Orgs: s, NegativeTTL: 10 * time.Second, StaleAfter: 30 * time.Second})
		ctx := context.Background()
		const unknown = "0123456789abcdef"
		for range 100 {
			if _, err := c.LookupKey(ctx, unknown); err != auth.ErrNotFound {
				t.Fatalf("LookupKey(unknown) = %v, want auth.ErrNotFound itself", err)
			}
		}
		wantCalls(t, s, 1, 0)
		if st := c.Stats(); st.NegativeHits != 99 || st.NegativeEntries != 1 {
			t.Errorf("Stats = %+v, want 99 negative hits, 1 negative entry", st)
		}
		time.Sleep(10*time.Second - time.Nanosecond)
		_, _ = c.LookupKey(ctx, unknown)
		wantCalls(t, s, 1, 0)
		time.Sleep(time.Nanosecond)
		_, _ = c.LookupKey(ctx, unknown)
		wantCalls(t, s, 2, 0)

		// A key stored later under the public id is found once the
		// negative entry is gone (here: flushed).
		k := issue(t, s, "org").Key
		k.ID, k.PublicID = "00000000-0000-4000-8000-000000000001", unknown
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LookupKey(ctx, unknown); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("before the flush: %v, want the cached ErrNotFound", err)
		}
		c.Flush()
		mustLookup(t, c, unknown)
	})
}

func TestStaleness(t *testing.T) {
	t.Parallel()
	const ttl, staleAfter = time.Minute, 5 * time.Second
	for _, tc := range []struct {
		name string
		feed func(c *keycache.Cache) // after the first lookup
		// fresh is the longest age at which the entry is still used.
		fresh time.Duration
		stale bool // the reload counts as stale (not expired)
	}{
		{"no feed: StaleAfter", func(*keycache.Cache) {}, staleAfter, true},
		{"healthy feed: TTL", func(c *keycache.Cache) { c.MarkFeedHealthy(time.Hour) }, ttl, false},
		{"lease ran out", func(c *keycache.Cache) { c.MarkFeedHealthy(2 * time.Second) }, staleAfter, true},
		{"lease longer than StaleAfter", func(c *keycache.Cache) { c.MarkFeedHealthy(20 * time.Second) }, 20 * time.Second, true},
		{"feed marked unhealthy", func(c *keycache.Cache) { c.MarkFeedHealthy(time.Hour); c.MarkFeedUnhealthy() }, staleAfter, true},
		{"zero lease is unhealthy", func(c *keycache.Cache) { c.MarkFeedHealthy(0) }, staleAfter, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newSpy()
				o := org(t, s, true)
				k := issue(t, s, o)
				c := newCache(t, keycache.Options{Store: s, Orgs: s, TTL: ttl, StaleAfter: staleAfter})
				tc.feed(c)
				mustLookup(t, c, k.PublicID)
				mustEnabled(t, c, o)
				time.Sleep(tc.fresh - time.Nanosecond)
				mustLookup(t, c, k.PublicID)
				mustEnabled(t, c, o)
				wantCalls(t, s, 1, 1)
				time.Sleep(time.Nanosecond)
				mustLookup(t, c, k.PublicID)
				mustEnabled(t, c, o)
				wantCalls(t, s, 2, 2)
				if st := c.Stats(); (st.Stale == 1) != tc.stale {
					t.Errorf("Stats.Stale = %d, want stale reload %v", st.Stale, tc.stale)
				}
			})
		})
	}
}

func TestStaleEntriesSeeStoreChanges(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		o := org(t, s, true)
		k := issue(t, s, o)
		c := newCache(t, keycache.Options{Store: s, Orgs: s})
		ctx := context.Background()
		mustLookup(t, c, k.PublicID)
		mustEnabled(t, c, o)
		// Changed behind the cache's back (no invalidation, no feed).
		if _, err := s.RevokeKey(ctx, o, k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetAPIEnabled(ctx, o, false, time.Now()); err != nil {
			t.Fatal(err)
		}
		if revoked(mustLookup(t, c, k.PublicID)) || !mustEnabled(t, c, o) {
			t.Fatal("the change was seen without invalidation before StaleAfter")
		}
		time.Sleep(keycache.DefaultStaleAfter)
		if !revoked(mustLookup(t, c, k.PublicID)) {
			t.Error("revocation not seen after StaleAfter")
		}
		if mustEnabled(t, c, o) {
			t.Error("organization switch not seen after StaleAfter")
		}
	})
}

func TestInvalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type fixture struct {
		s           *spyStore
		c           *keycache.Cache
		o1, o2      string
		a, b, other issued // a, b of o1; other of o2
		unknown     string
	}
	setup := func(t *testing.T) *fixture {
		s := newSpy()
		f := &fixture{s: s, o1: org(t, s, true), o2: org(t, s, true), unknown: "fedcba9876543210"}
		f.a, f.b, f.other = issue(t, s, f.o1), issue(t, s, f.o1), issue(t, s, f.o2)
		f.c = newCache(t, keycache.Options{Store: s, Orgs: s})
		f.c.MarkFeedHealthy(time.Hour)
		for _, k := range []issued{f.a, f.b, f.other} {
			mustLookup(t, f.c, k.PublicID)
		}
		mustEnabled(t, f.c, f.o1)
		mustEnabled(t, f.c, f.o2)
		_, _ = f.c.LookupKey(ctx, f.unknown)
		wantCalls(t, s, 4, 2)
		return f
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, f *fixture)
		// store reads after looking everything up again
		lookups, orgCalls int64
		invalidations     uint64
		flushes           uint64
	}{
		{"revoked key", func(t *testing.T, f *fixture) {
			if _, err := f.s.RevokeKey(ctx, f.o1, f.a.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			if revoked(mustLookup(t, f.c, f.a.PublicID)) {
				t.Fatal("revocation seen before invalidation: the entry was not cached")
			}
			f.c.InvalidateKey(f.a.ID)
			if !revoked(mustLookup(t, f.c, f.a.PublicID)) {
				t.Error("revocation not seen right after InvalidateKey")
			}
		}, 5, 2, 1, 0},
		{"scope change through Apply", func(t *testing.T, f *fixture) {
			sc := scope.NewSet("tasks:read")
			if _, err := f.s.UpdateKey(ctx, f.o1, f.b.ID, auth.KeyUpdate{Scopes: &sc}, time.Now()); err != nil {
				t.Fatal(err)
			}
			f.c.Apply(keycache.Change{OrgID: f.o1, KeyID: f.b.ID})
			if got := mustLookup(t, f.c, f.b.PublicID).Scopes; !got.Has("tasks:read") || got.Has("leads:read") {
				t.Errorf("scopes after change = %v", got.Strings())
			}
		}, 5, 2, 1, 0},
		{"unknown key id", func(t *testing.T, f *fixture) {
			f.c.InvalidateKey("00000000-0000-4000-8000-000000000000")
			f.c.InvalidateKey(f.a.PublicID) // a public id is not a key id
		}, 4, 2, 2, 0},
		{"organization switched off", func(t *testing.T, f *fixture) {
			if _, err := f.s.SetAPIEnabled(ctx, f.o1, false, time.Now()); err != nil {
				t.Fatal(err)
			}
			f.c.Apply(keycache.Change{OrgID: f.o1})
			if mustEnabled(t, f.c, f.o1) {
				t.Error("organization still enabled after InvalidateOrg")
			}
			if !mustEnabled(t, f.c, f.o2) {
				t.Error("other organization disabled")
			}
		}, 6, 3, 1, 0}, // a and b of o1 re-read, other kept
		{"flush", func(t *testing.T, f *fixture) {
			f.c.Apply(keycache.Change{})
			if st := f.c.Stats(); st.Entries+st.NegativeEntries+st.OrgEntries != 0 {
				t.Errorf("entries after Flush: %+v", st)
			}
		}, 8, 4, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			tc.run(t, f)
			for _, k := range []issued{f.a, f.b, f.other} {
				mustLookup(t, f.c, k.PublicID)
			}
			mustEnabled(t, f.c, f.o1)
			mustEnabled(t, f.c, f.o2)
			_, _ = f.c.LookupKey(ctx, f.unknown)
			wantCalls(t, f.s, tc.lookups, tc.orgCalls)
			if st := f.c.Stats(); st.Invalidations != tc.invalidations || st.Flushes != tc.flushes {
				t.Errorf("Stats: %d invalidations, %d flushes; want %d, %d", st.Invalidations, st.Flushes, tc.invalidations, tc.flushes)
			}
		})
	}
}

// TestInvalidationDuringRead: a store read overtaken by an invalidation of
// its key is neither cached nor answered: it is repeated, so every lookup
// sharing it, even one that started before the invalidation, gets the state
// after the change.
func TestInvalidationDuringRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		apply func(c *keycache.Cache, k issued)
		reads int64
	}{
		{"key", func(c *keycache.Cache, k issued) { c.InvalidateKey(k.ID) }, 2},
		{"organization", func(c *keycache.Cache, k issued) { c.InvalidateOrg(k.OrganizationID) }, 2},
		{"flush", func(c *keycache.Cache, k issued) { c.Flush() }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := newSpy()
				o := org(t, s, true)
				k := issue(t, s, o)
				c := newCache(t, keycache.Options{Store: s, Orgs: s})
				c.MarkFeedHealthy(time.Hour)
				ctx := context.Background()

				release := make(chan struct{})
				var held atomic.Bool
				var firstRead auth.Key
				s.holdAfter(func(id string) {
					if held.CompareAndSwap(false, true) {
						firstRead, _ = s.Memory.LookupKey(ctx, id)
						<-release
					}
				})
				before := make(chan auth.Key, 1)
				go func() { before <- mustLookup(t, c, k.PublicID) }()
				synctest.Wait() // the first lookup read the key and waits

				if _, err := s.RevokeKey(ctx, o, k.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				tc.apply(c, k)
				after := make(chan auth.Key, 1)
				go func() { after <- mustLookup(t, c, k.PublicID) }()
				synctest.Wait() // it shares the held read
				close(release)
				if revoked(firstRead) {
					t.Fatal("the held read saw the revocation; the test proves nothing")
				}
				if !revoked(<-before) || !revoked(<-after) {
					t.Error("a lookup got the read from before the invalidation")
				}
				for range 3 {
					if !revoked(mustLookup(t, c, k.PublicID)) {
						t.Fatal("the read from before the invalidation was cached")
					}
				}
				wantCalls(t, s, tc.reads, 0)
			})
		})
	}
}

// TestUnrelatedInvalidationDuringRead: an invalidation of another key does
// not make a read repeat.
func TestUnrelatedInvalidationDuringRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		o := org(t, s, true)
		k, other := issue(t, s, o), issue(t, s, o)
		c := newCache(t, keycache.Options{Store: s, Orgs: s})
		release := make(chan struct{})
		s.holdAfter(func(string) { <-release })
		done := make(chan auth.Key, 1)
		go func() { done <- mustLookup(t, c, k.PublicID) }()
		synctest.Wait()
		c.InvalidateKey(other.ID)
		c.InvalidateOrg("another-org")
		close(release)
		<-done
		s.holdAfter(nil)
		mustLookup(t, c, k.PublicID)
		wantCalls(t, s, 1, 0)
	})
}

// TestInvalidationStorm: a read overtaken by invalidations of its key on
// every attempt gives up with an error after a bounded number of reads.
func TestInvalidationStorm(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s})
	s.holdAfter(func(string) { c.InvalidateKey(k.ID) })
	_, err := c.LookupKey(context.Background(), k.PublicID)
	if err == nil || errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("err = %v, want an error", err)
	}
	if n := s.lookups.Load(); n < 2 || n > 16 {
		t.Errorf("store reads = %d, want a few", n)
	}
	s.holdAfter(nil)
	mustLookup(t, c, k.PublicID)
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		o := org(t, s, true)
		k := issue(t, s, o)
		c := newCache(t, keycache.Options{Store: s, Orgs: s})
		release := make(chan struct{})
		s.holdBefore(func(string) { <-release })

		const n = 8
		var wg sync.WaitGroup
		got := make([]auth.Key, n)
		for i := range n {
			wg.Go(func() { got[i] = mustLookup(t, c, k.PublicID) })
		}
		synctest.Wait() // one reads the store, the others wait for it
		if st := c.Stats(); st.Coalesced != n-1 || st.Misses != n {
			t.Errorf("Stats = %+v, want %d misses of which %d coalesced", st, n, n-1)
		}
		close(release)
		wg.Wait()
		for i := range got {
			if got[i].ID != k.ID {
				t.Errorf("lookup %d = %q, want %q", i, got[i].ID, k.ID)
			}
		}
		wantCalls(t, s, 1, 0)
	})
}

func TestWaitingLookupContexts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newSpy()
		o := org(t, s, true)
		k := issue(t, s, o)
		c := newCache(t, keycache.Options{Store: s, Orgs: s})
		release := make(chan struct{})
		var held atomic.Bool
		s.holdBefore(func(string) {
			if held.CompareAndSwap(false, true) {
				<-release
			}
		})

		// The leading lookup's request ends while it reads; a lookup
		// sharing its read then reads for itself. A sharing lookup whose
		// own context ends stops waiting.
		leadCtx, cancelLead := context.WithCancel(context.Background())
		leadErr := make(chan error, 1)
		go func() {
			_, err := c.LookupKey(leadCtx, k.PublicID)
			leadErr <- err
		}()
		synctest.Wait()
		waiter := make(chan error, 1)
		go func() {
			got, err := c.LookupKey(context.Background(), k.PublicID)
			if err == nil && got.ID != k.ID {
				err = fmt.Errorf("got key %s", got.ID)
			}
			waiter <- err
		}()
		quitCtx, quit := context.WithCancel(context.Background())
		quitter := make(chan error, 1)
		go func() {
			_, err := c.LookupKey(quitCtx, k.PublicID)
			quitter <- err
		}()
		synctest.Wait()
		quit()
		if err := <-quitter; !errors.Is(err, context.Canceled) {
			t.Errorf("canceled waiting lookup: err = %v, want context.Canceled", err)
		}
		cancelLead()
		close(release)
		if err := <-leadErr; !errors.Is(err, context.Canceled) {
			t.Errorf("lead lookup: err = %v, want context.Canceled", err)
		}
		if err := <-waiter; err != nil {
			t.Errorf("waiting lookup after the lead's request ended: %v", err)
		}
		wantCalls(t, s, 2, 0)
	})
}

func TestStoreErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s})
	ctx := context.Background()
	s.setFail(errDown)
	for range 2 {
		_, err := c.LookupKey(ctx, k.PublicID)
		if !errors.Is(err, errDown) || errors.Is(err, auth.ErrNotFound) {
			t.Errorf("LookupKey with the store down: err = %v, want it to wrap the store's error", err)
		}
		if _, err := c.APIEnabled(ctx, o); !errors.Is(err, errDown) {
			t.Errorf("APIEnabled with the store down: err = %v", err)
		}
	}
	s.setFail(nil)
	mustLookup(t, c, k.PublicID)
	if !mustEnabled(t, c, o) {
		t.Error("APIEnabled = false after the store came back")
	}
	wantCalls(t, s, 3, 3)
	if st := c.Stats(); st.Errors != 4 || st.Entries != 1 {
		t.Errorf("Stats = %+v, want 4 errors and the key cached", st)
	}
}

func TestEvictionKeepsUsedKeys(t *testing.T) {
	t.Parallel()
	const max = 64
	s := newSpy()
	o := org(t, s, true)
	hot := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s, MaxEntries: max})
	mustLookup(t, c, hot.PublicID)
	for range 4 * max {
		mustLookup(t, c, issue(t, s, o).PublicID)
		mustLookup(t, c, hot.PublicID)
	}
	st := c.Stats()
	if st.Entries > max {
		t.Errorf("Entries = %d, want at most %d", st.Entries, max)
	}
	if st.Evictions < 3*max {
		t.Errorf("Evictions = %d, want at least %d", st.Evictions, 3*max)
	}
	if st.Hits != 4*max {
		t.Errorf("hits of the hot key = %d, want %d (it was evicted)", st.Hits, 4*max)
	}
}

func TestUnknownFloodKeepsKeys(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	c := newCache(t, keycache.Options{Store: s, Orgs: s, MaxEntries: 64, MaxNegative: 64})
	var valid []issued
	for range 20 {
		k := issue(t, s, o)
		valid = append(valid, k)
		mustLookup(t, c, k.PublicID)
	}
	for i := range 2000 {
		id := fmt.Sprintf("%016d", i)
		if _, err := c.LookupKey(context.Background(), id); !errors.Is(err, auth.ErrNotFound) {
			t.Fatal(err)
		}
	}
	before := s.lookups.Load()
	for _, k := range valid {
		mustLookup(t, c, k.PublicID)
	}
	if s.lookups.Load() != before {
		t.Error("valid keys were evicted by unknown ones")
	}
	if st := c.Stats(); st.NegativeEntries > 64 || st.Entries != 20 {
		t.Errorf("Stats = %+v, want at most 64 negative entries and 20 keys", st)
	}
}

func TestExpiredEntriesEvictedFirst(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newSpy()
	o := org(t, s, true)
	c := newCache(t, keycache.Options{Store: s, Orgs: s, MaxEntries: 4, TTL: time.Minute, Now: clock.Now})
	c.MarkFeedHealthy(time.Hour)
	var old []issued
	for range 3 {
		k := issue(t, s, o)
		old = append(old, k)
		mustLookup(t, c, k.PublicID)
		mustLookup(t, c, k.PublicID) // referenced
	}
	clock.Advance(30 * time.Second)
	young := issue(t, s, o)
	mustLookup(t, c, young.PublicID)
	mustLookup(t, c, young.PublicID)
	clock.Advance(31 * time.Second) // the old three expired, young did not
	mustLookup(t, c, issue(t, s, o).PublicID)
	mustLookup(t, c, issue(t, s, o).PublicID)
	before := s.lookups.Load()
	mustLookup(t, c, young.PublicID)
	if s.lookups.Load() != before {
		t.Error("an unexpired, used key was evicted while expired ones were cached")
	}
}
