package keycache_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
)

type benchStore interface {
	auth.KeyStore
	auth.OrgStore
}

// backends are the stores compared with and without the cache: memory,
// SQLite, and PostgreSQL (skipped when unreachable and not required).
var backends = []struct {
	name string
	open func(b *testing.B) benchStore
}{
	{"memory", func(b *testing.B) benchStore { return auth.NewMemory(auth.MemoryOptions{}) }},
	{"sqlite", func(b *testing.B) benchStore { return sqlStore(b, dbtest.SQLite(b), tenancy.SQLite) }},
	{"postgres", func(b *testing.B) benchStore { return sqlStore(b, dbtest.Postgres(b), tenancy.Postgres) }},
}

func sqlStore(b *testing.B, db *sql.DB, d tenancy.Dialect) *sqlstore.Store {
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

// variants are the store itself and the cache in front of it.
func variants(b *testing.B, s benchStore) []struct {
	name string
	keys auth.Store
	orgs auth.OrgChecker
} {
	c := newCache(b, keycache.Options{Store: s, Orgs: s})
	return []struct {
		name string
		keys auth.Store
		orgs auth.OrgChecker
	}{{"cache=off", s, s}, {"cache=on", c, c}}
}

// BenchmarkLookupKey is the bare lookup of a valid and of an unknown public
// id, on the store and through the cache (a hit after the first lookup).
func BenchmarkLookupKey(b *testing.B) {
	ctx := context.Background()
	for _, be := range backends {
		b.Run("store="+be.name, func(b *testing.B) {
			s := be.open(b)
			k := issue(b, s, org(b, s, true))
			for _, v := range variants(b, s) {
				for _, tc := range []struct {
					name, publicID string
					want           error
				}{{"valid", k.PublicID, nil}, {"unknown", "0123456789abcdef", auth.ErrNotFound}} {
					b.Run("key="+tc.name+"/"+v.name, func(b *testing.B) {
						_, _ = v.keys.LookupKey(ctx, tc.publicID) // the cache's miss
						b.ReportAllocs()
						for b.Loop() {
							if _, err := v.keys.LookupKey(ctx, tc.publicID); !errors.Is(err, tc.want) {
								b.Fatal(err)
							}
						}
					})
				}
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware authenticates a request with a valid key through
// auth.Middleware (parse, SHA-256, lookup, constant-time compare, expiry,
// organization check, context values), on the store and through the cache.
func BenchmarkMiddleware(b *testing.B) {
	for _, be := range backends {
		b.Run("store="+be.name, func(b *testing.B) {
			s := be.open(b)
			k := issue(b, s, org(b, s, true))
			for _, v := range variants(b, s) {
				b.Run(v.name, func(b *testing.B) {
					mw, err := auth.New(auth.Options{Store: v.keys, Orgs: v.orgs, Prefix: "joby"})
					if err != nil {
						b.Fatal(err)
					}
					served := 0
					h := mw.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }))
					r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
					r.Header.Set("Authorization", "Bearer "+k.raw)
					w := &discard{h: http.Header{}}
					h.ServeHTTP(w, r) // the cache's miss
					served = 0
					b.ReportAllocs()
					for b.Loop() {
						h.ServeHTTP(w, r)
					}
					if served != b.N {
						b.Fatalf("served %d of %d requests", served, b.N)
					}
				})
			}
		})
	}
}
