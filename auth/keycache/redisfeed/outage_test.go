package redisfeed_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/redisfeed"
	"gatehouse.dev/internal/dbtest"
)

// logRecorder keeps the messages logged through it.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRedisOutage cuts pod B off Redis (a proxy on loopback closes its
// connections). B keeps serving valid keys, refuses at once a key revoked
// through itself, refuses a key revoked elsewhere once its cached entry is
// older than StaleAfter, logs the outage once; when Redis is back it drops
// its cache, appends the change it could not publish, and pod A (whose
// feed never failed) learns about it.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.Redis(t)
	m := auth.NewMemory(auth.MemoryOptions{})
	org := newOrg(t, m, true)
	valid, revokedByA, revokedByB := issue(t, m, org), issue(t, m, org), issue(t, m, org)
	stream := streamName(t)

	a := startPod(t, m, stream, podOptions{})
	px := newProxy(t, dbtest.RedisAddr())
	clock := &manualClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	logs := &logRecorder{}
	const staleAfter = 5 * time.Second
	b := startPod(t, m, stream, podOptions{
		client: newClient(t, px.addr()),
		cache:  keycache.Options{Now: clock.now, StaleAfter: staleAfter},
		feed:   redisfeed.Options{Logger: slog.New(logs)},
	})
	for _, p := range []*pod{a, b} {
		for _, k := range []issued{valid, revokedByA, revokedByB} {
			if code, body := p.do(k.raw); code != 200 {
				t.Fatalf("%d %s", code, body)
			}
		}
	}
	resyncs := b.feed.Stats().Resyncs

	px.cut()
	eventually(t, "B's feed noticing the outage", func() bool {
		return !b.feed.Stats().Healthy && !b.cache.Stats().FeedHealthy
	})

	// Revoked through A: A at once; B still has its entry (younger than
	// StaleAfter), so the old state is served for a bounded time.
	if _, err := m.RevokeKey(ctx, org, revokedByA.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a.feed.Publish(ctx, keycache.Change{OrgID: org, KeyID: revokedByA.ID}); err != nil {
		t.Fatal(err)
	}
	if code, _ := a.do(revokedByA.raw); code != 401 {
		t.Errorf("A after revoking: %d, want 401", code)
	}
	if code, _ := b.do(revokedByA.raw); code != 200 {
		t.Errorf("B before StaleAfter: %d, want the cached 200 (the bound is StaleAfter, not zero)", code)
	}

	// Revoked through B: the append fails, B refuses at once anyway.
	if _, err := m.RevokeKey(ctx, org, revokedByB.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.feed.Publish(ctx, keycache.Change{OrgID: org, KeyID: revokedByB.ID}); err == nil {
		t.Error("Publish with Redis unreachable returned nil")
	}
	if code, body := b.do(revokedByB.raw); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("B after revoking through itself: %d %s, want 401 revoked", code, body)
	}
	if st := b.feed.Stats(); st.Pending != 1 || st.PublishErrors == 0 {
		t.Errorf("B's feed: %+v, want the change kept", st)
	}

	// StaleAfter passes on B's clock: B reads the store again.
	clock.advance(staleAfter)
	if code, _ := b.do(revokedByA.raw); code != 401 {
		t.Errorf("B after StaleAfter: %d, want 401", code)
	}
	if code, _ := b.do(valid.raw); code != 200 {
		t.Errorf("B, valid key during the outage: %d, want 200", code)
	}
	if st := b.cache.Stats(); st.Stale == 0 {
		t.Errorf("B's cache: %+v, want stale re-reads", st)
	}
	// A has not heard of B's revocation: its feed is healthy and nothing
	// reached the stream.
	if code, _ := a.do(revokedByB.raw); code != 200 {
		t.Errorf("A before recovery: %d, want its cached 200", code)
	}

	flushes := b.cache.Stats().Flushes
	px.restore()
	eventually(t, "B's feed back", func() bool {
		st := b.feed.Stats()
		return st.Healthy && st.Resyncs > resyncs
	})
	eventually(t, "B's kept change reaching A", func() bool { code, _ := a.do(revokedByB.raw); return code == 401 })
	if st := b.feed.Stats(); st.Pending != 0 || st.ReadErrors == 0 {
		t.Errorf("B's feed after recovery: %+v", st)
	}
	if cs := b.cache.Stats(); cs.Flushes <= flushes || !cs.FeedHealthy {
		t.Errorf("B's cache after recovery: %+v, want it dropped and the feed healthy", cs)
	}
	for _, tc := range []struct {
		k    issued
		code int
	}{{valid, 200}, {revokedByA, 401}, {revokedByB, 401}} {
		for _, p := range []*pod{a, b} {
			if code, _ := p.do(tc.k.raw); code != tc.code {
				t.Errorf("after recovery: %d, want %d", code, tc.code)
			}
		}
	}
	if n := logs.count("feed is down"); n != 1 {
		t.Errorf("outage logged %d times, want once", n)
	}
	if n := logs.count("feed is back"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

// TestPendingCollapse: changes that could not be appended are kept up to
// MaxPending, then collapse into one "drop everything".
func TestPendingCollapse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := auth.NewMemory(auth.MemoryOptions{})
	px := newProxy(t, dbtest.RedisAddr())
	px.cut()
	p := startPod(t, m, streamName(t), podOptions{client: newClient(t, px.addr()), feed: redisfeed.Options{MaxPending: 3}, noRun: true})
	for i, want := range []int{1, 2, 3, 1, 1} {
		if err := p.feed.Publish(ctx, keycache.Change{OrgID: "o", KeyID: string(rune('a' + i))}); err == nil {
			t.Fatal("Publish succeeded through a cut proxy")
		}
		if got := p.feed.Stats().Pending; got != want {
			t.Errorf("after %d failed publishes: %d pending, want %d", i+1, got, want)
		}
	}
	// The collapsed change reaches other pods as "drop everything".
	other := startPod(t, m, p.feed.Stream(), podOptions{})
	flushes := other.cache.Stats().Flushes
	px.restore()
	p.run(t)
	eventually(t, "the collapsed change", func() bool { return other.cache.Stats().Flushes > flushes })
	eventually(t, "the append counted", func() bool { return p.feed.Stats().Published == 1 })
	if st := p.feed.Stats(); st.Pending != 0 || st.Published != 1 {
		t.Errorf("publishing feed after recovery: %+v, want one append", st)
	}
}
