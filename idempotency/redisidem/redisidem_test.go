package redisidem_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/idemtest"
	"gatehouse.dev/idempotency/redisidem"
	"gatehouse.dev/internal/dbtest"
)

func TestSuite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return dbtest.Redis(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return dbtest.RedisCluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.client(t)
			idemtest.Run(t, idemtest.Options{
				OwnClock: true,
				New: func(t *testing.T, _ func() time.Time) idempotency.Store {
					s, err := redisidem.New(redisidem.Options{Client: c, Prefix: dbtest.Prefix(t)})
					if err != nil {
						t.Fatal(err)
					}
					return s
				},
			})
		})
	}
}

// TestKeys: keys are hash-tagged, carry the prefix, expire with the lock
// and then with the TTL.
func TestKeys(t *testing.T) {
	t.Parallel()
	c := dbtest.Redis(t)
	prefix := dbtest.Prefix(t)
	s, err := redisidem.New(redisidem.Options{Client: c, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	k := s.Key("scope", "{weird}key")
	if !strings.HasPrefix(k, prefix+"idem:{") || !strings.HasSuffix(k, "}") || len(k) != len(prefix)+len("idem:{")+32+1 {
		t.Fatalf("key %q", k)
	}
	if s.Key("scope", "a") == s.Key("scop", "ea") {
		t.Fatal("scope and key are not separated")
	}
	ctx := context.Background()
	ref := idempotency.Ref{Scope: "scope", Key: "{weird}key", Token: "t1"}
	if _, err := s.Claim(ctx, idempotency.Claim{Ref: ref, Fingerprint: "fp", Lock: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Del(context.Background(), k) })
	if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 30*time.Second {
		t.Fatalf("lock TTL %v", ttl)
	}
	if err := s.Complete(ctx, ref, idempotency.Response{Status: 201}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, k).Val(); ttl <= 30*time.Second || ttl > time.Hour {
		t.Fatalf("TTL after complete %v", ttl)
	}
	if _, err := s.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Scope: "s", Key: "k", Token: "a\nb"}, Fingerprint: "fp"}); err == nil {
		t.Fatal("token with a newline accepted")
	}
	if _, err := redisidem.New(redisidem.Options{}); err == nil {
		t.Fatal("nil client accepted")
	}
	if _, err := redisidem.New(redisidem.Options{Client: c, Prefix: "a{b}"}); err == nil {
		t.Fatal("prefix with braces accepted")
	}
}
