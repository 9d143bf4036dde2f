package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"gatehouse.dev/auth"
	"gatehouse.dev/telemetry"
)

// TestChainTelemetry serves requests through the example's handler with
// the SDK's in-memory exporter and manual reader, and checks the spans and
// metrics the wiring of docs/observability.md promises.
func TestChainTelemetry(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a, logs := newTestApp(t, tp, mp)
	key := a.demoKey.Reveal()
	unknown, _, err := auth.NewKey("acme", "live", auth.Key{}) // well-formed, never stored
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		method, key, body string
		want              int
	}{
		{http.MethodGet, key, "", http.StatusOK},                     // key cache miss
		{http.MethodPost, key, `{"title":"hi"}`, http.StatusCreated}, // cache hit
		{http.MethodGet, unknown.Reveal(), "", http.StatusUnauthorized},
		{http.MethodGet, "", "", http.StatusUnauthorized},
	} {
		if got := serve(a.handler, tc.method, tc.key, tc.body); got.Code != tc.want {
			t.Fatalf("%s %q: status %d, want %d: %s", tc.method, tc.key, got.Code, tc.want, got.Body)
		}
	}
	if err := a.recorder.Close(t.Context()); err != nil { // flushes the audit batch
		t.Fatal(err)
	}

	// Spans: one server span per request, with gatehouse's outcome.
	stubs := spans.GetSpans()
	var servers []tracetest.SpanStub
	for _, s := range stubs {
		if s.SpanKind == trace.SpanKindServer {
			servers = append(servers, s)
		}
	}
	var outcomes []string
	for _, s := range servers {
		outcomes = append(outcomes, attr(s.Attributes, telemetry.AttrOutcome))
	}
	if want := []string{"authenticated", "authenticated", "unauthenticated", "unauthenticated"}; !slices.Equal(outcomes, want) {
		t.Errorf("server span outcomes = %q, want %q", outcomes, want)
	}
	if got := attr(servers[0].Attributes, "http.route"); got != "/v1/notes" {
		t.Errorf("server span http.route = %q, want /v1/notes", got)
	}

	// Key lookups under the cache: the first request and the unknown key
	// reach the store (with a SQL span inside), the cache hit does not.
	lookups := named(stubs, "gatehouse.auth.lookup_key")
	if len(lookups) != 2 {
		t.Fatalf("%d lookup_key spans, want 2 (cache hits make none)", len(lookups))
	}
	found := lookups[0]
	if attr(found.Attributes, telemetry.AttrAuthResult) != "found" || found.Parent.SpanID() != servers[0].SpanContext.SpanID() {
		t.Errorf("first lookup_key span: result %q, parent %v; want found, child of the first server span",
			attr(found.Attributes, telemetry.AttrAuthResult), found.Parent.SpanID())
	}
	if got := attr(lookups[1].Attributes, telemetry.AttrAuthResult); got != "not_found" {
		t.Errorf("second lookup_key result = %q, want not_found", got)
	}
	if sql := children(stubs, found); len(sql) != 1 || sql[0].Name != "SELECT" || attr(sql[0].Attributes, "db.system.name") != "sqlite" {
		t.Errorf("lookup_key children = %v, want one sqlite SELECT", names(sql))
	}
	if n := len(named(stubs, "gatehouse.auth.api_enabled")); n != 1 {
		t.Errorf("%d api_enabled spans, want 1", n)
	}
	if n := len(named(stubs, "gatehouse.ratelimit.allow")); n != 0 {
		t.Errorf("%d ratelimit spans, want none for the in-process limiter", n)
	}
	writes := named(stubs, "gatehouse.audit.write")
	if len(writes) != 1 || attr(writes[0].Attributes, telemetry.AttrAuditEntries) != "2" || !writes[0].Parent.Equal(trace.SpanContext{}) {
		t.Fatalf("audit.write spans = %v, want one root span of 2 entries", writes)
	}
	if sql := children(stubs, writes[0]); !slices.Contains(names(sql), "INSERT") {
		t.Errorf("audit.write children = %v, want an INSERT", names(sql))
	}

	// Metrics, the asynchronous ones included.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		metric string
		attrs  []attribute.KeyValue
		want   int64
	}{
		{"gatehouse.requests", []attribute.KeyValue{telemetry.AttrOutcome.String("authenticated")}, 2},
		{"gatehouse.requests", []attribute.KeyValue{telemetry.AttrOutcome.String("unauthenticated")}, 2},
		{"gatehouse.ratelimit.decisions", []attribute.KeyValue{telemetry.AttrDecision.String("allowed")}, 2},
		{"gatehouse.audit.entries", []attribute.KeyValue{telemetry.AttrAuditState.String("written")}, 2},
		{"gatehouse.keycache.lookups", []attribute.KeyValue{telemetry.AttrCacheKind.String("key"), telemetry.AttrCacheResult.String("hit")}, 1},
		{"gatehouse.keycache.lookups", []attribute.KeyValue{telemetry.AttrCacheKind.String("key"), telemetry.AttrCacheResult.String("miss")}, 2},
	} {
		if got := sum(t, rm, tc.metric, tc.attrs); got != tc.want {
			t.Errorf("%s %v = %d, want %d", tc.metric, tc.attrs, got, tc.want)
		}
	}

	// No secret anywhere.
	for _, s := range stubs {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.Emit(), secret(t, a.demoKey)) {
				t.Errorf("span %s attribute %s holds the key's secret", s.Name, kv.Key)
			}
		}
	}
	if strings.Contains(logs.String(), secret(t, a.demoKey)) {
		t.Errorf("the log holds the key's secret:\n%s", logs)
	}
}

// TestExportOverOTLP sends the telemetry of a request to an in-process
// OTLP/gRPC collector, with both forms of -otlp-endpoint.
func TestExportOverOTLP(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	for _, tc := range []struct {
		name     string
		endpoint func(addr string) string
		insecure bool
	}{
		{"host:port and -insecure", func(addr string) string { return addr }, true},
		{"http URL", func(addr string) string { return "http://" + addr }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := startCollector(t)
			tp, mp, err := newProviders(t.Context(), tc.endpoint(col.addr), tc.insecure)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := newTestApp(t, tp, mp)
			if got := serve(a.handler, http.MethodGet, a.demoKey.Reveal(), ""); got.Code != http.StatusOK {
				t.Fatalf("status %d: %s", got.Code, got.Body)
			}
			if err := a.recorder.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := shutdown(tp, mp, 10*time.Second); err != nil {
				t.Fatal(err)
			}

			col.mu.Lock()
			defer col.mu.Unlock()
			var spanNames []string
			for _, req := range col.traces {
				for _, rs := range req.GetResourceSpans() {
					if got := resourceAttr(rs.GetResource().GetAttributes(), "service.name"); got != serviceName {
						t.Errorf("span resource service.name = %q, want %q", got, serviceName)
					}
					for _, ss := range rs.GetScopeSpans() {
						for _, s := range ss.GetSpans() {
							spanNames = append(spanNames, s.GetName())
							if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && resourceAttr(s.GetAttributes(), string(telemetry.AttrOutcome)) != "authenticated" {
								t.Errorf("server span %q lacks gatehouse.outcome=authenticated", s.GetName())
							}
						}
					}
				}
			}
			for _, want := range []string{"gatehouse.auth.lookup_key", "gatehouse.auth.api_enabled", "gatehouse.audit.write", "SELECT", "INSERT"} {
				if !slices.Contains(spanNames, want) {
					t.Errorf("collector got spans %q, want %q among them", spanNames, want)
				}
			}
			var metricNames []string
			for _, req := range col.metrics {
				for _, rm := range req.GetResourceMetrics() {
					if got := resourceAttr(rm.GetResource().GetAttributes(), "service.name"); got != serviceName {
						t.Errorf("metric resource service.name = %q, want %q", got, serviceName)
					}
					for _, sm := range rm.GetScopeMetrics() {
						for _, m := range sm.GetMetrics() {
							metricNames = append(metricNames, m.GetName())
						}
					}
				}
			}
			for _, want := range []string{"gatehouse.requests", "gatehouse.request.duration", "gatehouse.ratelimit.decisions",
				"gatehouse.key.verification.duration", "gatehouse.audit.entries", "gatehouse.keycache.lookups"} {
				if !slices.Contains(metricNames, want) {
					t.Errorf("collector got metrics %q, want %q among them", metricNames, want)
				}
			}
			for _, m := range col.all() {
				if bytes.Contains(m, []byte(secret(t, a.demoKey))) {
					t.Error("an exported message holds the key's secret")
				}
			}
		})
	}
}

// TestRunFlushesOnShutdown runs the program until its context ends (as
// on SIGTERM, here once it is listening) and checks that run stops
// cleanly and that the providers' shutdown exported what was pending: the
// spans of the startup's SQL and a last collection of metrics.
func TestRunFlushesOnShutdown(t *testing.T) {
	col := startCollector(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(`"msg":"listening"`)) {
			cancel()
		}
		return len(p), nil
	}), nil))
	if err := run(ctx, "127.0.0.1:0", filepath.Join(t.TempDir(), "otlp.db"), col.addr, true, logger); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.traces) == 0 || len(col.metrics) == 0 {
		t.Errorf("collector got %d trace and %d metric exports, want both", len(col.traces), len(col.metrics))
	}
}

// TestUnreachableCollector: the service serves while the collector is
// down, and the shutdown flush gives up at its deadline.
func TestUnreachableCollector(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	tp, mp, err := newProviders(t.Context(), addr, true)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newTestApp(t, tp, mp)
	if got := serve(a.handler, http.MethodGet, a.demoKey.Reveal(), ""); got.Code != http.StatusOK {
		t.Fatalf("status %d: %s", got.Code, got.Body)
	}
	start := time.Now()
	if err := shutdown(tp, mp, 300*time.Millisecond); err == nil {
		t.Error("shutdown reported no error although nothing could be exported")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with a 300ms deadline per provider", d)
	}
}

// newTestApp builds the example's app on a fresh SQLite file, logging into
// the returned buffer.
func newTestApp(t *testing.T, tp trace.TracerProvider, mp metric.MeterProvider) (*app, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a, err := newApp(t.Context(), filepath.Join(t.TempDir(), "otlp.db"), tp, mp, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.db.Close() })
	return a, logs
}

// serve sends one request to /v1/notes through h.
func serve(h http.Handler, method, key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/v1/notes", strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// shutdown shuts both providers down, each within d, as run does.
func shutdown(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider, d time.Duration) error {
	var errs []error
	for _, p := range []interface{ Shutdown(context.Context) error }{tp, mp} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		errs = append(errs, p.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// secret is the secret part of a raw key, which must never be exported.
func secret(t *testing.T, k auth.RawKey) string {
	t.Helper()
	p, err := auth.Parse(k.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := strings.CutPrefix(k.Reveal(), p.Prefix+"_"+p.Env+"_"+p.PublicID+"_")
	if !ok || len(s) < 16 {
		t.Fatalf("cannot split the key %q", p.DisplayPrefix())
	}
	return s
}

// attr is the value of the attribute key in kvs, or "".
func attr(kvs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// named returns the spans called name, in the order they ended.
func named(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// children returns the spans whose parent is parent.
func children(spans tracetest.SpanStubs, parent tracetest.SpanStub) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Parent.SpanID() == parent.SpanContext.SpanID() && s.Parent.TraceID() == parent.SpanContext.TraceID() {
			out = append(out, s)
		}
	}
	return out
}

func names(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// sum adds the int64 sum data points of the metric called name that have
// attrs (among others); it fails the test if there is no such metric.
func sum(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs []attribute.KeyValue) int64 {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			data, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
			}
			var n int64
		points:
			for _, dp := range data.DataPoints {
				for _, kv := range attrs {
					if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				n += dp.Value
			}
			return n
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// resourceAttr is the string value of key in OTLP attributes, or "".
func resourceAttr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// collector is an OTLP/gRPC collector in the test process, keeping what it
// receives.
type collector struct {
	addr    string
	mu      sync.Mutex
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	c *collector
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.traces = append(s.c.traces, req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricService struct {
	colmetricpb.UnimplementedMetricsServiceServer
	c *collector
}

func (s metricService) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.metrics = append(s.c.metrics, req)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// startCollector serves a collector on a free local port until the test
// ends.
func startCollector(t *testing.T) *collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: lis.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, traceService{c: c})
	colmetricpb.RegisterMetricsServiceServer(srv, metricService{c: c})
	go srv.Serve(lis) //nolint:errcheck // returns when Stop closes lis
	t.Cleanup(srv.Stop)
	return c
}

// all returns every received message, encoded; the caller holds c.mu.
func (c *collector) all() [][]byte {
	var out [][]byte
	var msgs []proto.Message
	for _, m := range c.traces {
		msgs = append(msgs, m)
	}
	for _, m := range c.metrics {
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

// writerFunc adapts a function to io.Writer.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
