package telemetry

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every tracer and meter of this
// package.
const ScopeName = "gatehouse.dev/telemetry"

// DefaultMaxRoutes is the number of distinct route patterns the request
// metrics report when [Options].MaxRoutes is zero.
const DefaultMaxRoutes = 200

// Attributes of gatehouse's spans and metrics, besides those of the
// OpenTelemetry semantic conventions (http.route, http.request.method,
// http.response.status_code, db.system.name, db.operation.name,
// db.operation.batch.size, error.type). None of them ever holds a raw key.
const (
	// AttrKeyID is the API key's UUID id (spans only, never metrics).
	AttrKeyID = attribute.Key("gatehouse.key.id")
	// AttrKeyPublicID is the public id looked up in the key store (spans
	// only): the part of a key that is not secret.
	AttrKeyPublicID = attribute.Key("gatehouse.key.public_id")
	// AttrOrgID is the organization id (spans; on the requests metric only
	// with [Options].OrgAttribute).
	AttrOrgID = attribute.Key("gatehouse.org.id")
	// AttrOutcome is the request's outcome: one of the gatehouse.Outcome
	// constants, [OutcomeNone] or [OutcomeError].
	AttrOutcome = attribute.Key("gatehouse.outcome")
	// AttrDecision is a rate-limit decision: "allowed", "limited" or
	// "error".
	AttrDecision = attribute.Key("gatehouse.ratelimit.decision")
	// AttrCost is the cost of an AllowN decision, in events (points).
	AttrCost = attribute.Key("gatehouse.ratelimit.cost")
	// AttrAuthOperation names the store call: "lookup_key" or
	// "api_enabled".
	AttrAuthOperation = attribute.Key("gatehouse.auth.operation")
	// AttrAuthResult is a store call's result: "found" or "not_found"
	// (lookup_key), "enabled" or "disabled" (api_enabled), or "error".
	AttrAuthResult = attribute.Key("gatehouse.auth.result")
	// AttrAuditEntries is the number of entries in a flushed audit batch.
	AttrAuditEntries = attribute.Key("gatehouse.audit.entries")
	// AttrAuditState says what became of audit entries: "written" or
	// "dropped".
	AttrAuditState = attribute.Key("gatehouse.audit.state")
	// AttrBreakerState is a state of the Redis limiter's circuit breaker:
	// "closed", "open" or "half-open".
	AttrBreakerState = attribute.Key("gatehouse.ratelimit.breaker.state")
	// AttrCacheKind is the table of the key cache: "key", "negative" or
	// "org".
	AttrCacheKind = attribute.Key("gatehouse.keycache.kind")
	// AttrCacheResult is a key cache lookup's result: "hit",
	// "negative_hit" or "miss".
	AttrCacheResult = attribute.Key("gatehouse.keycache.result")
	// AttrCacheScope is what an applied invalidation dropped: "entry" (one
	// key or organization) or "all".
	AttrCacheScope = attribute.Key("gatehouse.keycache.scope")
)

// Outcomes the request metrics add to the gatehouse.Outcome constants.
const (
	// OutcomeNone: no middleware recorded an outcome and the response is
	// not a 5xx (a request outside the authenticated chain).
	OutcomeNone = "none"
	// OutcomeError: no outcome was recorded and the response is a 5xx
	// (for example the key store failed).
	OutcomeError = "error"
	// OutcomeOther replaces an outcome that is not one of the known
	// values, so that the attribute stays bounded.
	OutcomeOther = "other"
)

// RouteOther replaces route patterns beyond [Options].MaxRoutes.
const RouteOther = "_OTHER"

// Options configures [New]. The zero value uses the global providers.
type Options struct {
	// TracerProvider makes the spans. Nil means otel.GetTracerProvider()
	// at the time of New (which follows a later otel.SetTracerProvider).
	// gatehouse never sets the global providers.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// OrgAttribute adds gatehouse.org.id to the gatehouse.requests metric:
	// one time series per organization, route and outcome. Off by default;
	// turn it on only with a bounded number of organizations. Key ids never
	// go on metrics.
	OrgAttribute bool
	// MaxRoutes bounds the distinct http.route values of the request
	// metrics: routes seen after that many are reported as [RouteOther].
	// Zero means [DefaultMaxRoutes].
	MaxRoutes int
	// Logger receives the one warning when MaxRoutes is exceeded. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Instruments holds gatehouse's tracer, meter and instruments, and makes
// the decorators that use them: [Instruments.Middleware] for request
// metrics, [Instruments.Store] and [Instruments.Orgs] for key
// verification, [Instruments.Limiter], [Instruments.AuditWriter],
// [Instruments.RedisHook] and [Instruments.Connector]. The Observe methods
// export the counters components keep in their Stats. An Instruments is
// safe for concurrent use.
type Instruments struct {
	tracer trace.Tracer
	meter  metric.Meter
	logger *slog.Logger

	// tracingOff is true when spans can never be recorded (a no-op
	// provider); globalTP is the global provider's placeholder when New
	// found no SDK installed yet: spans are started only once
	// otel.GetTracerProvider returns something else.
	tracingOff bool
	globalTP   trace.TracerProvider

	orgAttr   bool
	maxRoutes int

	requests    metric.Int64Counter
	duration    metric.Float64Histogram
	keyDuration metric.Float64Histogram
	decisions   metric.Int64Counter

	spanInternal []trace.SpanStartOption
	spanClient   []trace.SpanStartOption

	decisionOpts [3][]metric.AddOption
	authOpts     [authResults][]metric.RecordOption

	reqMu       sync.RWMutex
	routes      map[string]string
	reqSets     map[reqKey]*reqOpts
	routeWarned atomic.Bool
}

// durationBuckets (seconds) resolve the microseconds of a cache hit as
// well as the seconds of a slow database.
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
}

// New returns the instruments. It fails for a negative MaxRoutes or when
// the meter refuses an instrument.
func New(opts Options) (*Instruments, error) {
	if opts.MaxRoutes < 0 {
		return nil, errors.New("telemetry: Options.MaxRoutes must not be negative")
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := &Instruments{
		tracer:    tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		meter:     mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)),
		logger:    opts.Logger,
		orgAttr:   opts.OrgAttribute,
		maxRoutes: opts.MaxRoutes,
		routes:    make(map[string]string),
		reqSets:   make(map[reqKey]*reqOpts),
	}
	if t.maxRoutes == 0 {
		t.maxRoutes = DefaultMaxRoutes
	}
	if t.logger == nil {
		t.logger = slog.Default()
	}
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		t.tracingOff = true
	default:
		if opts.TracerProvider == nil && fmt.Sprintf("%T", tp) == "*global.tracerProvider" {
			t.globalTP = tp
		}
	}
	t.spanInternal = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	t.spanClient = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

	var errs []error
	var err error
	t.requests, err = t.meter.Int64Counter("gatehouse.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Requests through the gatehouse chain, by outcome and route."))
	errs = append(errs, err)
	t.duration, err = t.meter.Float64Histogram("gatehouse.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of requests through the gatehouse chain."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = append(errs, err)
	t.keyDuration, err = t.meter.Float64Histogram("gatehouse.key.verification.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of key-store and organization reads (those that miss the key cache)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = append(errs, err)
	t.decisions, err = t.meter.Int64Counter("gatehouse.ratelimit.decisions",
		metric.WithUnit("{decision}"),
		metric.WithDescription("Rate-limit decisions by result."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: create instruments: %w", err)
	}

	for d, name := range decisionNames {
		t.decisionOpts[d] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrDecision.String(name)))}
	}
	for r := range authResult(authResults) {
		t.authOpts[r] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			AttrAuthOperation.String(r.operation()), AttrAuthResult.String(r.String())))}
	}
	return t, nil
}

// tracing reports whether a span started now could be recorded. It is
// false for a no-op provider and, when New fell back to the global
// provider before any SDK was installed, until one is: then starting a
// span would only cost allocations.
func (t *Instruments) tracing() bool {
	if t.tracingOff {
		return false
	}
	if t.globalTP != nil {
		return otel.GetTracerProvider() != t.globalTP
	}
	return true
}

// Rate-limit decisions, indexes of Instruments.decisionOpts.
const (
	decisionAllowed = iota
	decisionLimited
	decisionError
)

var decisionNames = [...]string{"allowed", "limited", "error"}

// authResult is the result of a key-store or organization call.
type authResult int

const (
	keyFound authResult = iota
	keyNotFound
	keyError
	orgEnabled
	orgDisabled
	orgError
	authResults
)

func (r authResult) String() string {
	return [...]string{"found", "not_found", "error", "enabled", "disabled", "error"}[r]
}

func (r authResult) operation() string {
	if r <= keyError {
		return "lookup_key"
	}
	return "api_enabled"
}
