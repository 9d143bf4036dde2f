package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev/auth"
)

// Store returns s with a span and a gatehouse.key.verification.duration
// measurement per LookupKey. Put it under the key cache, so that only the
// lookups that reach the store are traced and timed, never a cache hit:
//
//	keycache.New(keycache.Options{Store: tel.Store(store), Orgs: tel.Orgs(store)})
//
// The span "gatehouse.auth.lookup_key" carries the looked-up public id
// (gatehouse.key.public_id, the part of a key that is not secret), the
// result (gatehouse.auth.result: found, not_found or error) and, once the
// key is found, its UUID (gatehouse.key.id) and organization
// (gatehouse.org.id). The store never sees the raw key, so neither does
// the span. [auth.ErrNotFound] is a result, not a span error.
func (t *Instruments) Store(s auth.Store) auth.Store {
	return &store{t: t, next: s}
}

type store struct {
	t    *Instruments
	next auth.Store
}

func (s *store) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	timed := s.t.keyDuration.Enabled(ctx)
	var start time.Time
	if timed {
		start = time.Now()
	}
	var span trace.Span
	if s.t.tracing() {
		ctx, span = s.t.tracer.Start(ctx, "gatehouse.auth.lookup_key", s.t.spanInternal...)
	}
	k, err := s.next.LookupKey(ctx, publicID)
	res := keyFound
	switch {
	case errors.Is(err, auth.ErrNotFound):
		res = keyNotFound
	case err != nil:
		res = keyError
	}
	if span != nil {
		if span.IsRecording() {
			span.SetAttributes(AttrKeyPublicID.String(publicID), AttrAuthResult.String(res.String()))
			if res == keyFound {
				span.SetAttributes(AttrKeyID.String(k.ID), AttrOrgID.String(k.OrganizationID))
			}
			if res == keyError {
				spanError(span, err)
			}
		}
		span.End()
	}
	if timed {
		s.t.keyDuration.Record(ctx, time.Since(start).Seconds(), s.t.authOpts[res]...)
	}
	return k, err
}

// Orgs returns o with a span ("gatehouse.auth.api_enabled", with
// gatehouse.org.id and gatehouse.auth.result: enabled, disabled or error)
// and a gatehouse.key.verification.duration measurement per APIEnabled.
// Like [Instruments.Store], put it under the key cache.
func (t *Instruments) Orgs(o auth.OrgChecker) auth.OrgChecker {
	return &orgs{t: t, next: o}
}

type orgs struct {
	t    *Instruments
	next auth.OrgChecker
}

func (o *orgs) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	timed := o.t.keyDuration.Enabled(ctx)
	var start time.Time
	if timed {
		start = time.Now()
	}
	var span trace.Span
	if o.t.tracing() {
		ctx, span = o.t.tracer.Start(ctx, "gatehouse.auth.api_enabled", o.t.spanInternal...)
	}
	on, err := o.next.APIEnabled(ctx, orgID)
	res := orgDisabled
	switch {
	case err != nil:
		res = orgError
	case on:
		res = orgEnabled
	}
	if span != nil {
		if span.IsRecording() {
			span.SetAttributes(AttrOrgID.String(orgID), AttrAuthResult.String(res.String()))
			if err != nil {
				spanError(span, err)
			}
		}
		span.End()
	}
	if timed {
		o.t.keyDuration.Record(ctx, time.Since(start).Seconds(), o.t.authOpts[res]...)
	}
	return on, err
}

// spanError marks span as failed with err: status Error, error.type and
// an exception event.
func spanError(span trace.Span, err error) {
	span.SetAttributes(semconv.ErrorType(err))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
