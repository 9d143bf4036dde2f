package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev/webhook"
)

// Webhook attributes.
const (
	// AttrWebhookEventType is the event type of a delivery ("lead.created").
	AttrWebhookEventType = attribute.Key("gatehouse.webhook.event_type")
	// AttrWebhookOutcome is an attempt's outcome: succeeded, retrying,
	// failed or skipped.
	AttrWebhookOutcome = attribute.Key("gatehouse.webhook.outcome")
	// AttrWebhookAttempt numbers a delivery's attempts from 1.
	AttrWebhookAttempt = attribute.Key("gatehouse.webhook.attempt")
)

// webhookMetrics are created on the first WebhookAttempt func.
type webhookMetrics struct {
	once     sync.Once
	err      error
	attempts metric.Int64Counter
	lag      metric.Float64Histogram
}

// WebhookAttempt returns a func for webhook.DispatcherOptions.OnAttempt
// that reports every delivery attempt:
//
//   - a client span "gatehouse.webhook.deliver" covering the POST (its start
//     is the attempt's end minus its duration; a root span, as deliveries
//     run off the request path), with gatehouse.org.id,
//     gatehouse.webhook.event_type, gatehouse.webhook.outcome,
//     gatehouse.webhook.attempt and http.response.status_code, and status
//     Error for a failed attempt;
//   - gatehouse.webhook.attempts {attempt}, by gatehouse.webhook.outcome and
//     gatehouse.webhook.event_type;
//   - gatehouse.webhook.delivery.lag (s), the time from the event to its
//     successful delivery, by event type.
//
// Never the target URL (it may hold credentials), the secret, the payload
// or the response.
func (t *Instruments) WebhookAttempt() (func(context.Context, webhook.Attempt), error) {
	m := &webhookMetrics{}
	var err error
	if m.attempts, err = t.meter.Int64Counter("gatehouse.webhook.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Webhook delivery attempts, by outcome and event type.")); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if m.lag, err = t.meter.Float64Histogram("gatehouse.webhook.delivery.lag", metric.WithUnit("s"),
		metric.WithDescription("Time from an event to its successful delivery."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return func(ctx context.Context, a webhook.Attempt) {
		typ := AttrWebhookEventType.String(a.EventType)
		outcome := AttrWebhookOutcome.String(a.Outcome)
		m.attempts.Add(ctx, 1, metric.WithAttributes(outcome, typ))
		if a.Outcome == webhook.OutcomeSucceeded {
			m.lag.Record(ctx, a.Lag.Seconds(), metric.WithAttributes(typ))
		}
		if !t.tracing() {
			return
		}
		start := a.CreatedAt.Add(-a.Duration)
		_, span := t.tracer.Start(ctx, "gatehouse.webhook.deliver",
			trace.WithSpanKind(trace.SpanKindClient), trace.WithNewRoot(), trace.WithTimestamp(start),
			trace.WithAttributes(AttrOrgID.String(a.OrganizationID), typ, outcome, AttrWebhookAttempt.Int(a.Number)))
		if a.StatusCode != 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(a.StatusCode))
		}
		if a.Outcome == webhook.OutcomeFailed || a.Outcome == webhook.OutcomeRetrying {
			span.SetStatus(codes.Error, a.Error)
		}
		span.End(trace.WithTimestamp(a.CreatedAt))
	}, nil
}

// ObserveWebhooks exports a dispatcher's counters, typically
// ObserveWebhooks(dispatcher.Stats):
//
//   - gatehouse.webhook.dispatcher.attempts {attempt}, by
//     gatehouse.webhook.outcome (succeeded, failed);
//   - gatehouse.webhook.dispatcher.exhausted {delivery}: deliveries abandoned
//     after their last attempt;
//   - gatehouse.webhook.dispatcher.skipped {delivery}: not sent because the
//     owning key may no longer read the event;
//   - gatehouse.webhook.dispatcher.endpoints_disabled {endpoint};
//   - gatehouse.webhook.dispatcher.in_flight {request} and
//     gatehouse.webhook.dispatcher.backlog {delivery}, gauges (the backlog
//     is the retry backlog: pending deliveries, due or scheduled).
func (t *Instruments) ObserveWebhooks(stats func() webhook.Stats) (metric.Registration, error) {
	if stats == nil {
		return nil, errors.New("telemetry: ObserveWebhooks: nil stats")
	}
	var c counters
	attempts := c.counter(t.meter, "gatehouse.webhook.dispatcher.attempts", "{attempt}", "Delivery attempts of the dispatcher, by outcome.")
	exhausted := c.counter(t.meter, "gatehouse.webhook.dispatcher.exhausted", "{delivery}", "Deliveries abandoned after their last attempt.")
	skipped := c.counter(t.meter, "gatehouse.webhook.dispatcher.skipped", "{delivery}", "Deliveries not sent because the owning key may not read the event.")
	disabled := c.counter(t.meter, "gatehouse.webhook.dispatcher.endpoints_disabled", "{endpoint}", "Endpoints the dispatcher disabled.")
	inFlight := c.gauge(t.meter, "gatehouse.webhook.dispatcher.in_flight", "{request}", "Deliveries being sent now.")
	backlog := c.gauge(t.meter, "gatehouse.webhook.dispatcher.backlog", "{delivery}", "Pending deliveries, due or scheduled for a retry.")
	if c.err != nil {
		return nil, c.err
	}
	ok := metric.WithAttributeSet(attribute.NewSet(AttrWebhookOutcome.String(webhook.OutcomeSucceeded)))
	bad := metric.WithAttributeSet(attribute.NewSet(AttrWebhookOutcome.String(webhook.OutcomeFailed)))
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(attempts, s.Successes, ok)
		o.ObserveInt64(attempts, s.Failures, bad)
		o.ObserveInt64(exhausted, s.Exhausted)
		o.ObserveInt64(skipped, s.Skipped)
		o.ObserveInt64(disabled, s.EndpointsDisabled)
		o.ObserveInt64(inFlight, s.InFlight)
		o.ObserveInt64(backlog, s.Backlog)
		return nil
	}, c.all...)
}
