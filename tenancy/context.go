package tenancy

import (
	"context"

	"gatehouse.dev"
)

// Tenant is implemented by an authenticated principal that belongs to an
// organization (auth's *Key). [FromContext] finds the organization of the
// principal recorded with gatehouse.SetPrincipal when ctx carries no
// organization of its own.
type Tenant interface {
	TenantID() string
}

type orgKey struct{}

// NewContext returns ctx carrying the caller's organization id. The
// authentication middleware puts the organization of the key here; every
// organization-scoped query reads it back with [FromContext].
func NewContext(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, orgKey{}, orgID)
}

// FromContext returns the organization id put in ctx by [NewContext]. An
// empty id counts as absent, so a scoped query never runs unscoped.
func FromContext(ctx context.Context) (string, bool) {
	if id, ok := ctx.Value(orgKey{}).(string); ok {
		return id, id != ""
	}
	if t, ok := gatehouse.PrincipalFromContext(ctx).(Tenant); ok {
		id := t.TenantID()
		return id, id != ""
	}
	return "", false
}
