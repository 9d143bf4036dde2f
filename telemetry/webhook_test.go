package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"gatehouse.dev/telemetry"
	"gatehouse.dev/webhook"
)

func TestWebhookAttempt(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	onAttempt, err := tel.WebhookAttempt()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	onAttempt(context.Background(), webhook.Attempt{OrganizationID: "org-1", EventType: "lead.created", Number: 1,
		Outcome: webhook.OutcomeRetrying, StatusCode: 500, Duration: 20 * time.Millisecond, Error: "status 500", CreatedAt: end, Lag: time.Second})
	onAttempt(context.Background(), webhook.Attempt{OrganizationID: "org-1", EventType: "lead.created", Number: 2,
		Outcome: webhook.OutcomeSucceeded, StatusCode: 200, Duration: 10 * time.Millisecond, CreatedAt: end.Add(time.Minute), Lag: 61 * time.Second})

	spans := s.ended("gatehouse.webhook.deliver")
	if len(spans) != 2 {
		t.Fatalf("%d delivery spans, want 2", len(spans))
	}
	first := spans[0]
	if first.Status().Code != codes.Error || !first.StartTime().Equal(end.Add(-20*time.Millisecond)) || !first.EndTime().Equal(end) || first.Parent().IsValid() {
		t.Fatalf("failed attempt span: %v %v–%v", first.Status(), first.StartTime(), first.EndTime())
	}
	for _, k := range []struct{ key, want string }{{"gatehouse.org.id", "org-1"}, {"gatehouse.webhook.event_type", "lead.created"}, {"gatehouse.webhook.outcome", "retrying"}} {
		if v, _ := spanAttr(first, attribute.Key(k.key)); v != k.want {
			t.Errorf("%s = %q, want %q", k.key, v, k.want)
		}
	}
	if spans[1].Status().Code == codes.Error {
		t.Error("successful attempt marked as error")
	}
	rm := s.collect(t)
	if n := sum(t, rm, "gatehouse.webhook.attempts", telemetry.AttrWebhookOutcome.String("succeeded")); n != 1 {
		t.Errorf("succeeded attempts %d", n)
	}
	if n := sum(t, rm, "gatehouse.webhook.attempts", telemetry.AttrWebhookOutcome.String("retrying")); n != 1 {
		t.Errorf("retrying attempts %d", n)
	}
	if n := histCount(t, rm, "gatehouse.webhook.delivery.lag"); n != 1 {
		t.Errorf("lag recorded %d times, want once (successes only)", n)
	}
}

func TestObserveWebhooks(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	if _, err := tel.ObserveWebhooks(nil); err == nil {
		t.Fatal("nil stats accepted")
	}
	st := webhook.Stats{Attempts: 7, Successes: 5, Failures: 2, Exhausted: 1, Skipped: 3, EndpointsDisabled: 1, InFlight: 2, Backlog: 9}
	if _, err := tel.ObserveWebhooks(func() webhook.Stats { return st }); err != nil {
		t.Fatal(err)
	}
	rm := s.collect(t)
	for name, want := range map[string]int64{"gatehouse.webhook.dispatcher.exhausted": 1, "gatehouse.webhook.dispatcher.skipped": 3, "gatehouse.webhook.dispatcher.endpoints_disabled": 1} {
		if n := sum(t, rm, name); n != want {
			t.Errorf("%s = %d, want %d", name, n, want)
		}
	}
	if n := sum(t, rm, "gatehouse.webhook.dispatcher.attempts", telemetry.AttrWebhookOutcome.String("failed")); n != 2 {
		t.Errorf("failed attempts %d", n)
	}
	if findMetric(rm, "gatehouse.webhook.dispatcher.backlog") == nil {
		t.Error("no backlog gauge")
	}
}
