package telemetry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/telemetry"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	if _, err := telemetry.New(telemetry.Options{MaxRoutes: -1}); err == nil {
		t.Error("negative MaxRoutes accepted")
	}
	tel, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"ObserveLimiter": func() error { _, err := tel.ObserveLimiter(nil); return err },
		"ObserveAudit":   func() error { _, err := tel.ObserveAudit(nil); return err },
		"ObserveCache":   func() error { _, err := tel.ObserveCache(nil); return err },
	} {
		if f() == nil {
			t.Errorf("%s(nil) succeeded", name)
		}
	}
}

// TestMiddlewareOff: without an SDK (the global providers, or the no-op
// ones) and without a recording span, the middleware hands the request on
// as it is.
func TestMiddlewareOff(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]telemetry.Options{
		"global": {},
		"noop":   {TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()},
	} {
		tel, err := telemetry.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		var got http.ResponseWriter
		tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = w })).
			ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if got != w {
			t.Errorf("%s: the middleware wrapped the writer with telemetry off", name)
		}
	}
}

// TestOffAllocations: with telemetry off the decorated hot path allocates
// exactly what the undecorated one does.
func TestOffAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	tel, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	redisLike := ratelimit.LimiterFunc(func(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{Allowed: true}, nil
	})
	hook := tel.RedisHook().ProcessHook(func(ctx context.Context, cmd redis.Cmder) error { return nil })
	cmd := redis.NewStatusCmd(ctx, "ping")
	lim := ratelimit.PerMinute(1 << 20)
	dStore, dMem, dRedisLike := tel.Store(store), tel.Limiter(mem), tel.Limiter(redisLike)
	for _, tc := range []struct {
		name       string
		plain, dec func()
	}{
		{"Store", func() { _, _ = store.LookupKey(ctx, "0123456789abcdef") },
			func() { _, _ = dStore.LookupKey(ctx, "0123456789abcdef") }},
		{"Memory limiter", func() { _, _ = mem.Allow(ctx, "k", lim) },
			func() { _, _ = dMem.Allow(ctx, "k", lim) }},
		{"I/O limiter", func() { _, _ = redisLike.Allow(ctx, "k", lim) },
			func() { _, _ = dRedisLike.Allow(ctx, "k", lim) }},
		{"Redis hook", func() {}, func() { _ = hook(ctx, cmd) }},
	} {
		plain := testing.AllocsPerRun(100, tc.plain)
		dec := testing.AllocsPerRun(100, tc.dec)
		if dec > plain {
			t.Errorf("%s: %.0f allocations decorated, %.0f plain", tc.name, dec, plain)
		}
	}
}

func TestMaxRoutes(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{MaxRoutes: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := gatehouse.RequestID(tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.SetRoute(r.Context(), "GET "+r.URL.Path)
	})))
	for _, p := range []string{"/a", "/b", "/c", "/d", "/a"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	rm := s.collect(t)
	for r, want := range map[string]int64{"/a": 2, "/b": 1, telemetry.RouteOther: 2} {
		if got := sum(t, rm, "gatehouse.requests", route(r)); got != want {
			t.Errorf("route %s: %d, want %d", r, got, want)
		}
	}
	if got := sum(t, rm, "gatehouse.requests", outcome(telemetry.OutcomeNone)); got != 5 {
		t.Errorf("outcome none: %d, want 5", got)
	}
}

func TestMiddlewarePanicAndOutcomes(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	h := gatehouse.RequestID(tel.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic(http.ErrAbortHandler)
		case "/odd":
			gatehouse.SetOutcome(r.Context(), "something-new")
		case "/limited":
			gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeAuthenticated)
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/odd", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/limited", nil))
	rm := s.collect(t)
	for o, want := range map[string]int64{telemetry.OutcomeError: 1, telemetry.OutcomeOther: 1, gatehouse.OutcomeRateLimited: 1} {
		if got := sum(t, rm, "gatehouse.requests", outcome(o)); got != want {
			t.Errorf("outcome %s: %d, want %d", o, got, want)
		}
	}
}
