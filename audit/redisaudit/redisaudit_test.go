package redisaudit_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/audittest"
	"gatehouse.dev/audit/redisaudit"
	"gatehouse.dev/internal/dbtest"
)

// cleanup deletes the test's keys (nothing is ever flushed).
func cleanup(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		del := func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		switch c := c.(type) {
		case *redis.ClusterClient:
			_ = c.ForEachMaster(ctx, del)
		case *redis.Client:
			_ = del(ctx, c)
		}
	})
}

func newStore(t testing.TB, c redis.UniversalClient, opts redisaudit.Options) *redisaudit.Store {
	t.Helper()
	opts.Client = c
	if opts.Prefix == "" {
		opts.Prefix = dbtest.Prefix(t)
	}
	cleanup(t, c, opts.Prefix)
	s, err := redisaudit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		c := dbtest.Redis(t)
		audittest.Run(t, func(t *testing.T) audittest.Log { return newStore(t, c, redisaudit.Options{}) })
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := dbtest.RedisCluster(t)
		audittest.Run(t, func(t *testing.T) audittest.Log { return newStore(t, c, redisaudit.Options{}) })
	})
}

// proxy forwards TCP connections to Redis until it is switched down, which
// closes every connection and refuses new ones.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		_ = ln.Close()
		p.setDown(true)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func TestFaultsRedisDown(t *testing.T) {
	t.Parallel()
	dbtest.Redis(t) // skips or fails when Redis is unreachable
	p := newProxy(t, dbtest.RedisAddr())
	c := redis.NewClient(&redis.Options{
		Addr: p.ln.Addr().String(), DialTimeout: 100 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, MaxRetries: -1,
	})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, redisaudit.Options{})
	res := audittest.RunFaults(t, s, func(*testing.T) { p.setDown(true) }, func(*testing.T) { p.setDown(false) })
	t.Logf("redis down: %d requests, p50 %v, max %v, stats %+v", res.Requests, res.P50, res.MaxLatency, res.Stats)
}

func TestChainNoSecrets(t *testing.T) {
	t.Parallel()
	c := dbtest.Redis(t)
	s := newStore(t, c, redisaudit.Options{})
	var logs bytes.Buffer
	res := audittest.RunChain(t, s, slog.New(slog.NewTextHandler(&logs, nil)))
	key := s.Key(res.OrgID, res.KeyID)
	var stored bytes.Buffer
	members, err := c.ZRange(t.Context(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		stored.WriteString(m)
	}
	if !strings.Contains(stored.String(), "/v1/leads/123") {
		t.Fatal("the stored members do not hold the recorded paths: the scan looks at the wrong place")
	}
	dump, err := c.Dump(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	stored.WriteString(dump)
	stored.WriteString(key)
	for _, sec := range res.Secrets {
		if strings.Contains(stored.String(), sec) || strings.Contains(logs.String(), sec) {
			t.Errorf("the secret %q is stored or logged", sec)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	t.Parallel()
	c := dbtest.Redis(t)
	s := newStore(t, c, redisaudit.Options{Prefix: "p:" + dbtest.Prefix(t), TTL: time.Hour})
	if got := s.Key("org", "key"); !strings.HasSuffix(got, "audit:{3:org:key}") {
		t.Fatalf("Key = %q", got)
	}
	e := audit.Entry{Time: time.UnixMilli(1_700_000_000_123), RequestID: "r1", KeyID: "key", OrganizationID: "org", Method: "GET", Path: "/x", Status: 200}
	if err := s.Write(t.Context(), []audit.Entry{e}); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(t.Context(), s.Key("org", "key")).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("PTTL = %v, %v; want about an hour", ttl, err)
	}
	zs, err := c.ZRangeWithScores(t.Context(), s.Key("org", "key"), 0, -1).Result()
	if err != nil || len(zs) != 1 || zs[0].Score != 1_700_000_000_123 || !strings.HasPrefix(zs[0].Member.(string), "r1\x00") {
		t.Fatalf("stored %+v, %v", zs, err)
	}
}

// noScriptHook answers the first pipeline of EVALSHA calls with NOSCRIPT,
// as a Redis whose script cache was flushed (restart, failover) would.
type noScriptHook struct {
	mu     sync.Mutex
	failed int
	evals  int
}

type noScriptErr struct{}

func (noScriptErr) Error() string { return "NOSCRIPT No matching script. Please use EVAL." }
func (noScriptErr) RedisError()   {}

func (h *noScriptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *noScriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *noScriptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			if c.Name() == "eval" {
				h.evals++
			}
		}
		fail := h.failed == 0 && len(cmds) > 0 && cmds[0].Name() == "evalsha"
		if fail {
			h.failed++
		}
		h.mu.Unlock() // next may run hooks again (connection setup)
		if fail {
			for _, c := range cmds {
				c.SetErr(noScriptErr{})
			}
			return noScriptErr{}
		}
		return next(ctx, cmds)
	}
}

func TestScriptReloadedAfterNoScript(t *testing.T) {
	t.Parallel()
	dbtest.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: dbtest.RedisAddr()})
	t.Cleanup(func() { _ = c.Close() })
	hook := &noScriptHook{}
	c.AddHook(hook)
	s := newStore(t, c, redisaudit.Options{})
	for i := range 2 {
		e := audit.Entry{Time: time.UnixMilli(int64(i)), RequestID: fmt.Sprint(i), KeyID: "k", OrganizationID: "o"}
		if err := s.Write(t.Context(), []audit.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Latest(t.Context(), "o", "k")
	if err != nil || len(got) != 2 {
		t.Fatalf("Latest = %v, %v", got, err)
	}
	if hook.failed != 1 || hook.evals != 1 {
		t.Fatalf("NOSCRIPT answered %d times, EVAL sent %d times; want 1 and 1", hook.failed, hook.evals)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("r1\x001\x00GET\x00/v1/leads/{id}\x00/v1/leads/1\x00200\x003\x00203.0.113.7\x00curl/8")
	f.Add("r\x001\x00\x00\x00\x000\x000\x00\x00")
	f.Add("r\x002\x00GET")
	f.Add("g\x002\x00POST\x00/v1/graphql\x00/v1/graphql\x00200\x003\x00::1\x00ua\x00leads leadCreate")
	f.Add("")
	f.Fuzz(func(t *testing.T, m string) {
		e, err := redisaudit.Decode(m)
		if err != nil {
			return
		}
		if again := redisaudit.Encode(e); again != m {
			// Numbers may be written differently ("+1", "01"); decoding
			// the re-encoding must give the same entry.
			e2, err := redisaudit.Decode(again)
			if err != nil || !reflect.DeepEqual(e2, e) {
				t.Fatalf("round trip: %q → %+v → %q → %+v, %v", m, e, again, e2, err)
			}
		}
	})
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []audit.Entry{
		{},
		{RequestID: "0b8f1a52-7a53-4f0e-9d6c-2b1f3f0c2e11", Method: "PATCH", Route: "/v1/leads/{id}", Path: "/v1/leads/x", Status: 429, DurationMS: 12345, IP: "2001:db8::1", UserAgent: "agent ✓"},
		{RequestID: "r", Status: -1, DurationMS: -5},
		{RequestID: "g", Method: "POST", Route: "/v1/graphql", Status: 200, UserAgent: "ua", Operations: []string{"leads", "leadCreate", "__schema"}},
		{RequestID: "g", Operations: []string{"leads"}},
	} {
		got, err := redisaudit.Decode(redisaudit.Encode(e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", e, got, err)
		}
	}
}
