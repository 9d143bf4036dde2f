package keycache_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
)

// randomRaw returns n well-formed keys no store holds.
func randomRaw(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		raw, _, err := auth.Generate("joby", auth.EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = raw.Reveal()
	}
	return out
}

// authHandler is the authentication middleware on c, with the
// failed-authentication throttle, answering 200 to authenticated requests.
func authHandler(t testing.TB, c *keycache.Cache) http.Handler {
	t.Helper()
	th, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.New(auth.Options{Store: c, Orgs: c, Prefix: "joby", Throttle: th})
	if err != nil {
		t.Fatal(err)
	}
	return mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
}

func send(h http.Handler, key string) int {
	r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestRandomKeysCostFewStoreReadsWhileFeedHealthy: 10,000 random
// well-formed keys from one address cost at most 100 store reads (the
// filter's false positives; about 5 expected) while the feed is healthy,
// on SQLite and PostgreSQL; valid keys keep working throughout.
func TestRandomKeysCostFewStoreReadsWhileFeedHealthy(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		o := org(t, s, true)
		var valid []issued
		for range 50 {
			valid = append(valid, issue(t, s, o))
		}
		c := newCache(t, keycache.Options{Store: s, Orgs: s})
		if err := c.LoadFilter(t.Context()); err != nil {
			t.Fatal(err)
		}
		c.MarkFeedHealthy(time.Hour)
		h := authHandler(t, c)
		for i, k := range randomRaw(t, 10_000) {
			if code := send(h, k); code != 401 {
				t.Fatalf("random key %d: %d, want 401", i, code)
			}
		}
		st := c.Stats()
		t.Logf("10,000 random keys: %d store reads, %d filter rejects, filter of %d ids in %d bytes", st.Reads, st.FilterRejects, st.FilterIDs, st.FilterBytes)
		if st.Reads > 100 {
			t.Errorf("%d store reads, want at most 100", st.Reads)
		}
		for _, k := range valid {
			if code := send(h, k.raw); code != 200 {
				t.Fatalf("valid key after the flood: %d", code)
			}
		}
	})
}

// TestUnhealthyFeedStoreReadsThrottledPerAddress: while the feed is
// unhealthy the filter cannot say "absent", so unknown ids are read from the
// store, and those reads are what the per-address throttle limits (429 with
// Retry-After); a valid key the cache never saw is still served.
func TestUnhealthyFeedStoreReadsThrottledPerAddress(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	c := newCache(t, keycache.Options{Store: s, Orgs: s, PublicIDs: s.Memory})
	k := issue(t, s, o)
	if err := c.LoadFilter(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := authHandler(t, c) // the feed never marked healthy
	codes := map[int]int{}
	for _, raw := range randomRaw(t, 1000) {
		codes[send(h, raw)]++
	}
	if codes[401] != ratelimit.DefaultFailedAuthPerMinute || codes[429] != 1000-ratelimit.DefaultFailedAuthPerMinute {
		t.Errorf("answers %v, want %d 401s then 429s", codes, ratelimit.DefaultFailedAuthPerMinute)
	}
	if n := s.lookups.Load(); n != ratelimit.DefaultFailedAuthPerMinute {
		t.Errorf("%d store reads, want %d", n, ratelimit.DefaultFailedAuthPerMinute)
	}
	if code := send(h, k.raw); code != 200 {
		t.Fatalf("valid key from the throttled address: %d, want 200", code)
	}
}

// TestKeyHint covers each answer of the hint.
func TestKeyHint(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	loaded := issue(t, s, o)
	c := newCache(t, keycache.Options{Store: s, Orgs: s, PublicIDs: s.Memory})
	const nobody = "0000000000000000"
	if h := c.KeyHint(loaded.PublicID); h != auth.KeyUnknown {
		t.Fatalf("before LoadFilter: %v, want unknown", h)
	}
	if err := c.LoadFilter(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := c.KeyHint(loaded.PublicID); h != auth.KeyPresent {
		t.Errorf("loaded id: %v, want present", h)
	}
	if h := c.KeyHint(nobody); h != auth.KeyUnknown {
		t.Errorf("unknown id, feed unhealthy: %v, want unknown", h)
	}
	c.MarkFeedHealthy(time.Hour)
	if h := c.KeyHint(nobody); h != auth.KeyAbsent {
		t.Errorf("unknown id, feed healthy: %v, want absent", h)
	}
	later := issue(t, s, o)
	if h := c.KeyHint(later.PublicID); h != auth.KeyAbsent {
		t.Errorf("unannounced new id: %v, want absent", h)
	}
	c.Apply(keycache.Change{OrgID: o, KeyID: later.ID, PublicID: later.PublicID})
	if h := c.KeyHint(later.PublicID); h != auth.KeyPresent {
		t.Errorf("announced new id: %v, want present", h)
	}
	// A flush does not make the filter forget, nor incomplete.
	c.Flush()
	if h := c.KeyHint(later.PublicID); h != auth.KeyPresent {
		t.Errorf("after a flush: %v, want present", h)
	}
	// A "not found" cached while the feed was down is absent too.
	c.MarkFeedUnhealthy()
	if _, err := c.LookupKey(context.Background(), nobody); err == nil {
		t.Fatal("lookup of an unknown id succeeded")
	}
	if h := c.KeyHint(nobody); h != auth.KeyAbsent {
		t.Errorf("negatively cached id: %v, want absent", h)
	}
}

// TestCreatedDuringLoadFilterKept: an id announced while the filter is being
// reloaded from a listing that did not include it stays in the filter.
func TestCreatedDuringLoadFilterKept(t *testing.T) {
	t.Parallel()
	s := newSpy()
	o := org(t, s, true)
	issue(t, s, o)
	started, release := make(chan struct{}), make(chan struct{})
	lister := listerFunc(func(ctx context.Context, fn func(string)) error {
		close(started)
		<-release
		return s.Memory.ListPublicIDs(ctx, fn)
	})
	c := newCache(t, keycache.Options{Store: s, Orgs: s, PublicIDs: lister})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.LoadFilter(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	<-started
	c.Created("createdDuringLd0")
	if c.Stats().FilterComplete {
		t.Error("filter complete during a reload")
	}
	close(release)
	wg.Wait()
	c.MarkFeedHealthy(time.Hour)
	if h := c.KeyHint("createdDuringLd0"); h != auth.KeyPresent {
		t.Errorf("id created during the reload: %v, want present", h)
	}
	if !c.Stats().FilterComplete {
		t.Error("filter not complete after the reload")
	}
}

type listerFunc func(ctx context.Context, fn func(string)) error

func (f listerFunc) ListPublicIDs(ctx context.Context, fn func(string)) error { return f(ctx, fn) }

// BenchmarkRandomKeys sends random well-formed keys through the middleware
// on a cache whose feed is healthy (the filter answers) and reports the
// store reads per 10,000 keys.
func BenchmarkRandomKeys(b *testing.B) {
	s := newSpy()
	o := org(b, s, true)
	for range 10_000 {
		issue(b, s, o)
	}
	c := newCache(b, keycache.Options{Store: s, Orgs: s, PublicIDs: s.Memory})
	if err := c.LoadFilter(context.Background()); err != nil {
		b.Fatal(err)
	}
	c.MarkFeedHealthy(time.Hour)
	h := authHandler(b, c)
	keys := randomRaw(b, 10_000)
	reqs := make([]*http.Request, len(keys))
	for i, k := range keys {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		reqs[i].RemoteAddr = "192.0.2.1:1234"
		reqs[i].Header.Set("Authorization", "Bearer "+k)
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, reqs[i%len(reqs)])
		i++
	}
	b.ReportMetric(float64(c.Stats().Reads)*10_000/float64(i), "reads/10k-keys")
}
