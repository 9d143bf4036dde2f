package keycache_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/internal/proptest"
)

// TestProperty runs the shared property test with changes delivered to the
// other caches in process, each by its own goroutine after a random delay
// (the Redis feed's version is in package redisfeed). Every cache's feed is
// marked healthy, so entries live for their whole TTL and the deliveries
// are the only way a cache learns about changes made elsewhere.
func TestProperty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	o, err := store.CreateOrg(ctx, auth.Org{Name: "prop", APIEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	caches := make([]*keycache.Cache, n)
	inbox := make([]chan keycache.Change, n)
	var deliveries sync.WaitGroup
	for i := range caches {
		caches[i] = newCache(t, keycache.Options{Store: slowStore{store}, Orgs: store, MaxEntries: 64})
		caches[i].MarkFeedHealthy(time.Hour)
		inbox[i] = make(chan keycache.Change, 1024)
		deliveries.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			for ch := range inbox[i] {
				for range rng.IntN(200) {
					runtime.Gosched()
				}
				caches[i].Apply(ch)
			}
		})
	}
	pods := make([]proptest.Pod, n)
	for i := range pods {
		pods[i] = proptest.Pod{Cache: caches[i], Change: func(_ context.Context, ch keycache.Change) error {
			caches[i].Apply(ch)
			for j := range inbox {
				if j != i {
					inbox[j] <- ch
				}
			}
			return nil
		}}
	}
	var closeOnce sync.Once
	stop := func() {
		closeOnce.Do(func() {
			for _, c := range inbox {
				close(c)
			}
			deliveries.Wait()
		})
	}
	t.Cleanup(stop)
	res := proptest.Run(t, proptest.Config{
		Store: store, OrgID: o.ID, Pods: pods,
		Writers: 3, Readers: 4, OpsPerWriter: 300, OpsPerReader: 3000,
		BeforeConverge: stop,
		Pause: func() {
			for range 20 {
				runtime.Gosched()
			}
		},
	})
	t.Logf("%+v", res)
	for i, c := range caches {
		t.Logf("cache %d: %+v", i, c.Stats())
	}
}

// slowStore yields the processor a random number of times around each
// read, so that reads overlap with changes and invalidations as they do
// with a real database round trip.
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
