// Command otlp embeds gatehouse with OpenTelemetry export over OTLP/gRPC:
// one resource (notes) behind API keys, a key cache, rate limits and an
// audit log, all on one SQLite file, with traces, metrics and JSON logs
// that carry the request id and trace id.
//
// It lives in its own module so that the OTLP exporters and gRPC stay out
// of gatehouse.dev. The wiring is the one of docs/observability.md; see
// README.md for running a collector.
//
//	go run . -insecure                        # collector on 127.0.0.1:4317
//	go run . -otlp-endpoint http://otel:4317  # an http:// URL means no TLS
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
)

// serviceName is the service.name of the exported spans and metrics;
// OTEL_SERVICE_NAME overrides it.
const serviceName = "gatehouse-otlp-example"

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	dsn := flag.String("db", "otlp.db", "SQLite file (or a postgres:// URL)")
	endpoint := flag.String("otlp-endpoint", defaultEndpoint(),
		"OTLP/gRPC collector, host:port or http(s):// URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT or 127.0.0.1:4317)")
	insecure := flag.Bool("insecure", false, "talk to the collector without TLS (implied by an http:// endpoint)")
	flag.Parse()

	// Logs: request_id, trace_id and span_id on every line logged with a
	// request's context.
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	// The SDK reports export failures (an unreachable collector) to the
	// global error handler, by default the log package: send them to the
	// same JSON log. Only the host sets globals; gatehouse never does.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err)
	}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dsn, *endpoint, *insecure, logger); err != nil {
		logger.Error("otlp example failed", "error", err)
		stop()
		os.Exit(1)
	}
}

// defaultEndpoint is $OTEL_EXPORTER_OTLP_ENDPOINT, or the collector's
// standard OTLP/gRPC port on this machine.
func defaultEndpoint() string {
	if e := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); e != "" {
		return e
	}
	return "127.0.0.1:4317"
}

// run serves the API until ctx ends (SIGINT, SIGTERM), then stops in
// order: the HTTP server (requests in flight finish), the audit recorder
// (its last batch is written, and traced), then the providers (the spans
// still queued and a last collection of metrics are exported).
func run(ctx context.Context, addr, dsn, endpoint string, insecure bool, logger *slog.Logger) error {
	tp, mp, err := newProviders(ctx, endpoint, insecure)
	if err != nil {
		return err
	}
	defer func() {
		// Export what is queued. The exporters retry while the collector
		// is down, so bound each flush.
		for _, p := range []interface{ Shutdown(context.Context) error }{tp, mp} {
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.Shutdown(flushCtx); err != nil {
				logger.Warn("telemetry not flushed", "error", err)
			}
			cancel()
		}
	}()

	a, err := newApp(ctx, dsn, tp, mp, logger)
	if err != nil {
		return err
	}
	defer a.db.Close()
	fmt.Printf("curl -H 'Authorization: Bearer %s' http://%s/v1/notes\n", a.demoKey.Reveal(), addr)

	// The recorder gets its own context: it must outlive the server's drain.
	recCtx, stopRecorder := context.WithCancel(context.WithoutCancel(ctx))
	recorderDone := make(chan error, 1)
	go func() { recorderDone <- a.recorder.Run(recCtx) }()

	srv := &http.Server{Addr: addr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	logger.InfoContext(ctx, "listening", "addr", addr, "otlp_endpoint", endpoint)

	select {
	case err = <-serveErr: // could not listen
	case <-ctx.Done():
		logger.InfoContext(ctx, "shutting down")
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
	}
	stopRecorder()
	return errors.Join(err, <-recorderDone)
}

// newProviders builds the SDK's providers, exporting to an OTLP/gRPC
// collector at endpoint. Nothing is set globally: the providers are handed
// to telemetry.New and otelhttp. The exporters connect lazily, so an
// unreachable collector is no error here; the service keeps serving and
// the exporters retry, then drop, what they could not send.
func newProviders(ctx context.Context, endpoint string, insecure bool) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, error) {
	res, err := sdkresource.New(ctx,
		sdkresource.WithAttributes(semconv.ServiceName(serviceName)),
		sdkresource.WithTelemetrySDK(),
		sdkresource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		return nil, nil, fmt.Errorf("otel resource: %w", err)
	}

	traceOpts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
	metricOpts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(endpoint)}
	if strings.Contains(endpoint, "://") { // a URL: http:// means no TLS
		traceOpts = []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
		metricOpts = []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpointURL(endpoint)}
	}
	if insecure {
		traceOpts = append(traceOpts, otlptracegrpc.WithInsecure())
		metricOpts = append(metricOpts, otlpmetricgrpc.WithInsecure())
	}
	spans, err := otlptracegrpc.New(ctx, traceOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	metrics, err := otlpmetricgrpc.New(ctx, metricOpts...)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("otlp metric exporter: %w", err), spans.Shutdown(ctx))
	}

	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics, sdkmetric.WithInterval(15*time.Second))),
		sdkmetric.WithResource(res))
	return tp, mp, nil
}

// app is the instrumented API and what its host must run and close.
type app struct {
	handler  http.Handler
	recorder *audit.Recorder // the host runs Recorder.Run
	db       *sql.DB
	demoKey  auth.RawKey // a key of a fresh demo organization
}

// newApp opens the database and builds the gatehouse chain, wired to the
// providers as docs/observability.md shows.
func newApp(ctx context.Context, dsn string, tp trace.TracerProvider, mp metric.MeterProvider, logger *slog.Logger) (a *app, err error) {
	tel, err := telemetry.New(telemetry.Options{TracerProvider: tp, MeterProvider: mp, Logger: logger})
	if err != nil {
		return nil, err
	}

	// SQL: a span per statement, for every store on this database.
	db, dialect, err := sqldb.OpenWith(dsn, sqldb.Options{WrapConnector: tel.Connector})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, db.Close())
		}
	}()

	// The resource: notes, under /v1/notes.
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		title TEXT NOT NULL, body TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`); err != nil {
		return nil, err
	}
	registry, err := resource.New(resource.Options{DB: db, Dialect: dialect, Logger: logger, Resources: []resource.Resource{{
		Name:   "notes",
		Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}, {Name: "body", Type: resource.Text, MaxLength: 10000}},
		Search: []string{"title", "body"},
	}}})
	if err != nil {
		return nil, err
	}
	if err := registry.Migrate(ctx); err != nil {
		return nil, err
	}

	// Keys: a SQL store, and a demo organization with one key each start.
	keys, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: dialect})
	if err != nil {
		return nil, err
	}
	if err := keys.Migrate(ctx); err != nil {
		return nil, err
	}
	org, err := keys.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	if err != nil {
		return nil, err
	}
	raw, key, err := auth.NewKey("acme", "live", auth.Key{OrganizationID: org.ID, Name: "demo",
		Scopes: scope.NewSet(registry.Scopes()...), RateLimitPerMinute: 60})
	if err != nil {
		return nil, err
	}
	if err := keys.CreateKey(ctx, key); err != nil {
		return nil, err
	}

	// Key verification: the decorators UNDER the key cache, so that only
	// misses are traced and timed.
	cache, err := keycache.New(keycache.Options{Store: tel.Store(keys), Orgs: tel.Orgs(keys)})
	if err != nil {
		return nil, err
	}
	authn, err := auth.New(auth.Options{Store: cache, Orgs: cache, Prefix: "acme", Logger: logger})
	if err != nil {
		return nil, err
	}
	// Rate limits: decisions counted. The in-process limiter does no I/O,
	// so it makes no span (a redislimit.Limiter would, and would also get
	// tel.ObserveLimiter(redisLimiter.Stats) and rdb.AddHook(tel.RedisHook())).
	memory, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		return nil, err
	}
	// Bucket and limit: the request's gatehouse.Caller (auth records it).
	limits, err := ratelimit.New(ratelimit.Options{Limiter: tel.Limiter(memory), Logger: logger})
	if err != nil {
		return nil, err
	}

	// Audit: a recorder batching entries into SQL, a span per batch.
	entries, err := sqlaudit.New(sqlaudit.Options{DB: db, Dialect: dialect})
	if err != nil {
		return nil, err
	}
	if err := entries.Migrate(ctx); err != nil {
		return nil, err
	}
	recorder, err := audit.NewRecorder(audit.RecorderOptions{Writer: tel.AuditWriter(entries), Logger: logger})
	if err != nil {
		return nil, err
	}
	trail, err := audit.New(audit.Options{Sink: recorder})
	if err != nil {
		return nil, err
	}

	// Counters the components keep, exported when the meter collects.
	if _, err := tel.ObserveAudit(recorder.Stats); err != nil {
		return nil, err
	}
	if _, err := tel.ObserveCache(func() telemetry.CacheStats {
		s := cache.Stats()
		return telemetry.CacheStats{
			Hits: s.Hits, NegativeHits: s.NegativeHits, Misses: s.Misses,
			OrgHits: s.OrgHits, OrgMisses: s.OrgMisses,
			Invalidations: s.Invalidations, Flushes: s.Flushes,
			Evictions: s.Evictions, Errors: s.Errors,
			Entries: s.Entries, NegativeEntries: s.NegativeEntries, OrgEntries: s.OrgEntries,
			FeedHealthy: s.FeedHealthy,
		}
	}); err != nil {
		return nil, err
	}

	// Request metrics inside RequestID, outside authentication; the HTTP
	// server span (otelhttp) outside everything, so that every span of a
	// request is its child and it gets gatehouse's route, outcome, key id
	// and organization. Incoming traceparent headers continue a trace.
	api := gatehouse.RequestID(tel.Middleware(authn.Wrap(trail.Wrap(limits.Wrap(registry)))))
	handler := otelhttp.NewHandler(api, "gatehouse",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))

	return &app{handler: handler, recorder: recorder, db: db, demoKey: raw}, nil
}
