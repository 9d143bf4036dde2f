package auth

import "gatehouse.dev"

// Caller returns k as the request's gatehouse.Caller, the form in which the
// authentication middleware records it: KeyID, PublicID, Lineage
// ([Key.LineageID]: a key never rotated is its own lineage), OrgID, Scopes (sharing
// k.Scopes' storage, read-only) and RateLimitPerMinute. Handlers read it
// back with gatehouse.CallerFromContext; tests and background jobs put it
// in a context with gatehouse.NewCallerContext.
func (k *Key) Caller() gatehouse.Caller {
	return gatehouse.Caller{
		KeyID:              k.ID,
		PublicID:           k.PublicID,
		Lineage:            k.LineageID(),
		OrgID:              k.OrganizationID,
		Scopes:             k.Scopes.Sorted(),
		RateLimitPerMinute: k.RateLimitPerMinute,
	}
}
