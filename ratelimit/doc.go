// Package ratelimit limits requests per key with GCRA, the generic cell rate
// algorithm: a key with [Limit]{Rate, Burst, Period} may spend Burst events
// at once and then gets Rate events per Period, refilled smoothly (one every
// Period/Rate). Denied events consume nothing. [PerMinute](n) is the limit of
// an API key with rate_limit_per_minute n.
//
// The [Limiter] interface takes the limit on every call, so per-key limits
// need no per-key state beyond one number. Implementations:
//
//   - [Memory], in this package: in-process, sharded, bounded, no goroutine.
//     Exact for one process; with several pods each enforces the full limit.
//   - gatehouse.dev/ratelimit/redislimit: one limit for all pods on Redis or
//     a Redis Cluster, one round trip per decision, with a failure policy for
//     when Redis is slow or gone.
//
// Both answer the same [Result] for the same history; the suite in
// gatehouse.dev/ratelimit/ratelimittest proves it. Both also implement the
// optional [Peeker] (the state of a key without consuming) and [NLimiter]
// (AllowN: a cost of n events charged at once or not at all, for
// cost-based limits such as a GraphQL points bucket).
//
// # Middleware
//
// [New] returns the HTTP middleware. It sits after authentication (it reads
// the bucket and limit from the request's gatehouse.Caller, or from
// [Options].Key, so this package knows nothing of auth) and before the
// router:
//
//	RequestID → auth → audit → ratelimit → router → scope → handler
//
// Every limited response carries
//
//	RateLimit-Policy: "default";q=<rate>;w=<period in seconds>
//	RateLimit: "default";r=<remaining>;t=<seconds until the bucket is full>
//	X-RateLimit-Limit: <rate>
//	X-RateLimit-Remaining: <remaining>
//	X-RateLimit-Reset: <Unix time, in seconds, when the bucket is full>
//
// (the first two from the IETF httpapi RateLimit header fields draft; each
// family can be turned off). A denied request gets 429 {"error":"Rate limit
// exceeded","request_id":...} with Retry-After in whole seconds, rounded up
// and at least 1.
//
// When the limiter fails, an error that is a *gatehouse.Error is written as
// it is (the Redis limiter's fail-closed 503 "Rate limiter unavailable");
// any other error is logged and the request goes through: the middleware
// fails open unless [Options].OnError says otherwise.
//
// # Failed authentication
//
// [FailedAuth] limits failed authentications per client IP (20 a minute by
// default) so keys cannot be guessed at full speed. The authentication
// middleware asks Allow before looking a key up and calls Failed after a
// failure; Allow only peeks, so successful requests cost no allowance.
package ratelimit
