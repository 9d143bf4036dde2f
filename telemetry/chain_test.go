package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/scope"
	"gatehouse.dev/telemetry"
)

// chain is the public API chain of a service, fully instrumented: a host
// server span (as otelhttp would make), RequestID, the telemetry
// middleware, authentication on a key cache over the traced memory store,
// the rate limiter (in-process, traced), a router with scopes.
type chain struct {
	sdk     *sdk
	tel     *telemetry.Instruments
	handler http.Handler
	cache   *keycache.Cache
	logs    *syncBuffer
	keys    map[string]auth.RawKey // by name
	store   *auth.Memory
}

const brokenOrg = "org-broken"

func newChain(t *testing.T, opts telemetry.Options) *chain {
	t.Helper()
	ctx := context.Background()
	c := &chain{sdk: newSDK(t), logs: &syncBuffer{}, keys: map[string]auth.RawKey{}}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	opts.Logger = logger
	c.tel = c.sdk.instruments(t, opts)

	c.store = auth.NewMemory(auth.MemoryOptions{})
	for _, o := range []auth.Org{
		{ID: "org-a", Name: "A", APIEnabled: true},
		{ID: "org-off", Name: "Off"},
		{ID: brokenOrg, Name: "Broken", APIEnabled: true},
	} {
		if _, err := c.store.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	newKey := func(name, org string, limit int) auth.Key {
		raw, k, err := auth.NewKey("joby", auth.EnvLive, auth.Key{
			OrganizationID: org, Name: name, Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: limit,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.store.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		c.keys[name] = raw
		return k
	}
	newKey("valid", "org-a", 60)
	revoked := newKey("revoked", "org-a", 60)
	if _, err := c.store.RevokeKey(ctx, "org-a", revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	newKey("off", "org-off", 60)
	newKey("limited", "org-a", 1)
	newKey("broken", brokenOrg, 60)

	// The organization checker of one organization is down.
	orgs := auth.OrgCheckerFunc(func(ctx context.Context, orgID string) (bool, error) {
		if orgID == brokenOrg {
			return false, errors.New("orgs: database down")
		}
		return c.store.APIEnabled(ctx, orgID)
	})
	var err error
	// A frozen clock: no entry goes stale however slow the test runs, so
	// the misses (and the store's spans) are exactly the first lookups.
	frozen := time.Now()
	c.cache, err = keycache.New(keycache.Options{
		Store: c.tel.Store(c.store), Orgs: c.tel.Orgs(orgs),
		Now: func() time.Time { return frozen },
	})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Options{Store: c.cache, Orgs: c.cache, Prefix: "joby", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Options{Limiter: c.tel.Limiter(mem), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteData(w, r, http.StatusOK, map[string]string{"hello": "world"})
	})
	mux.Handle("GET /v1/leads", scope.Require("leads:read")(ok))
	mux.Handle("POST /v1/leads", scope.Require("leads:create")(ok))
	mux.Handle("GET /v1/leads/{id}", scope.Require("leads:read")(ok))

	api := gatehouse.RequestID(c.tel.Middleware(authn.Wrap(limiter.Wrap(gatehouse.RecordRoute(mux)))))
	host := c.sdk.tp.Tracer("host")
	c.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := host.Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		api.ServeHTTP(w, r.WithContext(ctx))
	})
	return c
}

// do sends a request with key (by name, "" for none) and returns the
// response.
func (c *chain) do(t *testing.T, method, path, key string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if key != "" {
		raw, ok := c.keys[key]
		if !ok {
			t.Fatalf("no key %q", key)
		}
		r.Header.Set("Authorization", "Bearer "+raw.Reveal())
	}
	w := httptest.NewRecorder()
	c.handler.ServeHTTP(w, r)
	return w
}

var (
	outcome = telemetry.AttrOutcome.String
	route   = semconv.HTTPRoute
)

func TestChain(t *testing.T) {
	t.Parallel()
	c := newChain(t, telemetry.Options{})
	var stats func() telemetry.CacheStats = func() telemetry.CacheStats {
		s := c.cache.Stats()
		return telemetry.CacheStats{
			Hits: s.Hits, NegativeHits: s.NegativeHits, Misses: s.Misses, OrgHits: s.OrgHits, OrgMisses: s.OrgMisses,
			Invalidations: s.Invalidations, Flushes: s.Flushes, Evictions: s.Evictions, Errors: s.Errors,
			Entries: s.Entries, NegativeEntries: s.NegativeEntries, OrgEntries: s.OrgEntries, FeedHealthy: s.FeedHealthy,
		}
	}
	if _, err := c.tel.ObserveCache(stats); err != nil {
		t.Fatal(err)
	}

	type step struct {
		method, path, key string
		status            int
		outcome, route    string
	}
	const leads, lead = "/v1/leads", "/v1/leads/{id}"
	steps := []step{
		{"GET", "/v1/leads", "valid", 200, "authenticated", leads},    // cache miss: store spans
		{"GET", "/v1/leads", "valid", 200, "authenticated", leads},    // cache hit: no store span
		{"GET", "/v1/leads/42", "valid", 200, "authenticated", lead},  // another route
		{"POST", "/v1/leads", "valid", 403, "forbidden_scope", leads}, // scope.Require refuses
		{"GET", "/v1/nowhere", "valid", 404, "authenticated", ""},     // no route matched
		{"PATCH", "/v1/leads/42", "valid", 405, "authenticated", ""},  // the mux's 405
		{"BREW", "/v1/leads", "valid", 405, "authenticated", ""},      // an unknown method
		{"GET", "/v1/leads", "revoked", 401, "unauthenticated", ""},   // revoked key
		{"GET", "/v1/leads/7", "revoked", 401, "unauthenticated", ""}, // revoked, now cached
		{"GET", "/v1/leads", "", 401, "unauthenticated", ""},          // missing key
		{"GET", "/v1/leads", "off", 403, "module_disabled", ""},       // API switched off
		{"GET", "/v1/leads/3", "off", 403, "module_disabled", ""},     // cached
		{"GET", "/v1/leads", "limited", 200, "authenticated", leads},  // its one request
		{"GET", "/v1/leads", "limited", 429, "rate_limited", ""},      // limited
		{"GET", "/v1/leads/9", "limited", 429, "rate_limited", ""},    // limited again
		{"GET", "/v1/leads", "broken", 500, "error", ""},              // the org check fails
		{"GET", "/v1/leads", "broken", 500, "error", ""},              // errors are not cached
		{"GET", "/v1/leads/1", "valid", 200, "authenticated", lead},
		{"POST", "/v1/leads", "valid", 403, "forbidden_scope", leads},
		{"GET", "/v1/leads", "valid", 200, "authenticated", leads},
	}
	want := map[[2]string]int64{}
	var allowed, limited int64
	var brokenRequestID string
	for i, s := range steps {
		w := c.do(t, s.method, s.path, s.key)
		if w.Code != s.status {
			t.Fatalf("step %d %s %s as %q: status %d, want %d: %s", i, s.method, s.path, s.key, w.Code, s.status, w.Body)
		}
		if s.key == "broken" && brokenRequestID == "" {
			brokenRequestID = w.Header().Get(gatehouse.RequestIDHeader)
		}
		want[[2]string{s.outcome, s.route}]++
		switch s.outcome {
		case "authenticated", "forbidden_scope":
			allowed++
		case "rate_limited":
			limited++
		}
	}

	rm := c.sdk.collect(t)
	const requests = "gatehouse.requests"
	for k, n := range want {
		with := []attribute.KeyValue{outcome(k[0])}
		if k[1] != "" {
			with = append(with, route(k[1]))
		}
		got := sum(t, rm, requests, with...)
		if k[1] == "" {
			// Data points without a route: subtract those with one.
			for _, r := range []string{leads, lead} {
				got -= sum(t, rm, requests, outcome(k[0]), route(r))
			}
		}
		if got != n {
			t.Errorf("%s{outcome=%s, route=%q} = %d, want %d", requests, k[0], k[1], got, n)
		}
	}
	// No attribute set carries a key or, without OrgAttribute, an
	// organization.
	for _, set := range attrSets(rm, requests) {
		for _, k := range []attribute.Key{telemetry.AttrKeyID, telemetry.AttrOrgID, telemetry.AttrKeyPublicID} {
			if set.HasValue(k) {
				t.Errorf("%s has %s without OrgAttribute: %v", requests, k, set.ToSlice())
			}
		}
	}
	const duration = "gatehouse.request.duration"
	if got := histCount(t, rm, duration, outcome("rate_limited"), semconv.HTTPResponseStatusCode(429)); got != 2 {
		t.Errorf("%s 429s = %d, want 2", duration, got)
	}
	if got := histCount(t, rm, duration, semconv.HTTPRequestMethodKey.String("_OTHER")); got != 1 {
		t.Errorf("%s BREW as _OTHER = %d, want 1", duration, got)
	}
	if got := histCount(t, rm, duration, outcome("authenticated"), semconv.HTTPResponseStatusCode(404)); got != 1 {
		t.Errorf("%s authenticated 404 = %d, want 1", duration, got)
	}
	if got := histCount(t, rm, duration); got != uint64(len(steps)) {
		t.Errorf("%s count = %d, want %d", duration, got, len(steps))
	}

	// Rate-limit decisions of the in-process limiter: counted, no spans.
	const decisions = "gatehouse.ratelimit.decisions"
	if got := sum(t, rm, decisions, telemetry.AttrDecision.String("limited")); got != limited {
		t.Errorf("%s limited = %d, want %d", decisions, got, limited)
	}
	if got := sum(t, rm, decisions, telemetry.AttrDecision.String("allowed")); got != allowed {
		t.Errorf("%s allowed = %d, want %d", decisions, got, allowed)
	}
	if n := len(c.sdk.ended("gatehouse.ratelimit.allow")); n != 0 {
		t.Errorf("%d spans for the in-process limiter", n)
	}

	// Store spans only for cache misses: one per key that reached the
	// store (valid, revoked, off, limited, broken), the broken org's key
	// once (its key is cached; its org read failed twice).
	lookups := c.sdk.ended("gatehouse.auth.lookup_key")
	if len(lookups) != 5 {
		t.Errorf("%d lookup_key spans, want 5 (one per key; cache hits make none)", len(lookups))
	}
	for _, sp := range lookups {
		id, _ := spanAttr(sp, telemetry.AttrKeyID)
		org, _ := spanAttr(sp, telemetry.AttrOrgID)
		res, _ := spanAttr(sp, telemetry.AttrAuthResult)
		if res != "found" || id == "" || org == "" {
			t.Errorf("lookup_key span: result %q key %q org %q", res, id, org)
		}
		if !sp.Parent().IsValid() {
			t.Error("lookup_key span has no parent: the request's server span was lost")
		}
	}
	apiSpans := c.sdk.ended("gatehouse.auth.api_enabled")
	var failed int
	for _, sp := range apiSpans {
		if sp.Status().Code == codes.Error {
			failed++
			if org, _ := spanAttr(sp, telemetry.AttrOrgID); org != brokenOrg {
				t.Errorf("failed api_enabled span of org %q", org)
			}
		}
	}
	if len(apiSpans) != 4 || failed != 2 {
		t.Errorf("%d api_enabled spans (%d failed), want 4 (2 failed): org-a and org-off once each, the broken org twice", len(apiSpans), failed)
	}
	const verify = "gatehouse.key.verification.duration"
	if got := histCount(t, rm, verify, telemetry.AttrAuthOperation.String("lookup_key")); got != 5 {
		t.Errorf("%s lookup_key = %d, want 5", verify, got)
	}
	if got := histCount(t, rm, verify, telemetry.AttrAuthResult.String("error")); got != 2 {
		t.Errorf("%s errors = %d, want 2", verify, got)
	}

	// The key cache's own counters, observed.
	if got := sum(t, rm, "gatehouse.keycache.lookups", telemetry.AttrCacheKind.String("key"), telemetry.AttrCacheResult.String("miss")); got != 5 {
		t.Errorf("keycache key misses = %d, want 5", got)
	}
	// Every request with a well-formed key looked it up: 19, 5 of them
	// misses.
	if got := sum(t, rm, "gatehouse.keycache.lookups", telemetry.AttrCacheKind.String("key"), telemetry.AttrCacheResult.String("hit")); got != 14 {
		t.Errorf("keycache key hits = %d, want 14", got)
	}
	if got := sum(t, rm, "gatehouse.keycache.entries", telemetry.AttrCacheKind.String("key")); got != 5 {
		t.Errorf("keycache key entries = %d, want 5", got)
	}

	if got := sum(t, rm, "gatehouse.keycache.errors"); got != 2 {
		t.Errorf("keycache errors = %d, want 2 (the broken organization)", got)
	}
	if got := sum(t, rm, "gatehouse.keycache.feed.healthy"); got != 0 {
		t.Errorf("feed healthy = %d before any feed", got)
	}
	c.cache.InvalidateKey("some-key")
	c.cache.Flush()
	c.cache.MarkFeedHealthy(time.Minute)
	rm2 := c.sdk.collect(t)
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"invalidations of one entry", sum(t, rm2, "gatehouse.keycache.invalidations", telemetry.AttrCacheScope.String("entry")), 1},
		{"flushes", sum(t, rm2, "gatehouse.keycache.invalidations", telemetry.AttrCacheScope.String("all")), 1},
		{"key entries after the flush", sum(t, rm2, "gatehouse.keycache.entries", telemetry.AttrCacheKind.String("key")), 0},
		{"feed healthy", sum(t, rm2, "gatehouse.keycache.feed.healthy"), 1},
		{"evictions", sum(t, rm2, "gatehouse.keycache.evictions"), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("keycache %s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}

	// The host's server spans got the route, outcome and caller.
	var server429, server500, serverRoute trace.SpanContext
	errorTraces := map[string]bool{}
	for _, sp := range c.sdk.spans.Ended() {
		if sp.SpanKind() != trace.SpanKindServer {
			continue
		}
		o, _ := spanAttr(sp, telemetry.AttrOutcome)
		switch o {
		case "rate_limited":
			server429 = sp.SpanContext()
		case "error":
			server500 = sp.SpanContext()
			errorTraces[sp.SpanContext().TraceID().String()] = true
			if k, _ := spanAttr(sp, telemetry.AttrKeyID); k != "" {
				t.Error("a request refused by the organization check has a key id on its span")
			}
		case "authenticated":
			if k, _ := spanAttr(sp, telemetry.AttrKeyID); k == "" {
				t.Error("authenticated server span without gatehouse.key.id")
			}
			if r, _ := spanAttr(sp, semconv.HTTPRouteKey); r == lead {
				serverRoute = sp.SpanContext()
			}
		case "":
			t.Errorf("server span %s without outcome", sp.Name())
		}
	}
	if !server429.IsValid() || !server500.IsValid() || !serverRoute.IsValid() {
		t.Fatal("no server span with outcome rate_limited, or error, or with route " + lead)
	}

	// Logs of a request carry its request id and trace id.
	found := false
	for _, line := range strings.Split(strings.TrimSpace(c.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["request_id"] == brokenRequestID {
			found = true
			if id, _ := rec["trace_id"].(string); !errorTraces[id] {
				t.Errorf("log line of the 500 has trace_id %v, not one of the failed requests' %v", rec["trace_id"], errorTraces)
			}
		}
	}
	if !found {
		t.Errorf("no log line with the 500's request id %s in:\n%s", brokenRequestID, c.logs)
	}
}

func TestOrgAttribute(t *testing.T) {
	t.Parallel()
	c := newChain(t, telemetry.Options{OrgAttribute: true})
	for _, key := range []string{"valid", "valid", "off", ""} {
		c.do(t, "GET", "/v1/leads", key)
	}
	rm := c.sdk.collect(t)
	if got := sum(t, rm, "gatehouse.requests", telemetry.AttrOrgID.String("org-a"), outcome("authenticated")); got != 2 {
		t.Errorf("requests of org-a = %d, want 2", got)
	}
	if got := sum(t, rm, "gatehouse.requests", outcome("unauthenticated")); got != 1 {
		t.Errorf("unauthenticated = %d, want 1", got)
	}
	for _, name := range []string{"gatehouse.requests", "gatehouse.request.duration", "gatehouse.ratelimit.decisions"} {
		for _, set := range attrSets(rm, name) {
			if set.HasValue(telemetry.AttrKeyID) {
				t.Errorf("%s carries a key id: %v", name, set.ToSlice())
			}
			if name != "gatehouse.requests" && set.HasValue(telemetry.AttrOrgID) {
				t.Errorf("%s carries the organization: %v", name, set.ToSlice())
			}
		}
	}
}
