package auth

import (
	"context"

	"gatehouse.dev"
	"gatehouse.dev/scope"
)

type keyCtx struct{}

// NewContext returns ctx carrying the authenticated key. The middleware
// calls it after a successful authentication; handlers read the key back
// with [FromContext].
func NewContext(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, keyCtx{}, &k)
}

// FromContext returns the key put in ctx by [NewContext], or the key the
// authentication middleware recorded as the request's principal
// (gatehouse.SetPrincipal).
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(keyCtx{}).(*Key)
	if !ok {
		k, ok = gatehouse.PrincipalFromContext(ctx).(*Key)
	}
	if !ok || k == nil {
		return Key{}, false
	}
	return *k, true
}

// TenantID returns the key's organization (tenancy.Tenant), so that
// organization-scoped queries find it through the request's principal.
func (k *Key) TenantID() string { return k.OrganizationID }

// GrantedScopes returns the key's scopes (scope.Granter).
func (k *Key) GrantedScopes() scope.Set { return k.Scopes }
