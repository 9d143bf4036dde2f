package scope

import (
	"context"
	"net/http"
	"slices"

	"gatehouse.dev"
)

// FromContext returns the scopes granted to the request's caller
// (gatehouse.CallerFromContext), and false when the request has no caller.
// It does not allocate for a caller recorded by the authentication
// middleware (sorted scopes).
func FromContext(ctx context.Context) (Set, bool) {
	c, ok := gatehouse.CallerFromContext(ctx)
	if !ok {
		return Set{}, false
	}
	return SetOf(c.Scopes), true
}

// granted reports whether the caller of ctx has sc.
func granted(ctx context.Context, sc Scope) bool {
	c, ok := gatehouse.CallerFromContext(ctx)
	return ok && slices.Contains(c.Scopes, string(sc))
}

// Require returns a middleware that lets a request through only when its
// caller (gatehouse.CallerFromContext) is granted sc; otherwise it answers
// 403 {"error":"Missing scope","required_scope":"<sc>"}. A request without
// a caller is refused the same way (fail closed). A refusal records
// [gatehouse.OutcomeForbiddenScope] with [gatehouse.SetOutcome].
func Require(sc Scope) func(http.Handler) http.Handler {
	denied := gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(sc))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !granted(r.Context(), sc) {
				gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeForbiddenScope)
				gatehouse.WriteError(w, r, nil, denied)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Check returns the 403 *gatehouse.Error for a missing scope, or nil when
// the caller of ctx is granted sc. Handlers that pick the scope at run
// time use it. A refusal records [gatehouse.OutcomeForbiddenScope] with
// [gatehouse.SetOutcome].
func Check(ctx context.Context, sc Scope) error {
	if granted(ctx, sc) {
		return nil
	}
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeForbiddenScope)
	return gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(sc))
}
