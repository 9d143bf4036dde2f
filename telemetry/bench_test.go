package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
)

// benchModes are the telemetry set-ups every benchmark compares in one
// run: without the decorators (plain), decorated with no SDK installed
// (the global providers, as a library user without OpenTelemetry has
// them), and decorated with the SDK on (every span sampled and ended,
// every metric aggregated; no exporter, so the figures are gatehouse's
// instrumentation and the SDK, not I/O).
var benchModes = []string{"plain", "off", "sdk"}

// benchTelemetry returns the instruments of mode ("plain" gets nil).
func benchTelemetry(b *testing.B, mode string) *telemetry.Instruments {
	b.Helper()
	var opts telemetry.Options
	switch mode {
	case "plain":
		return nil
	case "sdk":
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		})
		opts.TracerProvider, opts.MeterProvider = tp, mp
	}
	tel, err := telemetry.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	return tel
}

// benchChain builds the public chain on a key cache (warm after the first
// request) and the in-process limiter, decorated when tel is not nil.
func benchChain(b *testing.B, tel *telemetry.Instruments) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	if _, err := store.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "A", APIEnabled: true}); err != nil {
		b.Fatal(err)
	}
	raw, k, err := auth.NewKey("joby", auth.EnvLive, auth.Key{
		OrganizationID: "org-1", Name: "bench", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 300,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	var keys auth.Store = store
	var orgs auth.OrgChecker = store
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var lim ratelimit.Limiter = mem
	if tel != nil {
		keys, orgs, lim = tel.Store(store), tel.Orgs(store), tel.Limiter(mem)
	}
	cache, err := keycache.New(keycache.Options{Store: keys, Orgs: orgs})
	if err != nil {
		b.Fatal(err)
	}
	authn, err := auth.New(auth.Options{Store: cache, Orgs: cache, Prefix: "joby"})
	if err != nil {
		b.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Options{Limiter: lim, Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
		// A limit the benchmark never reaches: every request is allowed.
		c, ok := gatehouse.CallerFromContext(r.Context())
		return c.LineageID(), ratelimit.PerMinute(1 << 30), ok
	}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	body := []byte(`{"data":[]}`)
	mux.Handle("GET /v1/leads", scope.Require("leads:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	})))
	inner := authn.Wrap(limiter.Wrap(gatehouse.RecordRoute(mux)))
	if tel != nil {
		inner = tel.Middleware(inner)
	}
	return gatehouse.RequestID(inner), "Bearer " + raw.Reveal()
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the chain, not httptest.ResponseRecorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkChainCacheHit is a full request whose key is in the cache:
// auth, in-process limiter, router, scope, handler.
func BenchmarkChainCacheHit(b *testing.B) {
	for _, mode := range benchModes {
		b.Run("mode="+mode, func(b *testing.B) {
			h, authz := benchChain(b, benchTelemetry(b, mode))
			r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
			r.Header.Set("Authorization", authz)
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r) // warm the cache
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkChainTraced is BenchmarkChainCacheHit inside a recording
// server span of the host's own HTTP instrumentation (made by the SDK in
// both modes): what gatehouse adds to a service that traces every request
// (the span enrichment and the request metrics; a cache hit makes no span).
func BenchmarkChainTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	host := tp.Tracer("host")
	for _, mode := range []string{"plain", "sdk"} {
		b.Run("mode="+mode, func(b *testing.B) {
			h, authz := benchChain(b, benchTelemetry(b, mode))
			traced := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, span := host.Start(r.Context(), "GET /v1/leads")
				h.ServeHTTP(w, r.WithContext(ctx))
				span.End()
			})
			r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
			r.Header.Set("Authorization", authz)
			w := &discardWriter{h: http.Header{}}
			traced.ServeHTTP(w, r)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				traced.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkStoreMiss is one key lookup that reaches the (memory) store:
// the span and the latency histogram of a cache miss.
func BenchmarkStoreMiss(b *testing.B) {
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	_, k, err := auth.NewKey("joby", auth.EnvLive, auth.Key{OrganizationID: "org-1", Name: "n", Scopes: scope.NewSet("a:b"), RateLimitPerMinute: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	for _, mode := range benchModes {
		b.Run("mode="+mode, func(b *testing.B) {
			var s auth.Store = store
			if tel := benchTelemetry(b, mode); tel != nil {
				s = tel.Store(store)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.LookupKey(ctx, k.PublicID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLimiter is one decision of the in-process limiter (counted, no
// span) and of a limiter that does I/O (counted and traced; the I/O is
// left out).
func BenchmarkLimiter(b *testing.B) {
	ctx := context.Background()
	lim := ratelimit.PerMinute(1 << 30)
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	io := ratelimit.LimiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{Limit: l, Allowed: true}, nil
	})
	for _, kind := range []struct {
		name string
		l    ratelimit.Limiter
	}{{"memory", mem}, {"io", io}} {
		for _, mode := range benchModes {
			b.Run("kind="+kind.name+"/mode="+mode, func(b *testing.B) {
				l := kind.l
				if tel := benchTelemetry(b, mode); tel != nil {
					l = tel.Limiter(l)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.Allow(ctx, "key", lim); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRedisHook is the hook around one command, without the I/O.
func BenchmarkRedisHook(b *testing.B) {
	ctx := context.Background()
	next := func(ctx context.Context, cmd redis.Cmder) error { return nil }
	cmd := redis.NewStringCmd(ctx, "get", "k")
	for _, mode := range benchModes {
		b.Run("mode="+mode, func(b *testing.B) {
			h := redis.ProcessHook(next)
			if tel := benchTelemetry(b, mode); tel != nil {
				h = tel.RedisHook().ProcessHook(next)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = h(ctx, cmd)
			}
		})
	}
}

// BenchmarkSQLQuery is one query of one row on SQLite through the
// connector.
func BenchmarkSQLQuery(b *testing.B) {
	ctx := context.Background()
	for _, mode := range benchModes {
		b.Run("mode="+mode, func(b *testing.B) {
			var opts sqldb.Options
			if tel := benchTelemetry(b, mode); tel != nil {
				opts.WrapConnector = tel.Connector
			}
			db, _, err := sqldb.OpenWith(filepath.Join(b.TempDir(), "bench.db"), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var n int
			stmt := "SELECT ? + 1"
			b.ReportAllocs()
			for b.Loop() {
				if err := db.QueryRowContext(ctx, stmt, 1).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogHandler is one log line of a request (discarded).
func BenchmarkLogHandler(b *testing.B) {
	ctx := gatehouse.NewRequestContext(context.Background(), "0190b4d2-7a3e-7c4f-9d1e-2b3c4d5e6f70")
	for _, mode := range []string{"plain", "wrapped"} {
		b.Run("mode="+mode, func(b *testing.B) {
			var h slog.Handler = slog.NewJSONHandler(io.Discard, nil)
			if mode == "wrapped" {
				h = telemetry.LogHandler(h)
			}
			l := slog.New(h)
			b.ReportAllocs()
			for b.Loop() {
				l.InfoContext(ctx, "request", "status", 200)
			}
		})
	}
}
