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
// middleware. Safe for concurrent use.
func SetOutcome(ctx context.Context, outcome string) {
	if st := stateOf(ctx); st != nil {
		st.mu.Lock()
		st.outcome = outcome
		st.mu.Unlock()
	}
}

// OutcomeFromContext returns the outcome recorded by [SetOutcome], or "".
func OutcomeFromContext(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.outcome
	}
	return ""
}
