package redisfeed_test

import (
	"context"
	"database/sql"
	"runtime"
	"slices"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
)

// BenchmarkPropagation measures how long a revocation takes to reach
// another pod: from Publish on pod A (after the store write) until pod B's
// cache, which held the key, answers it revoked (B's feed reads the entry,
// drops the key, and B reads the store again). Each iteration is one
// revocation of a fresh key; the percentiles over the iterations are
// reported as p50-ns, p99-ns and max-ns, and Publish's own latency (one
// XADD) as publish-p50-ns. Run with -benchtime=50x for 50 revocations.
func BenchmarkPropagation(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(b *testing.B) stores
	}{
		{"memory", func(b *testing.B) stores { return auth.NewMemory(auth.MemoryOptions{}) }},
		{"sqlite", func(b *testing.B) stores { return benchSQL(b, dbtest.SQLite(b), tenancy.SQLite) }},
		{"postgres", func(b *testing.B) stores { return benchSQL(b, dbtest.Postgres(b), tenancy.Postgres) }},
	} {
		b.Run("store="+be.name, func(b *testing.B) {
			ctx := context.Background()
			s := be.open(b)
			stream := streamName(b)
			// Block only bounds how long an idle XREAD waits: an XADD
			// wakes the reader at once, so the tests' short Block does
			// not change the figures.
			a := startPod(b, s, stream, podOptions{})
			pb := startPod(b, s, stream, podOptions{})
			org := newOrg(b, s, true)
			var seen, publish []time.Duration
			for b.Loop() {
				k := issue(b, s, org)
				for _, p := range []*pod{a, pb} {
					if _, err := p.cache.LookupKey(ctx, k.PublicID); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := s.RevokeKey(ctx, org, k.ID, time.Now()); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := a.feed.Publish(ctx, keycache.Change{OrgID: org, KeyID: k.ID}); err != nil {
					b.Fatal(err)
				}
				publish = append(publish, time.Since(start))
				for {
					got, err := pb.cache.LookupKey(ctx, k.PublicID)
					if err != nil {
						b.Fatal(err)
					}
					if got.Revoked() {
						break
					}
					if time.Since(start) > 10*time.Second {
						b.Fatal("the revocation did not reach pod B within 10s")
					}
					runtime.Gosched()
				}
				seen = append(seen, time.Since(start))
			}
			slices.Sort(seen)
			slices.Sort(publish)
			b.ReportMetric(float64(percentile(seen, 50)), "p50-ns")
			b.ReportMetric(float64(percentile(seen, 99)), "p99-ns")
			b.ReportMetric(float64(seen[len(seen)-1]), "max-ns")
			b.ReportMetric(float64(percentile(publish, 50)), "publish-p50-ns")
		})
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)]
}

func benchSQL(b *testing.B, db *sql.DB, d tenancy.Dialect) *sqlstore.Store {
	b.Helper()
	s, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: d})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}
