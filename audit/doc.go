// Package audit records, per API key, the latest requests it made: the
// per-key audit log that an organization's admins read.
//
// # Where it sits
//
// The [Middleware] runs right after authentication in the chain
//
//	request id → auth → audit → rate limit → router → scope → handler
//
// so it records every request made with a valid key, including those that
// end 400, 403, 404, 405 or 413, and none that failed authentication. A
// request the rate limit refused (429, [Entry.RateLimited]) is recorded too,
// but backends do not keep it among the key's latest entries: they count it
// in the key's [Refused] (how many, and when the last one was), read with
// [RefusedReader], so a flood of refused requests cannot push the key's
// valid requests out of its log.
// It learns the key from the request's gatehouse.Caller (or Options.Key;
// audit never imports auth) and records
// after the handler has returned: time, request id, method, path without the
// query, the route pattern recorded by the router, status, duration, client
// IP (X-Forwarded-For only from trusted proxies) and a truncated User-Agent.
// Headers, query values, bodies and the key itself are never recorded.
//
// # Storage
//
// Every backend keeps, per organization and key, exactly the newest Cap
// entries (default [DefaultCap], 50) ordered by (Time, RequestID), whatever
// order batches arrive in; [Reader.Latest] returns them newest first. The
// backends are [Memory] (in process, bounded number of keys),
// gatehouse.dev/audit/sqlaudit (SQLite and PostgreSQL) and
// gatehouse.dev/audit/redisaudit (Redis and Redis Cluster); all pass
// gatehouse.dev/audit/audittest.
//
// # Off the request path
//
// In front of a shared backend the middleware's Sink is a [Recorder]: Record
// copies the entry into a bounded ring (no I/O, no allocation) and
// [Recorder.Run] writes batches in the background. When the backend is slow
// or down the ring fills and the oldest pending entries are dropped and
// counted ([Recorder.Stats]): delivery is at most once under overload, and a
// request never waits for, or fails because of, the audit log.
// [Recorder.Close] flushes what is pending at shutdown.
package audit
