package tenancy

import "context"

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
	id, ok := ctx.Value(orgKey{}).(string)
	return id, ok && id != ""
}
