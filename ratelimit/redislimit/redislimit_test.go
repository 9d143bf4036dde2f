package redislimit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/ratelimittest"
	"gatehouse.dev/ratelimit/redislimit"
)

// offline is a client of a port nobody listens on: New does no I/O, and
// every call fails at once.
func offline(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	c := offline(t)
	cases := []struct {
		name string
		opts redislimit.Options
		want string
	}{
		{"no client", redislimit.Options{}, "Options.Client is required"},
		{"open brace", redislimit.Options{Client: c, Prefix: "app{x:"}, "must not contain"},
		{"close brace", redislimit.Options{Client: c, Prefix: "app}:"}, "must not contain"},
		{"policy", redislimit.Options{Client: c, Policy: 7}, "unknown Options.Policy"},
		{"negative timeout", redislimit.Options{Client: c, Timeout: -1}, "must not be negative"},
		{"negative replicas", redislimit.Options{Client: c, Replicas: -2}, "must not be negative"},
		{"negative batch", redislimit.Options{Client: c, MaxBatch: -1}, "must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := redislimit.New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
}

// quiet is a logger for limiters whose failures are the point of the test.
var quiet = slog.New(slog.DiscardHandler)

var keyPattern = regexp.MustCompile(`^\{[0-9a-f]{32}\}$`)

// hashTag returns the part of key Redis Cluster hashes for its slot.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func checkKey(t *testing.T, l *redislimit.Limiter, prefix, id string) string {
	t.Helper()
	k := l.RedisKey(id)
	rest, ok := strings.CutPrefix(k, prefix)
	if !ok || !keyPattern.MatchString(rest) {
		t.Fatalf("RedisKey(%.40q) = %q, want %q + {32 hex digits}", id, k, prefix)
	}
	if tag := hashTag("rate:" + k); tag != rest[1:33] {
		t.Fatalf("RedisKey(%.40q): hash tag %q, want the digest", id, tag)
	}
	if again := l.RedisKey(id); again != k {
		t.Fatalf("RedisKey(%.40q) not deterministic: %q then %q", id, k, again)
	}
	return k
}

func TestRedisKey(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "svc:rl:", "a b", "ünï:"} {
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		if prefix == "" {
			prefix = redislimit.DefaultPrefix
		}
		seen := map[string]string{}
		for _, id := range ratelimittest.WeirdKeys() {
			k := checkKey(t, l, prefix, id)
			if other, dup := seen[k]; dup {
				t.Fatalf("ids %.40q and %.40q share key %s", other, id, k)
			}
			seen[k] = id
		}
	}
}

func FuzzRedisKey(f *testing.F) {
	for _, k := range ratelimittest.WeirdKeys() {
		f.Add(k, k+"x")
	}
	f.Add("a", "b")
	l, err := redislimit.New(redislimit.Options{Client: offline(f), Prefix: "fuzz:"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka := checkKey(t, l, "fuzz:", a)
		kb := checkKey(t, l, "fuzz:", b)
		if (a == b) != (ka == kb) {
			t.Fatalf("ids %q and %q: keys %q and %q", a, b, ka, kb)
		}
	})
}

// TestKeysInRedis: the bucket lives under rate:<RedisKey>, expires, and on a
// Cluster sits in the slot of its hash tag.
func TestKeysInRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Minute}
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return dbtest.RedisCluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := tc.client(t)
			l := newLimiter(t, client, redislimit.Options{})
			for _, id := range ratelimittest.WeirdKeys() {
				if _, err := l.Allow(ctx, id, lim); err != nil {
					t.Fatal(err)
				}
				key := "rate:" + l.RedisKey(id)
				ttl, err := client.TTL(ctx, key).Result()
				if err != nil || ttl <= 0 || ttl > 7*time.Second {
					t.Fatalf("TTL %s = %s, %v; want the key to exist with about 6 s to live", key, ttl, err)
				}
				if cc, ok := client.(*redis.ClusterClient); ok {
					got, err := cc.ClusterKeySlot(ctx, key).Result()
					if err != nil {
						t.Fatal(err)
					}
					want, _ := cc.ClusterKeySlot(ctx, hashTag(key)).Result()
					if got != want {
						t.Fatalf("slot of %s = %d, want %d (its hash tag's)", key, got, want)
					}
				}
			}
			if s := l.Stats(); s.RedisErrors != 0 || s.Allowed != uint64(len(ratelimittest.WeirdKeys())) {
				t.Fatalf("Stats %+v", s)
			}
		})
	}
}

func TestDenyCacheSavesRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t, dbtest.Redis(t), redislimit.Options{})
	lim := ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Hour}
	for range 2 {
		if r, err := l.Allow(ctx, "k", lim); err != nil || !r.Allowed {
			t.Fatalf("burst: %+v, %v", r, err)
		}
	}
	first, err := l.Allow(ctx, "k", lim)
	if err != nil || first.Allowed {
		t.Fatalf("third: %+v, %v", first, err)
	}
	before := l.Stats()
	for range 10 {
		r, err := l.Allow(ctx, "k", lim)
		if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > first.RetryAfter {
			t.Fatalf("cached denial: %+v, %v", r, err)
		}
		p, err := l.Peek(ctx, "k", lim)
		if err != nil || p.Allowed {
			t.Fatalf("cached peek: %+v, %v", p, err)
		}
	}
	after := l.Stats()
	if after.RoundTrips != before.RoundTrips || after.DenyCacheHits != before.DenyCacheHits+20 || after.Limited != before.Limited+10 {
		t.Fatalf("Stats before %+v\nafter %+v: want no round trip, 20 cache hits, 10 more limited", before, after)
	}
	// A changed limit is not answered from the cache.
	if r, err := l.Allow(ctx, "k", ratelimit.Limit{Rate: 2, Burst: 4, Period: time.Hour}); err != nil || !r.Allowed {
		t.Fatalf("raised burst: %+v, %v; want allowed by Redis", r, err)
	}
	if s := l.Stats(); s.RoundTrips != after.RoundTrips+1 {
		t.Fatalf("raised burst: %d round trips, want 1", s.RoundTrips-after.RoundTrips)
	}
}

// TestPolicies checks each policy's answers, Allow and Peek, with Redis
// unreachable.
func TestPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Minute}
	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Replicas: 3, BreakerFailures: 1000})
		if err != nil {
			t.Fatal(err)
		}
		// ceil(10/3) = 4 per pod.
		for i := range 4 {
			p, err := l.Peek(ctx, "k", lim)
			if err != nil || !p.Allowed || p.Remaining != 4-i {
				t.Fatalf("peek %d: %+v, %v", i, p, err)
			}
			if r, err := l.Allow(ctx, "k", lim); err != nil || !r.Allowed || r.Remaining != 3-i {
				t.Fatalf("event %d: %+v, %v", i, r, err)
			}
		}
		if r, err := l.Allow(ctx, "k", lim); err != nil || r.Allowed {
			t.Fatalf("fifth event: %+v, %v; want denied", r, err)
		}
		if p, err := l.Peek(ctx, "k", lim); err != nil || p.Allowed {
			t.Fatalf("peek after: %+v, %v; want denied", p, err)
		}
		if s := l.Stats(); s.Allowed != 4 || s.Limited != 1 || s.FallbackDecisions != 10 || s.RedisErrors != 10 {
			t.Fatalf("Stats %+v", s)
		}
	})
	t.Run("fail open", func(t *testing.T) {
		t.Parallel()
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Policy: redislimit.FailOpen})
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if r, err := l.Allow(ctx, "k", lim); err != nil || !r.Allowed || r.Remaining != 9 {
				t.Fatalf("Allow: %+v, %v", r, err)
			}
			if p, err := l.Peek(ctx, "k", lim); err != nil || !p.Allowed || p.Remaining != 10 {
				t.Fatalf("Peek: %+v, %v", p, err)
			}
		}
	})
	t.Run("fail closed", func(t *testing.T) {
		t.Parallel()
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Policy: redislimit.FailClosed, BreakerFailures: 2, BreakerCooldown: 7 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			for _, op := range []func(context.Context, string, ratelimit.Limit) (ratelimit.Result, error){l.Allow, l.Peek} {
				_, err := op(ctx, "k", lim)
				var ge *gatehouse.Error
				if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.Msg != redislimit.MsgUnavailable {
					t.Fatalf("call %d: err %v, want the 503", i, err)
				}
				ra, _ := strconv.Atoi(ge.Header.Get("Retry-After"))
				if ra < 1 || ra > 7 {
					t.Fatalf("Retry-After %q, want 1..7", ge.Header.Get("Retry-After"))
				}
				if ge.Err == nil {
					t.Fatal("the 503 carries no cause")
				}
			}
		}
		if st := l.Status(); st.Backend != "fail-closed" || st.Breaker != redislimit.BreakerOpen {
			t.Fatalf("Status %+v", st)
		}
	})
}

// TestFailClosedResponse: the middleware writes the limiter's 503 as it is.
func TestFailClosedResponse(t *testing.T) {
	t.Parallel()
	l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Policy: redislimit.FailClosed})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := ratelimit.New(ratelimit.Options{
		Key:     func(*http.Request) (string, ratelimit.Limit, bool) { return "k", ratelimit.PerMinute(60), true },
		Limiter: l,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	gatehouse.RequestID(mw.Wrap(http.NotFoundHandler())).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/leads", nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || body["error"] != "Rate limiter unavailable" || body["request_id"] == "" || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d %v Retry-After %q", rec.Code, body, rec.Header().Get("Retry-After"))
	}
}

// TestCallerGone: a caller whose context has ended gets a policy decision
// without Redis being blamed.
func TestCallerGone(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, dbtest.Redis(t), redislimit.Options{BreakerFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 5 {
		if r, err := l.Allow(ctx, "k", ratelimit.PerMinute(60)); err != nil || !r.Allowed {
			t.Fatalf("Allow: %+v, %v", r, err)
		}
	}
	if s := l.Stats(); s.RedisErrors != 0 || s.Breaker != redislimit.BreakerClosed || s.FallbackDecisions != 5 {
		t.Fatalf("Stats %+v: want no Redis error, breaker closed, 5 policy decisions", s)
	}
}

// TestFailedAuthAcrossPods: failed authentications counted on one pod count
// on another: once that pod has seen the IP fail, it is refused before any
// key lookup.
func TestFailedAuthAcrossPods(t *testing.T) {
	t.Parallel()
	prefix := dbtest.Prefix(t)
	pods := make([]*ratelimit.FailedAuth, 2)
	for i := range pods {
		l := newLimiter(t, dbtest.Redis(t), redislimit.Options{Prefix: prefix})
		f, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: l, Limit: ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = f
	}
	r := httptest.NewRequest("GET", "/v1/leads", nil)
	r.RemoteAddr = "203.0.113.9:1234"
	for range 3 {
		if err := pods[1].Allow(r); err != nil {
			t.Fatalf("pod 1 before the failures: %v", err)
		}
		pods[0].Failed(r)
	}
	// Pod 1 has not seen this IP fail, so it does not ask Redis (requests
	// of clients that never fail cost no round trip). Its first failure
	// there makes the IP a suspect, and Redis, holding the 3 failures of
	// pod 0 as well, refuses it from then on.
	if err := pods[1].Allow(r); err != nil {
		t.Fatalf("pod 1 before any failure there: %v", err)
	}
	pods[1].Failed(r)
	err := pods[1].Allow(r)
	if gatehouse.StatusOf(err) != http.StatusTooManyRequests {
		t.Fatalf("pod 1 after 3 failures on pod 0 and 1 on pod 1: %v, want 429", err)
	}
	other := httptest.NewRequest("GET", "/v1/leads", nil)
	other.RemoteAddr = "203.0.113.10:1234"
	if err := pods[1].Allow(other); err != nil {
		t.Fatalf("another IP: %v", err)
	}
}

// TestBadReply: a server answering the script with the wrong shape gives
// errors (and policy decisions), never a panic.
func TestBadReply(t *testing.T) {
	t.Parallel()
	replies := map[string]string{
		"integer":       ":1\r\n",
		"short array":   "*2\r\n:1\r\n:2\r\n",
		"wrong types":   "*4\r\n$1\r\nx\r\n:2\r\n:3\r\n:4\r\n",
		"nil":           "$-1\r\n",
		"strings":       "*4\r\n:1\r\n:2\r\n$3\r\nabc\r\n$1\r\nx\r\n",
		"error":         "-ERR something\r\n",
		"nested arrays": "*4\r\n*0\r\n*0\r\n*0\r\n*0\r\n",
		"other cost":    "*4\r\n:7\r\n:2\r\n:-1\r\n:4\r\n",
		"bad value":     "*4\r\n:-2\r\n:0\r\n:0\r\n:0\r\n",
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr := fakeRedis(t, reply)
			client := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, ContextTimeoutEnabled: true, DisableIdentity: true})
			t.Cleanup(func() { _ = client.Close() })
			l, err := redislimit.New(redislimit.Options{Client: client, Timeout: time.Second, BreakerFailures: 100, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				r, err := l.Allow(context.Background(), "k", ratelimit.PerMinute(5))
				if err != nil || !r.Allowed {
					t.Fatalf("Allow: %+v, %v; want a fallback decision", r, err)
				}
			}
			if s := l.Stats(); s.RedisErrors != 3 || s.FallbackDecisions != 3 {
				t.Fatalf("Stats %+v: want 3 errors and 3 fallback decisions", s)
			}
		})
	}
}

// allowedReply is the script's answer "allowed, 4 left" for n keys.
func allowedReply(n int) string {
	return fmt.Sprintf("*%d\r\n", 4*n) + strings.Repeat(":1\r\n:4\r\n:-1\r\n:1000000\r\n", n)
}

// TestScriptFallbacks: a node without the script cached gets it by EVAL
// (NOSCRIPT), and a single node refusing keys of several slots in one
// script (CROSSSLOT, as some proxies do) gets one script call per key.
func TestScriptFallbacks(t *testing.T) {
	t.Parallel()
	var evals, evalshas, multi atomic.Int64
	addr := fakeRedisFunc(t, func(args []string) string {
		n, _ := strconv.Atoi(args[2])
		if strings.EqualFold(args[0], "evalsha") {
			evalshas.Add(1)
			if evalshas.Load() == 1 {
				return "-NOSCRIPT No matching script. Please use EVAL.\r\n"
			}
		} else {
			evals.Add(1)
		}
		if n > 1 {
			multi.Add(1)
			return "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
		}
		return allowedReply(n)
	})
	client := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, ContextTimeoutEnabled: true, DisableIdentity: true})
	t.Cleanup(func() { _ = client.Close() })
	l, err := redislimit.New(redislimit.Options{Client: client, Timeout: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r, err := l.Allow(ctx, "k", ratelimit.PerMinute(5)); err != nil || !r.Allowed || r.Remaining != 4 {
		t.Fatalf("first Allow: %+v, %v", r, err)
	}
	if evals.Load() != 1 {
		t.Fatalf("%d EVALs after NOSCRIPT, want 1", evals.Load())
	}
	// Concurrent callers until one round trip carried several keys and
	// was refused: every decision must still come from the server.
	for round := 0; multi.Load() == 0 && round < 50; round++ {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if r, err := l.Allow(ctx, strconv.Itoa(i), ratelimit.PerMinute(5)); err != nil || !r.Allowed || r.Remaining != 4 {
					t.Errorf("Allow: %+v, %v", r, err)
				}
			})
		}
		wg.Wait()
	}
	if multi.Load() == 0 {
		t.Skip("no round trip carried two decisions (machine too slow to overlap 16 callers)")
	}
	if s := l.Stats(); s.RedisErrors != 0 || s.FallbackDecisions != 0 {
		t.Fatalf("Stats %+v: want every decision from the server", s)
	}
	before := multi.Load()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { _, _ = l.Allow(ctx, strconv.Itoa(i), ratelimit.PerMinute(5)) })
	}
	wg.Wait()
	if multi.Load() != before {
		t.Fatalf("%d more multi-key scripts after CROSSSLOT, want none", multi.Load()-before)
	}
}

// TestSharesBucketsWithRedisRate: the limiter and github.com/go-redis/
// redis_rate on the same key count against one bucket, so pods of an
// earlier version (which ran redis_rate's script) and this one agree
// during a rolling deploy.
func TestSharesBucketsWithRedisRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := dbtest.Redis(t)
	l := newLimiter(t, client, redislimit.Options{DenyCacheSize: -1})
	rr := redis_rate.NewLimiter(client)
	lim := ratelimit.Limit{Rate: 6, Burst: 6, Period: time.Hour}
	rlim := redis_rate.Limit{Rate: 6, Burst: 6, Period: time.Hour}
	key := l.RedisKey("shared")
	for i := range 3 {
		r, err := l.Allow(ctx, "shared", lim)
		if err != nil || !r.Allowed || r.Remaining != 5-2*i {
			t.Fatalf("gatehouse event %d: %+v, %v; want Remaining %d", 2*i+1, r, err, 5-2*i)
		}
		rres, err := rr.Allow(ctx, key, rlim)
		if err != nil || rres.Allowed != 1 || rres.Remaining != 4-2*i {
			t.Fatalf("redis_rate event %d: %+v, %v; want Remaining %d", 2*i+2, rres, err, 4-2*i)
		}
		if !near(r.ResetAfter+lim.Emission(), rres.ResetAfter) {
			t.Fatalf("ResetAfter %s then %s, want one emission interval apart", r.ResetAfter, rres.ResetAfter)
		}
	}
	if r, err := l.Allow(ctx, "shared", lim); err != nil || r.Allowed || !near(r.RetryAfter, lim.Emission()) {
		t.Fatalf("seventh event: %+v, %v; want denied for about one emission interval", r, err)
	}
	if rres, err := rr.Allow(ctx, key, rlim); err != nil || rres.Allowed != 0 {
		t.Fatalf("seventh event by redis_rate: %+v, %v; want denied", rres, err)
	}
}

// near reports whether two durations measured on Redis's clock a round
// trip apart agree within a second.
func near(a, b time.Duration) bool { return a-b < time.Second && b-a < time.Second }

// fakeRedis serves a tiny RESP2 server that answers every EVAL/EVALSHA
// with reply and everything else with +OK; it returns its address.
func fakeRedis(t *testing.T, reply string) string {
	t.Helper()
	return fakeRedisFunc(t, func([]string) string { return reply })
}

// fakeRedisFunc is fakeRedis answering each EVAL/EVALSHA with script(args).
func fakeRedisFunc(t *testing.T, script func(args []string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				rd := bufio.NewReader(conn)
				for {
					args, err := readCommand(rd)
					if err != nil {
						return
					}
					out := "+OK\r\n"
					switch strings.ToLower(args[0]) {
					case "eval", "evalsha":
						out = script(args)
					case "hello":
						out = "-ERR unknown command 'HELLO'\r\n"
					case "ping":
						out = "+PONG\r\n"
					}
					if _, err := conn.Write([]byte(out)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP array of bulk strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("bad array length %q", line)
	}
	args := make([]string, n)
	for i := range args {
		line, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// TestAllowNDenyCache: a cached denial of a cost refuses that cost and
// more without a round trip, never a cheaper one.
func TestAllowNDenyCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLimiter(t, dbtest.Redis(t), redislimit.Options{})
	lim := ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Hour}
	if r, err := l.AllowN(ctx, "k", lim, 7); err != nil || !r.Allowed || r.Remaining != 3 {
		t.Fatalf("7 of 10: %+v, %v", r, err)
	}
	if r, err := l.AllowN(ctx, "k", lim, 5); err != nil || r.Allowed {
		t.Fatalf("5 with 3 left: %+v, %v; want denied", r, err)
	}
	before := l.Stats()
	for _, n := range []int{5, 6, 10} {
		if r, err := l.AllowN(ctx, "k", lim, n); err != nil || r.Allowed || r.RetryAfter <= 0 {
			t.Fatalf("cached denial of %d: %+v, %v", n, r, err)
		}
	}
	if s := l.Stats(); s.RoundTrips != before.RoundTrips || s.DenyCacheHits != before.DenyCacheHits+3 {
		t.Fatalf("costs 5, 6, 10 after a denial of 5: %d round trips, %d cache hits; want 0 and 3",
			s.RoundTrips-before.RoundTrips, s.DenyCacheHits-before.DenyCacheHits)
	}
	// Cheaper costs ask Redis, which has 3 left.
	if r, err := l.AllowN(ctx, "k", lim, 2); err != nil || !r.Allowed || r.Remaining != 1 {
		t.Fatalf("2 with 3 left after denials of 5: %+v, %v; want allowed", r, err)
	}
	if p, err := l.Peek(ctx, "k", lim); err != nil || !p.Allowed || p.Remaining != 1 {
		t.Fatalf("Peek with 1 left: %+v, %v; want allowed, Remaining 1", p, err)
	}
	if s := l.Stats(); s.RoundTrips != before.RoundTrips+2 {
		t.Fatalf("cost 2 and a peek: %d round trips, want 2", s.RoundTrips-before.RoundTrips)
	}
}

// TestAllowNFallback: during an outage the pod's share still lets a cost
// the bucket could pay through (its burst is at least the cost), a cost
// over the burst is refused, and FailOpen counts the cost.
func TestAllowNFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// 3000 points a minute, like a 60-a-minute key's GraphQL bucket.
	lim := ratelimit.Limit{Rate: 3000, Burst: 3000, Period: time.Minute}
	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Replicas: 200, BreakerFailures: 1000})
		if err != nil {
			t.Fatal(err)
		}
		// The share is 15 points, less than a cost of 41: the burst
		// of the share is raised to the cost.
		if r, err := l.AllowN(ctx, "k", lim, 41); err != nil || !r.Allowed || r.Remaining != 0 {
			t.Fatalf("cost 41 during the outage: %+v, %v; want allowed", r, err)
		}
		if r, err := l.AllowN(ctx, "k", lim, 41); err != nil || r.Allowed {
			t.Fatalf("second cost 41 at once: %+v, %v; want denied (the share refills at 15 a minute)", r, err)
		}
		if r, err := l.AllowN(ctx, "other", lim, 10); err != nil || !r.Allowed || r.Remaining != 5 {
			t.Fatalf("cost 10 of a share of 15: %+v, %v; want allowed with 5 left", r, err)
		}
		if r, err := l.AllowN(ctx, "other", lim, 3001); err != nil || r.Allowed || r.RetryAfter != time.Minute {
			t.Fatalf("cost over the burst: %+v, %v; want denied, RetryAfter the window", r, err)
		}
	})
	t.Run("fail open", func(t *testing.T) {
		t.Parallel()
		l, err := redislimit.New(redislimit.Options{Client: offline(t), Logger: quiet, Policy: redislimit.FailOpen})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := l.AllowN(ctx, "k", lim, 41); err != nil || !r.Allowed || r.Remaining != 3000-41 {
			t.Fatalf("fail-open cost 41: %+v, %v", r, err)
		}
	})
}
