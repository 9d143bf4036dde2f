package scope

import (
	"context"
	"net/http"

	"gatehouse.dev"
)

type ctxKey struct{}

// NewContext returns ctx carrying the caller's granted scopes.
func NewContext(ctx context.Context, s Set) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// Granter is implemented by an authenticated principal that carries
// granted scopes (auth's *Key). [FromContext] finds the scopes of the
// principal recorded with gatehouse.SetPrincipal when ctx carries no scopes
// of its own.
type Granter interface {
	GrantedScopes() Set
}

// FromContext returns the granted scopes put in ctx by [NewContext], or
// those of the request's principal ([Granter]).
func FromContext(ctx context.Context) (Set, bool) {
	if s, ok := ctx.Value(ctxKey{}).(Set); ok {
		return s, true
	}
	if g, ok := gatehouse.PrincipalFromContext(ctx).(Granter); ok {
		return g.GrantedScopes(), true
	}
	return Set{}, false
}

// Require returns a middleware that lets a request through only when the
// scopes in its context include sc; otherwise it answers 403
// {"error":"Missing scope","required_scope":"<sc>"}. A request with no
// scopes in its context is refused the same way (fail closed). A refusal
// records [gatehouse.OutcomeForbiddenScope] with [gatehouse.SetOutcome].
func Require(sc Scope) func(http.Handler) http.Handler {
	denied := gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(sc))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if granted, ok := FromContext(r.Context()); !ok || !granted.Has(sc) {
				gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeForbiddenScope)
				gatehouse.WriteError(w, r, nil, denied)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Check returns the 403 *gatehouse.Error for a missing scope, or nil when
// ctx grants sc. Handlers that pick the scope at run time use it. A
// refusal records [gatehouse.OutcomeForbiddenScope] with
// [gatehouse.SetOutcome].
func Check(ctx context.Context, sc Scope) error {
	if granted, ok := FromContext(ctx); ok && granted.Has(sc) {
		return nil
	}
	gatehouse.SetOutcome(ctx, gatehouse.OutcomeForbiddenScope)
	return gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(sc))
}
