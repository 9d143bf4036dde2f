// Package telemetry adds OpenTelemetry traces and metrics and request-aware
// structured logs to a gatehouse service, as decorators and hooks around
// the components the service already builds, so that no other gatehouse
// package depends on OpenTelemetry.
//
// It uses the OpenTelemetry API only. The host passes a TracerProvider and
// a MeterProvider in [Options] (nil means the global ones); gatehouse
// never installs an SDK or an exporter and never sets the global providers.
// Like gatehouse.dev/admin it sits on top: it imports auth, ratelimit,
// redislimit and audit, and nothing in the library imports it.
//
// Wiring, from the outside in (see docs/observability.md for every span,
// metric and attribute):
//
//	tel, err := telemetry.New(telemetry.Options{TracerProvider: tp, MeterProvider: mp})
//	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
//	db, dialect, err := sqldb.OpenWith(dsn, sqldb.Options{WrapConnector: tel.Connector})
//	rdb.AddHook(tel.RedisHook())
//	cache, err := keycache.New(keycache.Options{Store: tel.Store(store), Orgs: tel.Orgs(store)})
//	limiter, err := ratelimit.New(ratelimit.Options{Limiter: tel.Limiter(redisLimiter), ...})
//	recorder, err := audit.NewRecorder(audit.RecorderOptions{Writer: tel.AuditWriter(auditStore)})
//	tel.ObserveLimiter(redisLimiter.Stats)
//	tel.ObserveAudit(recorder.Stats)
//	handler := gatehouse.RequestID(tel.Middleware(authn.Wrap(...)))
//
// Spans are made only for stages that do I/O: a key lookup that misses the
// cache, a Redis rate-limit call, an audit batch, each SQL statement and
// Redis command. A cache hit or an in-process limiter decision makes none.
// Metrics have bounded attributes (route pattern, outcome, method, status;
// the organization only with [Options].OrgAttribute); key ids never go on
// metrics and no raw key goes anywhere. Counters that components keep in
// their Stats are exported through asynchronous instruments, read only
// when the meter collects.
//
// With no SDK installed the decorators cost close to nothing: spans are
// not started while the global provider is still the no-op placeholder (or
// the provider is trace/noop), and the request middleware calls the next
// handler directly when no meter is enabled and no span records.
package telemetry
