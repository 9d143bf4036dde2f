package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"gatehouse.dev/audit"
	"gatehouse.dev/ratelimit/redislimit"
)

// The Observe methods export counters that components already keep (their
// Stats) through asynchronous instruments: the meter calls stats when it
// collects, so the request path does no extra work. Each returns the
// callback's registration (Unregister stops the export) and fails only when
// stats is nil or the meter refuses an instrument. Register each component
// once per Instruments.

// ObserveLimiter exports the Redis limiter's counters, typically
// ObserveLimiter(limiter.Stats):
//
//   - gatehouse.redislimit.decisions {decision}, by gatehouse.ratelimit.decision
//     (allowed, limited): every Allow decision, whoever made it (Redis, the
//     deny cache or the failure policy);
//   - gatehouse.redislimit.fallback.decisions {decision}: decisions made by
//     the failure policy because Redis failed or the breaker was open;
//   - gatehouse.redislimit.errors {error}: failed or timed-out Redis calls;
//   - gatehouse.redislimit.deny_cache.hits {hit};
//   - gatehouse.redislimit.breaker.opens {open};
//   - gatehouse.redislimit.breaker.state {state}, a gauge of 1 for the current
//     gatehouse.ratelimit.breaker.state (closed, open, half-open) and 0 for
//     the others;
//   - gatehouse.redislimit.round_trips {round_trip} and
//     gatehouse.redislimit.commands {command} sent to Redis.
func (t *Instruments) ObserveLimiter(stats func() redislimit.Stats) (metric.Registration, error) {
	if stats == nil {
		return nil, errors.New("telemetry: ObserveLimiter: nil stats")
	}
	var c counters
	decisions := c.counter(t.meter, "gatehouse.redislimit.decisions", "{decision}", "Rate-limit decisions of the Redis limiter, by result.")
	fallbacks := c.counter(t.meter, "gatehouse.redislimit.fallback.decisions", "{decision}", "Decisions made by the failure policy while Redis failed or the breaker was open.")
	redisErrs := c.counter(t.meter, "gatehouse.redislimit.errors", "{error}", "Failed or timed-out Redis calls of the limiter.")
	denyHits := c.counter(t.meter, "gatehouse.redislimit.deny_cache.hits", "{hit}", "Decisions answered by the local deny cache.")
	opens := c.counter(t.meter, "gatehouse.redislimit.breaker.opens", "{open}", "Times the circuit breaker opened.")
	state := c.gauge(t.meter, "gatehouse.redislimit.breaker.state", "{state}", "1 for the circuit breaker's current state, 0 for the others.")
	trips := c.counter(t.meter, "gatehouse.redislimit.round_trips", "{round_trip}", "Round trips to Redis (pipelines).")
	cmds := c.counter(t.meter, "gatehouse.redislimit.commands", "{command}", "Commands sent to Redis.")
	if c.err != nil {
		return nil, c.err
	}
	allowed := metric.WithAttributeSet(attribute.NewSet(AttrDecision.String("allowed")))
	limited := metric.WithAttributeSet(attribute.NewSet(AttrDecision.String("limited")))
	states := []redislimit.BreakerState{redislimit.BreakerClosed, redislimit.BreakerOpen, redislimit.BreakerHalfOpen}
	stateOpts := make([]metric.ObserveOption, len(states))
	for i, s := range states {
		stateOpts[i] = metric.WithAttributeSet(attribute.NewSet(AttrBreakerState.String(s.String())))
	}
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(decisions, clamp(s.Allowed), allowed)
		o.ObserveInt64(decisions, clamp(s.Limited), limited)
		o.ObserveInt64(fallbacks, clamp(s.FallbackDecisions))
		o.ObserveInt64(redisErrs, clamp(s.RedisErrors))
		o.ObserveInt64(denyHits, clamp(s.DenyCacheHits))
		o.ObserveInt64(opens, clamp(s.BreakerOpens))
		for i, st := range states {
			var v int64
			if s.Breaker == st {
				v = 1
			}
			o.ObserveInt64(state, v, stateOpts[i])
		}
		o.ObserveInt64(trips, clamp(s.RoundTrips))
		o.ObserveInt64(cmds, clamp(s.Commands))
		return nil
	}, c.all...)
}

// ObserveAudit exports the audit recorder's counters, typically
// ObserveAudit(recorder.Stats):
//
//   - gatehouse.audit.entries {entry}, by gatehouse.audit.state: written
//     (accepted by the backend) and dropped (pushed out of a full buffer,
//     recorded after Close, or in a batch that failed every attempt);
//   - gatehouse.audit.errors {error}: failed writes;
//   - gatehouse.audit.queued {entry}: a gauge of the entries pending now.
func (t *Instruments) ObserveAudit(stats func() audit.Stats) (metric.Registration, error) {
	if stats == nil {
		return nil, errors.New("telemetry: ObserveAudit: nil stats")
	}
	var c counters
	entries := c.counter(t.meter, "gatehouse.audit.entries", "{entry}", "Audit entries written or dropped.")
	errs := c.counter(t.meter, "gatehouse.audit.errors", "{error}", "Failed audit writes.")
	queued := c.gauge(t.meter, "gatehouse.audit.queued", "{entry}", "Audit entries pending now.")
	if c.err != nil {
		return nil, c.err
	}
	written := metric.WithAttributeSet(attribute.NewSet(AttrAuditState.String("written")))
	dropped := metric.WithAttributeSet(attribute.NewSet(AttrAuditState.String("dropped")))
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(entries, clamp(s.Written), written)
		o.ObserveInt64(entries, clamp(s.Dropped), dropped)
		o.ObserveInt64(errs, clamp(s.Errors))
		o.ObserveInt64(queued, int64(s.Queued))
		return nil
	}, c.all...)
}

// CacheStats is what [Instruments.ObserveCache] exports of a key cache
// (gatehouse.dev/auth/keycache): counters that only grow, and the current
// entries. Fill it from the cache's own Stats in the function passed to
// ObserveCache.
type CacheStats struct {
	// Hits, NegativeHits and Misses count key lookups answered from a
	// cached key, from a cached "not found", and by the store.
	Hits, NegativeHits, Misses uint64
	// OrgHits and OrgMisses count organization lookups likewise.
	OrgHits, OrgMisses uint64
	// Invalidations count applied changes of one key or organization;
	// Flushes applied changes that dropped the whole cache.
	Invalidations, Flushes uint64
	// Evictions count entries dropped to stay within the size bounds.
	Evictions uint64
	// Errors count store reads that failed.
	Errors uint64
	// Entries, NegativeEntries and OrgEntries are the cached entries now.
	Entries, NegativeEntries, OrgEntries int
	// FeedHealthy reports whether the invalidation feed is healthy now.
	FeedHealthy bool
}

// ObserveCache exports a key cache's counters:
//
//   - gatehouse.keycache.lookups {lookup}, by gatehouse.keycache.kind (key,
//     org) and gatehouse.keycache.result (hit, negative_hit, miss);
//   - gatehouse.keycache.invalidations {invalidation}, by
//     gatehouse.keycache.scope (entry, all);
//   - gatehouse.keycache.evictions {entry} and gatehouse.keycache.errors
//     {error};
//   - gatehouse.keycache.entries {entry}, a gauge by gatehouse.keycache.kind
//     (key, negative, org);
//   - gatehouse.keycache.feed.healthy, a gauge of 1 while the invalidation
//     feed is healthy, else 0.
//
// For example:
//
//	tel.ObserveCache(func() telemetry.CacheStats {
//		s := cache.Stats()
//		return telemetry.CacheStats{Hits: s.Hits, Misses: s.Misses, ...}
//	})
func (t *Instruments) ObserveCache(stats func() CacheStats) (metric.Registration, error) {
	if stats == nil {
		return nil, errors.New("telemetry: ObserveCache: nil stats")
	}
	var c counters
	lookups := c.counter(t.meter, "gatehouse.keycache.lookups", "{lookup}", "Key cache lookups by table and result.")
	invals := c.counter(t.meter, "gatehouse.keycache.invalidations", "{invalidation}", "Invalidations applied to the key cache.")
	evictions := c.counter(t.meter, "gatehouse.keycache.evictions", "{entry}", "Key cache entries evicted to stay within bounds.")
	errs := c.counter(t.meter, "gatehouse.keycache.errors", "{error}", "Store reads of the key cache that failed.")
	entries := c.gauge(t.meter, "gatehouse.keycache.entries", "{entry}", "Entries in the key cache now.")
	healthy := c.gauge(t.meter, "gatehouse.keycache.feed.healthy", "1", "1 while the invalidation feed is healthy, else 0.")
	if c.err != nil {
		return nil, c.err
	}
	set := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	keyHit := set(AttrCacheKind.String("key"), AttrCacheResult.String("hit"))
	keyNeg := set(AttrCacheKind.String("key"), AttrCacheResult.String("negative_hit"))
	keyMiss := set(AttrCacheKind.String("key"), AttrCacheResult.String("miss"))
	orgHit := set(AttrCacheKind.String("org"), AttrCacheResult.String("hit"))
	orgMiss := set(AttrCacheKind.String("org"), AttrCacheResult.String("miss"))
	scopeEntry := set(AttrCacheScope.String("entry"))
	scopeAll := set(AttrCacheScope.String("all"))
	kindKey := set(AttrCacheKind.String("key"))
	kindNeg := set(AttrCacheKind.String("negative"))
	kindOrg := set(AttrCacheKind.String("org"))
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(lookups, clamp(s.Hits), keyHit)
		o.ObserveInt64(lookups, clamp(s.NegativeHits), keyNeg)
		o.ObserveInt64(lookups, clamp(s.Misses), keyMiss)
		o.ObserveInt64(lookups, clamp(s.OrgHits), orgHit)
		o.ObserveInt64(lookups, clamp(s.OrgMisses), orgMiss)
		o.ObserveInt64(invals, clamp(s.Invalidations), scopeEntry)
		o.ObserveInt64(invals, clamp(s.Flushes), scopeAll)
		o.ObserveInt64(evictions, clamp(s.Evictions))
		o.ObserveInt64(errs, clamp(s.Errors))
		o.ObserveInt64(entries, int64(s.Entries), kindKey)
		o.ObserveInt64(entries, int64(s.NegativeEntries), kindNeg)
		o.ObserveInt64(entries, int64(s.OrgEntries), kindOrg)
		var h int64
		if s.FeedHealthy {
			h = 1
		}
		o.ObserveInt64(healthy, h)
		return nil
	}, c.all...)
}

// counters creates observable instruments, collecting the first error.
type counters struct {
	all []metric.Observable
	err error
}

func (c *counters) counter(m metric.Meter, name, unit, desc string) metric.Int64ObservableCounter {
	inst, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	c.add(inst, name, err)
	return inst
}

func (c *counters) gauge(m metric.Meter, name, unit, desc string) metric.Int64ObservableGauge {
	inst, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	c.add(inst, name, err)
	return inst
}

func (c *counters) add(inst metric.Observable, name string, err error) {
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("telemetry: create %s: %w", name, err)
	}
	c.all = append(c.all, inst)
}

// clamp converts a counter to the int64 of the instruments.
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
