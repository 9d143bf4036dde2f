package gatehouse

import (
	"context"
	"net/http"
	"time"

	"gatehouse.dev/internal/uuid"
)

// Caller is the authenticated caller of a request: the API key that
// authenticated it and what that key may do. The authentication middleware
// records it once per request with [SetCaller], in the per-request state of
// [RequestID]; everything else reads it with [CallerFromContext]: tenancy
// (the organization of every scoped query), scope (the granted scopes),
// audit (key and organization of each entry), rate limiting (bucket and
// limit), idempotency (the replay scope), webhooks and telemetry. There is
// no other path: code that finds no Caller treats the request as
// unauthenticated.
type Caller struct {
	// KeyID is the API key's id (never the key or its secret).
	KeyID string
	// PublicID is the key's public id, safe for logs and metrics.
	PublicID string
	// Lineage is the id shared by a key and the keys rotated from it: the
	// rate-limit bucket and the idempotency scope, so that a rotation
	// neither resets the limit nor forgets stored responses. It equals
	// KeyID for a key never rotated; empty means KeyID.
	Lineage string
	// OrgID is the organization the key belongs to. Empty means none:
	// organization-scoped queries then fail closed.
	OrgID string
	// Scopes are the granted scopes, sorted ("resource:action"). The
	// slice may be shared with the key store's cache: read it, never
	// modify it.
	Scopes []string
	// RateLimitPerMinute is the key's limit; below 1 is an invalid limit,
	// refused by the rate limiter.
	RateLimitPerMinute int
}

// LineageID returns c.Lineage, or c.KeyID when Lineage is empty.
func (c Caller) LineageID() string {
	if c.Lineage != "" {
		return c.Lineage
	}
	return c.KeyID
}

// SetCaller records c as the authenticated caller of the request of ctx, in
// the per-request state that middlewares outside the caller of SetCaller
// share (audit, telemetry). It reports false, recording nothing, when ctx
// carries no per-request state: see [WithRequestState], which the
// authentication middleware calls first so that it never happens there.
// A later call replaces an earlier one.
func SetCaller(ctx context.Context, c Caller) bool {
	st := stateOf(ctx)
	if st == nil {
		return false
	}
	st.mu.Lock()
	st.caller, st.hasCaller = c, true
	st.mu.Unlock()
	return true
}

// CallerFromContext returns the caller recorded with [SetCaller] or
// [NewCallerContext], and whether there is one. Safe for concurrent use,
// including from a goroutine other than the request's (for example behind
// http.TimeoutHandler).
func CallerFromContext(ctx context.Context) (Caller, bool) {
	st := stateOf(ctx)
	if st == nil {
		return Caller{}, false
	}
	st.mu.Lock()
	c, ok := st.caller, st.hasCaller
	st.mu.Unlock()
	return c, ok
}

// NewCallerContext returns a context derived from ctx with c as its caller,
// for code that acts for a caller without serving a request through the
// middleware chain: tests, background jobs, examples. It carries a new
// per-request state (with the request id of ctx, if any), so it never
// changes what ctx itself reports. Inside the chain, the authentication
// middleware uses [SetCaller] instead.
func NewCallerContext(ctx context.Context, c Caller) context.Context {
	return &requestState{Context: ctx, id: RequestIDFromContext(ctx), caller: c, hasCaller: true}
}

// WithRequestState returns r when its context carries the per-request state
// of [RequestID]; otherwise it does what RequestID does (a fresh request
// id in the context and the X-Request-Id header of w) and returns r with
// the new state. Middlewares that record into the state (authentication)
// call it first, so that a chain where RequestID is missing or not
// outermost still has exactly one state, and the inner handlers still find
// the caller.
func WithRequestState(w http.ResponseWriter, r *http.Request) *http.Request {
	if stateOf(r.Context()) != nil {
		return r
	}
	st := &requestState{Context: r.Context(), id: uuid.NewV7(time.Now())}
	st.setHeader(w.Header())
	return r.WithContext(st)
}
