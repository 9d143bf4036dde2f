package telemetry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/scope"
	"gatehouse.dev/telemetry"
)

// Example instruments an authenticated API: the key store under the key
// cache, the request metrics middleware inside RequestID. The first
// request misses the cache and makes the store's spans; the second is a
// cache hit and makes none. Here the SDK records in memory; a service
// passes its own providers.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := telemetry.New(telemetry.Options{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		fmt.Println(err)
		return
	}

	store := auth.NewMemory(auth.MemoryOptions{})
	_, _ = store.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "Acme", APIEnabled: true})
	raw, key, _ := auth.NewKey("joby", auth.EnvLive, auth.Key{
		OrganizationID: "org-1", Name: "CRM sync", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	})
	_ = store.CreateKey(ctx, key)

	cache, _ := keycache.New(keycache.Options{Store: tel.Store(store), Orgs: tel.Orgs(store)})
	authn, _ := auth.New(auth.Options{Store: cache, Orgs: cache, Prefix: "joby"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/leads", func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteData(w, r, http.StatusOK, []string{})
	})
	h := gatehouse.RequestID(tel.Middleware(authn.Wrap(gatehouse.RecordRoute(mux))))

	for _, authz := range []string{"Bearer " + raw.Reveal(), "Bearer " + raw.Reveal(), ""} {
		r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}

	for _, s := range spans.Ended() {
		fmt.Println("span", s.Name())
	}
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "gatehouse.requests" {
				for _, p := range sum.DataPoints {
					var attrs []string
					for _, kv := range p.Attributes.ToSlice() {
						attrs = append(attrs, string(kv.Key)+"="+kv.Value.Emit())
					}
					lines = append(lines, fmt.Sprintf("%s{%s} %d", m.Name, strings.Join(attrs, ","), p.Value))
				}
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// span gatehouse.auth.lookup_key
	// span gatehouse.auth.api_enabled
	// gatehouse.requests{gatehouse.outcome=authenticated,http.route=/v1/leads} 2
	// gatehouse.requests{gatehouse.outcome=unauthenticated} 1
}

// ExampleLogHandler adds the request id (and, inside a span, the trace and
// span ids) to every log line of a request.
func ExampleLogHandler() {
	opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{} // drop the time for a stable output
		}
		return a
	}}
	logger := slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stdout, opts)))
	ctx := gatehouse.NewRequestContext(context.Background(), "0190b4d2-7a3e-7c4f-9d1e-2b3c4d5e6f70")
	logger.InfoContext(ctx, "key refused", "key", auth.RawKey("acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2"))
	// Output:
	// level=INFO msg="key refused" key=acme_live_0123456789ABCDEF_… request_id=0190b4d2-7a3e-7c4f-9d1e-2b3c4d5e6f70
}
