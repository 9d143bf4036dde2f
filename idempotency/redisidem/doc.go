// Package redisidem is the Redis [idempotency.Store], for any
// redis.UniversalClient (a single server, Sentinel or Redis Cluster;
// Redis 7.0 or later).
//
// Each record is one string key, <prefix>idem:{<tag>}, where the hash tag is
// the first 128 bits of SHA-256(API key id, Idempotency-Key) in hex: keys of
// any content map to a fixed-length, well-formed tag, and everything about
// one record stays in its slot. The value is
//
//	<status>\n<token>\n<fingerprint>\n<headers as JSON>\n<body>
//
// with status 0 while the request is in flight. A claim is one
// SET key value NX PX <lock> GET: it creates the in-flight record with the
// lock as its TTL, or returns the live record without touching it. Complete
// and Release are short Lua scripts that check, atomically, that the record
// is still in flight under the claim's token before replacing it (with the
// response and the TTL) or deleting it. Expiry is Redis's: nothing to clean
// up, and all pods share Redis's clock.
//
// Unlike package sqlidem, the response is written after the database
// transaction of the write has committed, so there is a window (the time
// between COMMIT and the completing script, measured in
// docs/idempotency.md) in which a crash leaves the write done and its key
// in flight; the key is then free again once its lock expires, and a retry
// after that runs the request a second time.
package redisidem
