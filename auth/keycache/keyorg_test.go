package keycache_test

import (
	"context"
	"testing"
	"time"

	"gatehouse.dev/auth/keycache"
)

// TestLookupKeyOrg: the organization's answer comes with the key on a hit,
// from the key's entry once copied there, and never outlives an
// invalidation or the TTL of the organization's own entry.
func TestLookupKeyOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSpy()
	o := org(t, s, true)
	k := issue(t, s, o)
	clk := newFakeClock()
	c := newCache(t, keycache.Options{Store: s, Orgs: s, Now: clk.Now, TTL: time.Minute})
	c.MarkFeedHealthy(time.Hour)
	lookup := func(step string, wantOn, wantKnown bool) {
		t.Helper()
		got, on, known, err := c.LookupKeyOrg(ctx, k.PublicID)
		if err != nil || got.ID != k.ID {
			t.Fatalf("%s: LookupKeyOrg = %v, %v", step, got.ID, err)
		}
		if known != wantKnown || known && on != wantOn {
			t.Fatalf("%s: on %v known %v, want on %v known %v", step, on, known, wantOn, wantKnown)
		}
	}

	if !mustEnabled(t, c, o) { // the organization's entry, loaded at 0
		t.Fatal("organization off")
	}
	lookup("key miss", false, false)
	clk.Advance(30 * time.Second)
	c.InvalidateKey(k.ID)
	lookup("key read again at 30 s", false, false) // key expires at 90 s
	lookup("hit, copied from the organizations' table", true, true)
	lookup("hit, from the key's entry", true, true)
	wantCalls(t, s, 2, 1)
	if st := c.Stats(); st.OrgHits != 2 {
		t.Errorf("OrgHits = %d, want 2", st.OrgHits)
	}

	// The copy expires with the organization's entry (60 s), not the key's.
	if _, err := s.SetAPIEnabled(ctx, o, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	lookup("organization expired", false, false)
	if mustEnabled(t, c, o) {
		t.Fatal("organization still on after a store read")
	}
	lookup("new answer copied", false, true)
	lookup("new answer from the key's entry", false, true)

	// An invalidation of the organization drops the copy with the key.
	if _, err := s.SetAPIEnabled(ctx, o, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.Apply(keycache.Change{OrgID: o})
	lookup("after invalidation", false, false)
	if !mustEnabled(t, c, o) {
		t.Fatal("organization off after invalidation")
	}
	lookup("switched on", true, true)

	// While the feed is down, a copy older than StaleAfter is not used.
	c.MarkFeedUnhealthy()
	clk.Advance(keycache.DefaultStaleAfter + time.Second)
	lookup("stale", false, false)
	wantCalls(t, s, 4, 3)
}
