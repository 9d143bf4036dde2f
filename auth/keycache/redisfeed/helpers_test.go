package redisfeed_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/redisfeed"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
)

// testBlock keeps XREAD short so that Run ends quickly when a test does.
const testBlock = 100 * time.Millisecond

// ceiling bounds every wait for another pod to see a change.
const ceiling = 2 * time.Second

// stores is what a pod's cache wraps and the tests write to.
type stores interface {
	auth.KeyStore
	auth.OrgStore
}

// pod is one simulated process: its own Redis client, cache, feed (whose
// Run runs until the test ends) and authentication middleware.
type pod struct {
	client redis.UniversalClient
	cache  *keycache.Cache
	feed   *redisfeed.Feed
	h      http.Handler
}

type podOptions struct {
	client redis.UniversalClient // default: a new client of the test Redis
	cache  keycache.Options      // Store and Orgs are filled in
	feed   redisfeed.Options     // Client, Cache, Stream and Block filled in
	noRun  bool
}

// newClient returns a new client of the test Redis (skipping or failing
// the test when it is unreachable), closed when the test ends.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	if addr == "" {
		dbtest.Redis(t) // reachability
		addr = dbtest.RedisAddr()
	}
	c := redis.NewClient(&redis.Options{
		Addr: addr, MaxRetries: -1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startPod(t testing.TB, s stores, stream string, o podOptions) *pod {
	t.Helper()
	if o.client == nil {
		o.client = newClient(t, "")
	}
	o.cache.Store, o.cache.Orgs = s, s
	c, err := keycache.New(o.cache)
	if err != nil {
		t.Fatal(err)
	}
	o.feed.Client, o.feed.Cache, o.feed.Stream = o.client, c, stream
	if o.feed.Block == 0 {
		o.feed.Block = testBlock
	}
	if o.feed.MaxBackoff == 0 {
		o.feed.MaxBackoff = 100 * time.Millisecond
	}
	f, err := redisfeed.New(o.feed)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.New(auth.Options{Store: c, Orgs: c, Prefix: "joby"})
	if err != nil {
		t.Fatal(err)
	}
	p := &pod{client: o.client, cache: c, feed: f, h: mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		granted, _ := scope.FromContext(r.Context())
		_, _ = io.WriteString(w, strings.Join(granted.Strings(), ","))
	}))}
	if !o.noRun {
		p.run(t)
		eventually(t, "the feed's first read", func() bool { st := f.Stats(); return st.Resyncs > 0 && st.Healthy })
	}
	return p
}

// run runs the feed until the test ends.
func (p *pod) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.feed.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of its context ending")
		}
	})
}

// do sends a request with the key and returns the status and body.
func (p *pod) do(key string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

// eventually polls cond every millisecond until it holds or the ceiling
// passes, and returns how long it took.
func eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > ceiling {
			t.Fatalf("%s: not within %v", what, ceiling)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// streamName returns a fresh stream key for the test, with a hash tag.
func streamName(t testing.TB) string {
	return "{" + dbtest.Prefix(t) + "}keycache"
}

// issued is a stored key with its raw form.
type issued struct {
	auth.Key
	raw string
}

func newOrg(t testing.TB, s auth.OrgStore, on bool) string {
	t.Helper()
	o, err := s.CreateOrg(context.Background(), auth.Org{Name: "org", APIEnabled: on})
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

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

func revoked(k auth.Key) bool { return k.Revoked() }

// proxy is a TCP proxy on loopback in front of Redis whose traffic a test
// can cut (open connections are closed, new ones are closed at once) and
// restore.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
