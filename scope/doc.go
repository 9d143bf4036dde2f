// Package scope defines permissions of the form "resource:action" (for
// example "leads:read"), sets of them, and [Require], the middleware that
// answers 403 {"error":"Missing scope","required_scope":"leads:create"} when
// the caller's granted scopes (gatehouse.Caller.Scopes, recorded by the
// authentication middleware and read with [FromContext]) lack the one a
// route needs.
//
// In the chain it runs last, per route, inside the router:
//
//	RequestID → auth → audit → ratelimit → router → scope.Require → handler
package scope
