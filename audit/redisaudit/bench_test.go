package redisaudit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/redisaudit"
	"gatehouse.dev/internal/dbtest"
)

// benchEntries returns n entries spread over 16 keys of one organization,
// newer than any before (seq counts entries made so far).
func benchEntries(seq *int, n int) []audit.Entry {
	es := make([]audit.Entry, n)
	for i := range es {
		*seq++
		es[i] = audit.Entry{
			Time:           time.UnixMilli(1_700_000_000_000 + int64(*seq)),
			RequestID:      fmt.Sprintf("0b8f1a52-7a53-4f0e-9d6c-%012d", *seq),
			KeyID:          fmt.Sprintf("8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e%02d", *seq%16),
			OrganizationID: "3f1d2c4b-5a69-4788-9abc-def012345678",
			Method:         "GET",
			Route:          "/v1/leads/{id}",
			Path:           "/v1/leads/5b1c6d1e-0000-4000-8000-000000000001",
			Status:         200,
			DurationMS:     3,
			IP:             "203.0.113.7",
			UserAgent:      "Zapier/2.0",
		}
	}
	return es
}

// BenchmarkWrite measures Store.Write (one pipeline, one script call per
// touched key) at batch sizes 1, 16 and 128, beside the naive write of one
// MULTI (ZADD, ZREMRANGEBYRANK, PEXPIRE) round trip per entry, on a single
// Redis and, when GATEHOUSE_TEST_REDIS_CLUSTER is set, on the cluster. The
// entries/s metric is the throughput.
func BenchmarkWrite(b *testing.B) {
	clients := []struct {
		name string
		get  func(testing.TB) redis.UniversalClient
	}{
		{"single", func(tb testing.TB) redis.UniversalClient { return dbtest.Redis(tb) }},
	}
	if len(dbtest.RedisClusterAddrs()) > 0 {
		clients = append(clients, struct {
			name string
			get  func(testing.TB) redis.UniversalClient
		}{"cluster", func(tb testing.TB) redis.UniversalClient { return dbtest.RedisCluster(tb) }})
	}
	for _, c := range clients {
		for _, size := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/batch=%d", c.name, size), func(b *testing.B) {
				s := newStore(b, c.get(b), redisaudit.Options{})
				seq, n := 0, 0
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := s.Write(ctx, benchEntries(&seq, size)); err != nil {
						b.Fatal(err)
					}
					n += size
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
			})
		}
		b.Run(c.name+"/naive", func(b *testing.B) {
			rc := c.get(b)
			s := newStore(b, rc, redisaudit.Options{})
			seq, n := 0, 0
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e := benchEntries(&seq, 1)[0].Normalized()
				key := s.Key(e.OrganizationID, e.KeyID)
				if _, err := rc.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.ZAdd(ctx, key, redis.Z{Score: float64(e.Time.UnixMilli()), Member: redisaudit.Encode(e)})
					p.ZRemRangeByRank(ctx, key, 0, -51)
					p.PExpire(ctx, key, redisaudit.DefaultTTL)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkEncode is the cost of the compact member encoding, beside JSON.
func BenchmarkEncode(b *testing.B) {
	e := benchEntries(new(int), 1)[0]
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		var size int
		for b.Loop() {
			size = len(redisaudit.Encode(e))
		}
		b.ReportMetric(float64(size), "bytes")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var size int
		for b.Loop() {
			j, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			size = len(j)
		}
		b.ReportMetric(float64(size), "bytes")
	})
}
