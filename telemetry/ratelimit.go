package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

// Limiter returns l adding each Allow's result to gatehouse.ratelimit.decisions
// (gatehouse.ratelimit.decision: allowed, limited or error). A limiter that
// does I/O also gets a span per call: "gatehouse.ratelimit.allow" (and
// "gatehouse.ratelimit.peek" for Peek), with the decision and, inside the
// authentication middleware, the caller's gatehouse.key.id and
// gatehouse.org.id. The in-process *ratelimit.Memory makes a decision in
// well under a microsecond without I/O, so it gets no spans.
//
// When l implements [ratelimit.Peeker] (Memory and the Redis limiter do),
// so does the result, so it can serve ratelimit.FailedAuth too; peeks are
// not decisions and are not counted. When l implements
// [ratelimit.NLimiter] (Memory and the Redis limiter do), so does the
// result: each AllowN counts as one decision, and its span is
// "gatehouse.ratelimit.allow" with the cost in gatehouse.ratelimit.cost. Wrap only the limiter of the API
// keys (ratelimit.Options.Limiter) to keep failed-authentication checks
// out of the decisions metric. The result is no longer a
// *redislimit.Limiter: keep the original for its Status and Stats.
func (t *Instruments) Limiter(l ratelimit.Limiter) ratelimit.Limiter {
	_, inProcess := l.(*ratelimit.Memory)
	base := &limiter{t: t, next: l, spans: !inProcess}
	p, peeks := l.(ratelimit.Peeker)
	n, costs := l.(ratelimit.NLimiter)
	switch {
	case peeks && costs:
		return &peekingNLimiter{peekingLimiter: &peekingLimiter{limiter: base, peeker: p}, n: n}
	case peeks:
		return &peekingLimiter{limiter: base, peeker: p}
	case costs:
		return &nLimiter{limiter: base, n: n}
	}
	return base
}

type limiter struct {
	t     *Instruments
	next  ratelimit.Limiter
	spans bool
}

func (l *limiter) Allow(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.allow(ctx, key, lim, nil, 0)
}

// allow decides through next.Allow, or through n.AllowN with cost when n
// is not nil.
func (l *limiter) allow(ctx context.Context, key string, lim ratelimit.Limit, n ratelimit.NLimiter, cost int) (ratelimit.Result, error) {
	var span trace.Span
	if l.spans && l.t.tracing() {
		ctx, span = l.t.tracer.Start(ctx, "gatehouse.ratelimit.allow", l.t.spanInternal...)
		if n != nil {
			span.SetAttributes(AttrCost.Int(cost))
		}
	}
	var (
		res ratelimit.Result
		err error
	)
	if n != nil {
		res, err = n.AllowN(ctx, key, lim, cost)
	} else {
		res, err = l.next.Allow(ctx, key, lim)
	}
	d := decisionAllowed
	switch {
	case err != nil:
		d = decisionError
	case !res.Allowed:
		d = decisionLimited
	}
	l.t.decisions.Add(ctx, 1, l.t.decisionOpts[d]...)
	if span != nil {
		endLimiterSpan(ctx, span, d, err)
	}
	return res, err
}

// nLimiter is the decorator of a limiter with AllowN.
type nLimiter struct {
	*limiter
	n ratelimit.NLimiter
}

func (l *nLimiter) AllowN(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return l.allow(ctx, key, lim, l.n, cost)
}

// peekingNLimiter is the decorator of a limiter with Peek and AllowN.
type peekingNLimiter struct {
	*peekingLimiter
	n ratelimit.NLimiter
}

func (l *peekingNLimiter) AllowN(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return l.allow(ctx, key, lim, l.n, cost)
}

type peekingLimiter struct {
	*limiter
	peeker ratelimit.Peeker
}

func (l *peekingLimiter) Peek(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	var span trace.Span
	if l.spans && l.t.tracing() {
		ctx, span = l.t.tracer.Start(ctx, "gatehouse.ratelimit.peek", l.t.spanInternal...)
	}
	res, err := l.peeker.Peek(ctx, key, lim)
	if span != nil {
		d := decisionAllowed
		switch {
		case err != nil:
			d = decisionError
		case !res.Allowed:
			d = decisionLimited
		}
		endLimiterSpan(ctx, span, d, err)
	}
	return res, err
}

// endLimiterSpan annotates and ends a limiter span.
func endLimiterSpan(ctx context.Context, span trace.Span, d int, err error) {
	if span.IsRecording() {
		span.SetAttributes(AttrDecision.String(decisionNames[d]))
		if c, ok := gatehouse.CallerFromContext(ctx); ok {
			span.SetAttributes(AttrKeyID.String(c.KeyID), AttrOrgID.String(c.OrgID))
		}
		if err != nil {
			spanError(span, err)
		}
	}
	span.End()
}
