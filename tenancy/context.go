package tenancy

import (
	"context"

	"gatehouse.dev"
)

// FromContext returns the organization of the request's caller
// (gatehouse.CallerFromContext: the authentication middleware records it;
// tests and background jobs use gatehouse.NewCallerContext). No caller, or
// a caller with an empty organization, is absent, so a scoped query never
// runs unscoped.
func FromContext(ctx context.Context) (string, bool) {
	c, ok := gatehouse.CallerFromContext(ctx)
	if !ok || c.OrgID == "" {
		return "", false
	}
	return c.OrgID, true
}
