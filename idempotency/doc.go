// Package idempotency makes POST and PATCH safe to retry with the
// Idempotency-Key request header (IETF httpapi draft "The Idempotency-Key
// HTTP Header Field", with Stripe's semantics), for clients such as Zapier,
// Make or n8n that retry after timeouts.
//
// [Middleware] goes into resource.Options.Middleware, so it runs after
// authentication, rate limiting and the route's scope check: a 401, 403 or
// 429 never touches the store, and a replay still counts for rate limiting
// and appears in the audit log:
//
//	RequestID → auth → audit → ratelimit → registry → scope → idempotency → handler
//
// # Semantics
//
// The key is optional; when present it must be 1–255 printable ASCII
// characters (else 400 "Invalid request headers" naming Idempotency-Key).
// Keys are scoped to the API key (the lineage of the request's
// gatehouse.Caller, or Options.Key), so two API keys may use the
// same value independently. A request's fingerprint is the SHA-256 of the
// API key id, the method, the concrete path (PATCH /v1/leads/A and
// /v1/leads/B differ) and the SHA-256 of the raw body.
//
//   - First request: processed normally. A 2xx, 400 or 404 answer (the
//     outcomes the handler decided) is stored with the fingerprint for TTL
//     (default 24 h): status, Content-Type, Location, Cache-Control and
//     body, the body sealed with Options.Keyring (so a secret a response
//     carries never rests in the store in plain text).
//   - Same key, same fingerprint, completed: the stored response is
//     returned unchanged (the same record, the original request_id inside
//     the body; the X-Request-Id header is the retry's own, which the audit
//     log records) with Idempotent-Replayed: true. Nothing is created or
//     changed again; a replayed PATCH does not bump updated_at.
//   - Same key, another fingerprint: 422 "Idempotency key reused with a
//     different request".
//   - Same key while the first request runs: 409 "A request with this
//     idempotency key is in progress" with Retry-After: 1.
//   - Any other answer (409 from the handler, 413, 5xx) or a panic releases
//     the key, so a retry is processed afresh.
//
// # Guarantees
//
// With package sqlidem (a [TxStore]) over the registry's own database, the
// response of a registry create or update is written by an UPDATE inside the
// write's transaction, just before COMMIT (resource.CommitHook). Hence:
//
//   - the record exists if and only if its stored response does: a crash at
//     any point either loses both (the key is then in flight until its lock
//     expires, default 1 min, and a retry after that creates the record
//     once) or keeps both (a retry replays);
//   - a request that outlives LockTimeout and whose key another request
//     claimed in the meantime cannot commit: its UPDATE finds the claim gone
//     and the write is rolled back (409), so at most one write per key and
//     TTL ever commits;
//   - 400 and 404 answers, and answers of handlers outside the registry's
//     transaction (extra Routes), are stored right after the handler
//     returns, with the non-transactional caveats below.
//
// With package redisidem or [Memory], the response is stored after the
// handler returns, i.e. after the database commit. If the process dies in
// between (docs/idempotency.md measures this window: a fraction of a
// millisecond on a local Redis, one round trip plus a short Lua script), the
// record exists while its key stays in flight; once the lock expires a
// retry creates a second record. If storing fails (Redis down) the response
// is still sent and the failure logged; the key stays in flight until its
// lock expires, so retries within LockTimeout get 409 rather than a
// duplicate. A claim that fails (store down) is a 500: requests with a key
// are never served unprotected.
//
// Stores keep time themselves: sqlidem and Memory use their Now option
// (pods' clocks should agree), Redis its own clock. Expired records are
// deleted by sqlidem's Run, by Memory while claiming, and by Redis's TTLs.
package idempotency
