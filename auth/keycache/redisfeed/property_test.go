package redisfeed_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache/internal/proptest"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
)

// TestProperty runs the shared property test (see package proptest) with
// three pods whose changes travel through Redis: several goroutines
// create, rescope and revoke keys through random pods and verify them
// through random pods; answers never go back once a pod applied a change,
// the pod making a change sees it at once, and all pods converge.
func TestProperty(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, s stores, keyReads stores, writers, ops int) {
		ctx := context.Background()
		o, err := s.CreateOrg(ctx, auth.Org{Name: "prop", APIEnabled: true})
		if err != nil {
			t.Fatal(err)
		}
		stream := streamName(t)
		pods := make([]proptest.Pod, 3)
		var all []*pod
		for i := range pods {
			p := startPod(t, keyReads, stream, podOptions{})
			all = append(all, p)
			pods[i] = proptest.Pod{Cache: p.cache, Change: p.feed.Publish}
		}
		res := proptest.Run(t, proptest.Config{
			Store: s, OrgID: o.ID, Pods: pods,
			Writers: writers, Readers: 4, OpsPerWriter: ops, OpsPerReader: 10 * ops,
		})
		t.Logf("%+v", res)
		for i, p := range all {
			if st := p.feed.Stats(); st.ReadErrors != 0 || st.Gaps != 0 || st.PublishErrors != 0 {
				t.Errorf("pod %d feed: %+v", i, st)
			}
		}
	}
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		m := auth.NewMemory(auth.MemoryOptions{})
		run(t, m, slowStore{m}, 3, 150)
	})
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		run(t, s, s, 2, 40)
	})
}

// slowStore yields the processor a random number of times around each
// read, so that reads overlap with changes as a database round trip does.
type slowStore struct{ *auth.Memory }

func (s slowStore) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	yield(rand.IntN(100))
	k, err := s.Memory.LookupKey(ctx, publicID)
	yield(rand.IntN(100))
	return k, err
}

func yield(n int) {
	for range n {
		runtime.Gosched()
	}
}
