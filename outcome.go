package gatehouse

import "context"

// Outcomes of a request, recorded with [SetOutcome] by the middleware that
// decides them and read with [OutcomeFromContext] by middlewares that run
// outside it, such as the metrics middleware of gatehouse.dev/telemetry.
// The set is closed: metrics use it as a bounded attribute.
const (
	// OutcomeAuthenticated: a valid key of an organization with the
	// Developer API on (set by the authentication middleware).
	OutcomeAuthenticated = "authenticated"
	// OutcomeUnauthenticated: a 401, for a missing, malformed, unknown,
	// expired or revoked key (set by the authentication middleware).
	OutcomeUnauthenticated = "unauthenticated"
	// OutcomeForbiddenScope: a 403 "Missing scope" (set by scope.Require
	// and scope.Check).
	OutcomeForbiddenScope = "forbidden_scope"
	// OutcomeModuleDisabled: a 403 because the organization's Developer
	// API is off (set by the authentication middleware).
	OutcomeModuleDisabled = "module_disabled"
	// OutcomeRateLimited: a 429. The rate limiters do not set it: a reader
	// derives it from the response status, which also covers the
	// failed-authentication throttle.
	OutcomeRateLimited = "rate_limited"
)

// SetOutcome records the outcome of the request of ctx, one of the Outcome
// constants; a later call replaces an earlier one (an authenticated request
// may still be refused a scope). It is a no-op without the [RequestID]
// middleware. Call it on the request's goroutine, before the handler
// returns.
func SetOutcome(ctx context.Context, outcome string) {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		st.outcome = outcome
	}
}

// OutcomeFromContext returns the outcome recorded by [SetOutcome], or "".
func OutcomeFromContext(ctx context.Context) string {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.outcome
	}
	return ""
}

// SetCaller records the API key (its UUID id, never the key itself) and the
// organization that authenticated the request of ctx, for middlewares that
// run outside the authentication middleware and cannot see its context. It
// is a no-op without the [RequestID] middleware.
func SetCaller(ctx context.Context, keyID, orgID string) {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		st.keyID, st.orgID = keyID, orgID
	}
}

// CallerFromContext returns the key id and organization id recorded by
// [SetCaller], or empty strings.
func CallerFromContext(ctx context.Context) (keyID, orgID string) {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.keyID, st.orgID
	}
	return "", ""
}

// SetPrincipal records the authenticated caller of the request (the
// authentication middleware passes its *auth.Key) in the per-request state
// of [RequestID], where the FromContext functions of auth, tenancy and
// scope find it without a context value of their own: one pointer for the
// key, its organization and its scopes, and no new context or request per
// authenticated request. It reports false, recording nothing, when ctx has
// no per-request state (no RequestID middleware); the caller then falls
// back to context values. Call it once, before the next handler runs.
func SetPrincipal(ctx context.Context, p any) bool {
	st, ok := ctx.Value(requestKey{}).(*requestState)
	if ok {
		st.principal = p
	}
	return ok
}

// PrincipalFromContext returns what [SetPrincipal] recorded, or nil.
func PrincipalFromContext(ctx context.Context) any {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.principal
	}
	return nil
}
