package telemetry

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/internal/respwriter"
)

// maxReqSets bounds the cached attribute sets of the request metrics;
// beyond it sets are built per request (correct, but allocating).
const maxReqSets = 4096

// reqKey is one combination of request-metric attributes, with the route
// as recorded (before MaxRoutes applies).
type reqKey struct {
	route, outcome, method, org string
	status                      int
}

// reqOpts are the prebuilt measurement options of one reqKey, so that a
// request adds to its metrics without allocating.
type reqOpts struct {
	route string // the reported http.route: the pattern, RouteOther or ""
	add   []metric.AddOption
	rec   []metric.RecordOption
}

// Middleware returns next with request metrics. Put it right inside
// gatehouse.RequestID and outside the authentication middleware, so that it
// sees every request and reads what the inner middlewares recorded in the
// request's state once next returns:
//
//	gatehouse.RequestID(tel.Middleware(authn.Wrap(...)))
//
// For each request it adds 1 to gatehouse.requests (attributes
// gatehouse.outcome, http.route and, with [Options].OrgAttribute,
// gatehouse.org.id) and records gatehouse.request.duration (gatehouse.outcome,
// http.route, http.request.method, http.response.status_code). The route is
// the pattern from gatehouse.RouteFromContext (absent when no router
// matched); the outcome the one recorded with gatehouse.SetOutcome, except
// that a 429 is always rate_limited. When the request's context carries a
// recording span (from the host's HTTP instrumentation), that span gets the
// same route and outcome plus gatehouse.key.id and gatehouse.org.id.
//
// With neither a recording span nor an enabled meter, next is called
// directly and the middleware costs nothing.
func (t *Instruments) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		span := trace.SpanFromContext(ctx)
		recording := span.IsRecording()
		if !recording && !t.requests.Enabled(ctx) && !t.duration.Enabled(ctx) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rw := respwriter.Wrap(w)
		completed := false
		defer func() {
			status := rw.Status()
			if !completed {
				status = http.StatusInternalServerError
			}
			t.finish(ctx, r.Method, status, time.Since(start), span, recording)
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
}

// finish records the metrics of one request and annotates its span.
func (t *Instruments) finish(ctx context.Context, method string, status int, d time.Duration, span trace.Span, recording bool) {
	outcome := requestOutcome(gatehouse.OutcomeFromContext(ctx), status)
	caller, _ := gatehouse.CallerFromContext(ctx)
	keyID, orgID := caller.KeyID, caller.OrgID
	metricOrg := ""
	if t.orgAttr {
		metricOrg = orgID
	}
	o := t.reqOptions(reqKey{
		route: gatehouse.RouteFromContext(ctx), outcome: outcome, method: normalizeMethod(method),
		org: metricOrg, status: status,
	})
	if recording {
		attrs := make([]attribute.KeyValue, 0, 4)
		attrs = append(attrs, AttrOutcome.String(outcome))
		if o.route != "" {
			attrs = append(attrs, semconv.HTTPRoute(o.route))
		}
		if keyID != "" {
			attrs = append(attrs, AttrKeyID.String(keyID))
		}
		if orgID != "" {
			attrs = append(attrs, AttrOrgID.String(orgID))
		}
		span.SetAttributes(attrs...)
	}
	t.requests.Add(ctx, 1, o.add...)
	t.duration.Record(ctx, d.Seconds(), o.rec...)
}

// requestOutcome returns the bounded outcome attribute of a request.
func requestOutcome(recorded string, status int) string {
	if status == http.StatusTooManyRequests {
		return gatehouse.OutcomeRateLimited
	}
	switch recorded {
	case gatehouse.OutcomeAuthenticated, gatehouse.OutcomeUnauthenticated, gatehouse.OutcomeForbiddenScope,
		gatehouse.OutcomeModuleDisabled, gatehouse.OutcomeRateLimited:
		return recorded
	case "":
		if status >= 500 {
			return OutcomeError
		}
		return OutcomeNone
	}
	return OutcomeOther
}

// route returns the reported value of pattern: pattern itself while fewer
// than maxRoutes distinct patterns have been seen, else RouteOther.
func (t *Instruments) route(pattern string) string {
	if pattern == "" {
		return ""
	}
	t.reqMu.RLock()
	v, ok := t.routes[pattern]
	t.reqMu.RUnlock()
	if ok {
		return v
	}
	t.reqMu.Lock()
	defer t.reqMu.Unlock()
	if v, ok := t.routes[pattern]; ok {
		return v
	}
	if len(t.routes) >= t.maxRoutes {
		if !t.routeWarned.Swap(true) {
			t.logger.Warn("telemetry: more distinct routes than Options.MaxRoutes; further routes are reported as "+RouteOther,
				"max_routes", t.maxRoutes)
		}
		return RouteOther
	}
	t.routes[pattern] = pattern
	return pattern
}

// reqOptions returns the measurement options of k (whose route is the
// pattern as recorded), cached: one read lock per request.
func (t *Instruments) reqOptions(k reqKey) *reqOpts {
	t.reqMu.RLock()
	o, ok := t.reqSets[k]
	t.reqMu.RUnlock()
	if ok {
		return o
	}
	route := t.route(k.route)
	attrs := []attribute.KeyValue{AttrOutcome.String(k.outcome)}
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	counted := attrs
	if k.org != "" {
		counted = append(counted[:len(counted):len(counted)], AttrOrgID.String(k.org))
	}
	timed := append(attrs[:len(attrs):len(attrs)],
		semconv.HTTPRequestMethodKey.String(k.method), semconv.HTTPResponseStatusCode(k.status))
	o = &reqOpts{
		route: route,
		add:   []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(counted...))},
		rec:   []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(timed...))},
	}
	t.reqMu.Lock()
	if len(t.reqSets) < maxReqSets {
		t.reqSets[k] = o
	}
	t.reqMu.Unlock()
	return o
}

// normalizeMethod returns method if it is a standard HTTP method, else
// "_OTHER" (as the semantic conventions ask), so that the attribute stays
// bounded.
func normalizeMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, "QUERY":
		return method
	}
	return "_OTHER"
}
