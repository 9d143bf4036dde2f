// Package gatehouse holds what every gatehouse package shares: the one error
// type [Error] and its writer [WriteError], the JSON helpers that read bounded
// request bodies and write the response envelopes, and the request-id
// middleware [RequestID] that starts every chain.
//
// A typical chain for a public API is
//
//	RequestID → auth → audit → ratelimit → router (resource.Registry) → scope → handler
//
// where each stage is a plain func(http.Handler) http.Handler from its own
// package (gatehouse.dev/auth, gatehouse.dev/audit, gatehouse.dev/ratelimit,
// gatehouse.dev/resource, gatehouse.dev/scope). This package imports none of
// them.
package gatehouse
