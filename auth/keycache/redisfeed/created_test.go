package redisfeed_test

import (
	"context"
	"testing"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
)

// TestKeyCreatedReachesEveryPod: with the feed healthy, a public id no pod
// has heard of is refused without a store read; once the "key created"
// change is published through pod 0, every pod serves the key (pod 0 at
// once), with one store read each.
func TestKeyCreatedReachesEveryPod(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ctx := context.Background()
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stream := streamName(t)
		pods := []*pod{startPod(t, s, stream, podOptions{}), startPod(t, s, stream, podOptions{})}
		org := newOrg(t, s, true)
		k := issue(t, s, org) // created behind the pods' backs
		for i, p := range pods {
			if code, _ := p.do(k.raw); code != 401 {
				t.Fatalf("pod %d, key not announced: %d, want 401", i, code)
			}
			if st := p.cache.Stats(); st.Reads != 0 || st.FilterRejects != 1 {
				t.Fatalf("pod %d: %+v, want no store read and one filter reject", i, st)
			}
		}
		if err := pods[0].feed.Publish(ctx, keycache.Change{OrgID: org, KeyID: k.ID, PublicID: k.PublicID}); err != nil {
			t.Fatal(err)
		}
		if code, body := pods[0].do(k.raw); code != 200 {
			t.Fatalf("publishing pod: %d %s", code, body)
		}
		eventually(t, "the created change on pod 1", func() bool { return pods[1].cache.KeyHint(k.PublicID) == auth.KeyPresent })
		if code, body := pods[1].do(k.raw); code != 200 {
			t.Fatalf("pod 1: %d %s", code, body)
		}
		for i, p := range pods {
			if st := p.cache.Stats(); st.Reads != 1 {
				t.Errorf("pod %d: %d store reads, want 1", i, st.Reads)
			}
		}
	})
}

// TestResyncReloadsFilter: keys created while a pod's feed could not read
// (so it missed their "key created" changes) are in its filter again once
// the feed resyncs.
func TestResyncReloadsFilter(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	org := newOrg(t, m, true)
	p := startPod(t, m, streamName(t), podOptions{noRun: true})
	k := issue(t, m, org)
	if h := p.cache.KeyHint(k.PublicID); h != auth.KeyUnknown {
		t.Fatalf("before the feed runs: hint %v, want unknown (filter not loaded)", h)
	}
	p.run(t)
	eventually(t, "first read", func() bool { return p.feed.Stats().Healthy })
	if h := p.cache.KeyHint(k.PublicID); h != auth.KeyPresent {
		t.Fatalf("after the resync: hint %v, want present", h)
	}
	if !p.cache.Stats().FilterComplete {
		t.Error("filter not complete after the resync")
	}
	if h := p.cache.KeyHint("0000000000000000"); h != auth.KeyAbsent {
		t.Errorf("unknown id with a healthy feed: %v, want absent", h)
	}
}
