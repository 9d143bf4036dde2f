// Package auth authenticates API requests by key.
//
// # Keys
//
// A key is "<prefix>_<env>_<public_id>_<secret>", for example
//
//	acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2
//
// (prefix "acme", env "live", public id "0123456789ABCDEF", 32 secret
// characters, checksum "0qA0Q2"; a real secret is random).
//
// The prefix ([a-z][a-z0-9]{1,15}) names the issuer, env is "live" or
// "test", the public id (16 base62 characters) is the lookup id, and the
// secret is 32 random base62 characters followed by a 6-character checksum,
// the CRC32-IEEE of everything before it in base62. The checksum lets
// [Parse] reject mistyped keys before any store lookup and lets secret
// scanners recognise keys offline; it is not a defence against forgery.
//
// [Generate] creates keys as a [RawKey], whose String, Format, LogValue and
// MarshalJSON show only the display prefix ("joby_live_<public_id>_…"): the
// full key is read once, with [RawKey.Reveal], for the create response.
// Stores keep only the hex SHA-256 of the full key ([Hash]); the middleware
// looks a key up by public id and compares digests in constant time.
//
// # Stores
//
// [Store] is what the middleware needs (LookupKey); [KeyStore] and
// [OrgStore] are what the admin API needs. [Memory] implements both in
// memory; package gatehouse.dev/auth/sqlstore implements them on SQLite and
// PostgreSQL; package gatehouse.dev/auth/authtest is the behaviour suite
// every implementation passes. Whether an organization's Developer API
// module is on comes through the small [OrgChecker] interface, so an
// embedding service may answer from its own tables.
//
// # Middleware
//
// [New] returns the authentication [Middleware]. It runs right after the
// request id, before audit, rate limiting and the router:
//
//	RequestID → auth → audit → ratelimit → router → scope.Require → handler
//
// It accepts "Authorization: Bearer <key>" and, optionally, an alternative
// header carrying the bare key; it answers 401 (with WWW-Authenticate:
// Bearer) "Missing API key", "Invalid API key", "API key expired" or "API key
// revoked", and 403 "API access is not enabled for this organization"
// (Options.DisabledMessage sets the service's own wording).
// A request that passes carries its key as the request's gatehouse.Caller
// ([Key.Caller]; read with gatehouse.CallerFromContext, and by
// tenancy.FromContext and scope.FromContext). [Usage] batches
// last_used_at updates off the request path; a [Throttle] may limit failed
// attempts per client.
package auth
