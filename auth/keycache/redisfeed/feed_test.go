package redisfeed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/redisfeed"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/scope"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	c, err := keycache.New(keycache.Options{Store: m, Orgs: m})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		opts redisfeed.Options
		ok   bool
	}{
		{"defaults", redisfeed.Options{Client: rdb, Cache: c}, true},
		{"no client", redisfeed.Options{Cache: c}, false},
		{"no cache", redisfeed.Options{Client: rdb}, false},
		{"negative MaxLen", redisfeed.Options{Client: rdb, Cache: c, MaxLen: -1}, false},
		{"negative Block", redisfeed.Options{Client: rdb, Cache: c, Block: -1}, false},
		{"sub-millisecond Block", redisfeed.Options{Client: rdb, Cache: c, Block: time.Microsecond}, false},
		{"negative MaxPending", redisfeed.Options{Client: rdb, Cache: c, MaxPending: -1}, false},
		{"negative MaxBackoff", redisfeed.Options{Client: rdb, Cache: c, MaxBackoff: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := redisfeed.New(tc.opts)
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && f.Stream() != redisfeed.DefaultStream {
				t.Errorf("Stream() = %q, want %q", f.Stream(), redisfeed.DefaultStream)
			}
		})
	}
}

// TestPropagation: three pods with their own clients and caches over one
// store (SQLite, PostgreSQL). A change made through pod 0 shows on pod 0's
// very next request and on pods 1 and 2 within the ceiling.
func TestPropagation(t *testing.T) {
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
		// Keys that exist before the pods start are in their filters.
		org := newOrg(t, s, true)
		revokeMe, rescope, orgKey := issue(t, s, org), issue(t, s, org), issue(t, s, newOrg(t, s, true))
		orgOfKey := orgKey.OrganizationID
		pods := make([]*pod, 3)
		for i := range pods {
			pods[i] = startPod(t, s, stream, podOptions{})
		}

		// Every pod caches every key.
		for i, p := range pods {
			for _, k := range []issued{revokeMe, rescope, orgKey} {
				for range 2 {
					if code, body := p.do(k.raw); code != 200 {
						t.Fatalf("pod %d: %d %s", i, code, body)
					}
				}
			}
		}

		for _, tc := range []struct {
			name   string
			change func() keycache.Change
			key    issued
			code   int
			body   string
		}{
			{"revoke", func() keycache.Change {
				if _, err := s.RevokeKey(ctx, org, revokeMe.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				return keycache.Change{OrgID: org, KeyID: revokeMe.ID}
			}, revokeMe, 401, "API key revoked"},
			{"scopes", func() keycache.Change {
				sc := scope.NewSet("leads:read", "tasks:update")
				if _, err := s.UpdateKey(ctx, org, rescope.ID, auth.KeyUpdate{Scopes: &sc}, time.Now()); err != nil {
					t.Fatal(err)
				}
				return keycache.Change{OrgID: org, KeyID: rescope.ID}
			}, rescope, 200, "leads:read,tasks:update"},
			{"organization off", func() keycache.Change {
				if _, err := s.SetAPIEnabled(ctx, orgOfKey, false, time.Now()); err != nil {
					t.Fatal(err)
				}
				return keycache.Change{OrgID: orgOfKey}
			}, orgKey, 403, "API access is not enabled"},
		} {
			ch := tc.change()
			if err := pods[0].feed.Publish(ctx, ch); err != nil {
				t.Fatalf("%s: Publish: %v", tc.name, err)
			}
			if code, body := pods[0].do(tc.key.raw); code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%s: the publishing pod answered %d %s on the next request, want %d %q", tc.name, code, body, tc.code, tc.body)
			}
			for i, p := range pods[1:] {
				took := eventually(t, fmt.Sprintf("%s on pod %d", tc.name, i+1), func() bool {
					code, body := p.do(tc.key.raw)
					return code == tc.code && strings.Contains(body, tc.body)
				})
				t.Logf("%s: pod %d after %v", tc.name, i+1, took)
			}
		}
		for i, p := range pods {
			st := p.feed.Stats()
			if st.Resyncs != 1 || st.ReadErrors != 0 || st.Gaps != 0 {
				t.Errorf("pod %d feed: %+v, want one resync, no errors, no gaps", i, st)
			}
			want := uint64(3)
			if i == 0 {
				want = 0 // its own entries are skipped
			}
			if st.Received != want {
				t.Errorf("pod %d received %d changes, want %d", i, st.Received, want)
			}
			if cs := p.cache.Stats(); !cs.FeedHealthy || cs.Invalidations != 3 {
				t.Errorf("pod %d cache: %+v, want a healthy feed and 3 invalidations", i, cs)
			}
		}
		if st := pods[0].feed.Stats(); st.Published != 3 || st.PublishErrors != 0 {
			t.Errorf("publishing feed: %+v", st)
		}
	})
}

// TestStartDropsCache: Run drops what the cache held before it started.
func TestStartDropsCache(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	k := issue(t, m, newOrg(t, m, true))
	p := startPod(t, m, streamName(t), podOptions{noRun: true})
	if code, _ := p.do(k.raw); code != 200 {
		t.Fatal(code)
	}
	if cs := p.cache.Stats(); cs.Entries != 1 || cs.FeedHealthy {
		t.Fatalf("before Run: %+v", cs)
	}
	p.run(t)
	eventually(t, "first read", func() bool { return p.feed.Stats().Healthy })
	if cs := p.cache.Stats(); cs.Entries != 0 || cs.Flushes != 1 || !cs.FeedHealthy {
		t.Errorf("after Run started: %+v, want the cache dropped and the feed healthy", cs)
	}
}

// TestRunStops: Run returns soon after its context ends, marks the cache
// unhealthy, and refuses to run twice at once.
func TestRunStops(t *testing.T) {
	t.Parallel()
	m := auth.NewMemory(auth.MemoryOptions{})
	p := startPod(t, m, streamName(t), podOptions{noRun: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.feed.Run(ctx) }()
	eventually(t, "first read", func() bool { return p.cache.Stats().FeedHealthy })
	if err := p.feed.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run returned nil, want an error")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * testBlock):
		t.Fatal("Run did not return within 5×Block")
	}
	if p.cache.Stats().FeedHealthy || p.feed.Stats().Healthy {
		t.Error("the feed is still healthy after Run returned")
	}
}

// TestTrimmedStream: entries trimmed away before a pod read them make it
// drop its whole cache.
func TestTrimmedStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewMemory(auth.MemoryOptions{})
	org := newOrg(t, m, true)
	missedKey, other := issue(t, m, org), issue(t, m, org)
	stream := streamName(t)
	p := startPod(t, m, stream, podOptions{})
	for _, k := range []issued{missedKey, other} {
		if code, _ := p.do(k.raw); code != 200 {
			t.Fatal(code)
		}
	}
	flushes := p.cache.Stats().Flushes

	// Another pod revokes a key, and the entry is trimmed away in the
	// same transaction, before this pod can read it.
	if _, err := m.RevokeKey(ctx, org, missedKey.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	rdb := newClient(t, "")
	if _, err := rdb.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		pp.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"o", org, "k", missedKey.ID, "s", "another-pod"}})
		pp.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"o", org, "k", other.ID, "s", "another-pod"}})
		pp.XTrimMaxLen(ctx, stream, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A later entry about something else.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"o", "x", "k", "unrelated", "s", "another-pod"}}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the gap noticed", func() bool { return p.feed.Stats().Gaps > 0 })
	if st := p.cache.Stats(); st.Flushes <= flushes {
		t.Errorf("cache flushes = %d, want more than %d", st.Flushes, flushes)
	}
	if code, body := p.do(missedKey.raw); code != 401 {
		t.Errorf("revoked key whose entry was trimmed: %d %s, want 401", code, body)
	}
	if st := p.feed.Stats(); st.Gaps != 1 || st.ReadErrors != 0 {
		t.Errorf("feed: %+v, want exactly one gap and no errors", st)
	}
	// Reading goes on normally after the gap.
	before := p.feed.Stats().Received
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"o", org, "k", other.ID, "s", "another-pod"}}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "an entry after the gap", func() bool { return p.feed.Stats().Received > before })
	if st := p.feed.Stats(); st.Gaps != 1 {
		t.Errorf("gaps = %d after reading on, want 1", st.Gaps)
	}
}

// TestUnreadableEntry: an entry without the expected fields drops the
// cache rather than being ignored.
func TestUnreadableEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewMemory(auth.MemoryOptions{})
	k := issue(t, m, newOrg(t, m, true))
	stream := streamName(t)
	p := startPod(t, m, stream, podOptions{})
	p.do(k.raw)
	flushes := p.cache.Stats().Flushes
	rdb := newClient(t, "")
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"future", "format"}}).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the entry applied", func() bool { return p.cache.Stats().Flushes > flushes })
	if st := p.cache.Stats(); st.Entries != 0 {
		t.Errorf("cache entries = %d, want 0", st.Entries)
	}
}

// TestMaxLen: the stream stays near MaxLen however many changes are
// published.
func TestMaxLen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewMemory(auth.MemoryOptions{})
	stream := streamName(t)
	p := startPod(t, m, stream, podOptions{feed: redisfeed.Options{MaxLen: 100}})
	for i := range 1000 {
		if err := p.feed.Publish(ctx, keycache.Change{OrgID: "o", KeyID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := p.client.XLen(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole radix tree nodes (100 entries by default).
	if n < 100 || n > 300 {
		t.Errorf("stream length %d after 1000 appends with MaxLen 100", n)
	}
}

// TestCluster runs the propagation on a Redis Cluster.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewMemory(auth.MemoryOptions{})
	org := newOrg(t, m, true)
	k := issue(t, m, org)
	stream := streamName(t)
	var pods []*pod
	for range 2 {
		pods = append(pods, startPod(t, m, stream, podOptions{client: dbtest.RedisCluster(t)}))
	}
	for _, p := range pods {
		if code, _ := p.do(k.raw); code != 200 {
			t.Fatal(code)
		}
	}
	if _, err := m.RevokeKey(ctx, org, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := pods[0].feed.Publish(ctx, keycache.Change{OrgID: org, KeyID: k.ID}); err != nil {
		t.Fatal(err)
	}
	if code, _ := pods[0].do(k.raw); code != 401 {
		t.Errorf("publishing pod: %d, want 401", code)
	}
	eventually(t, "revocation on the other pod", func() bool { code, _ := pods[1].do(k.raw); return code == 401 })
}
