// Package resource is the declarative resource registry: from a list of
// [Resource] declarations over tables the service already has, [New] builds
// the JSON handlers of a REST API under a prefix (default /v1):
//
//	GET   /v1/<name>        list: limit, offset or cursor, created_after, created_before, q, exact filters
//	GET   /v1/<name>/{id}   one record
//	POST  /v1/<name>        create: 201 with Location
//	PATCH /v1/<name>/{id}   partial update
//	GET   /v1/schema        the live description of every resource
//
// Any other method on those paths is a JSON 405 with Allow; any other path
// under the prefix is a JSON 404 "Unsupported resource". Extra operations
// ([Route], e.g. /v1/whoami) share the router and its 404/405 answers, and
// describe themselves with a [RouteDoc] for package resource/openapi, which
// generates the OpenAPI document of the whole registry.
//
// Every query goes through package tenancy, so it is confined to the
// organization of the request's caller (gatehouse.Caller.OrgID, recorded
// by the authentication middleware): another organization's record is a
// 404, its ids filter to an empty list, and a foreign key to its rows is a
// 400 "Invalid foreign key". Each route checks its scope (<name>:read,
// <name>:create, <name>:update) with package scope. Input is validated by
// field [Type]; every error is a *gatehouse.Error in the one error shape
// (see the error catalogue in the README). Each create and update runs in
// one transaction with its reference checks, per-organization sequence
// numbers (e.g. lead_number) and the [Options.OnWrite] hook, which later
// features (webhook outbox, idempotency) use to write in the same
// transaction.
//
// In the request chain the registry is the router:
//
//	RequestID → auth → audit → ratelimit → resource.Registry (→ scope → handler)
//
// It records the matched route pattern with gatehouse.SetRoute so the audit
// middleware outside it can log "/v1/leads/{id}" (and "/v1/" for the
// catch-all 404). It never imports auth.
//
// # Pagination
//
// Every list body is
//
//	{"data":[…],"limit":N,"offset":M,"has_more":B,"next_cursor":C,"request_id":…}
//
// where has_more tells whether rows follow this page and next_cursor (a
// string, or null on the last page) continues after its last row: send it
// back as cursor= instead of offset= (both together are 400 "Invalid query
// parameters"; an empty cursor= is the first page). The same URL is in a
// Link: <…>; rel="next" header (RFC 8288). Cursor pages are keyset pages on
// (creation time, id) in the list order (on id alone without one), so page
// 500 costs what page 1 does and rows inserted while a client pages are
// never skipped or repeated (new rows may or may not appear). A cursor is
// opaque and tamper-evident: it carries the position of a row and an
// HMAC-SHA256 under Options.Keyring over the
// secret's id, the resource, the organization, the normalized filters
// (created_after, created_before, q, exact filters; not limit) and the
// position. A cursor that is altered, signed by an unknown secret, or used
// with other filters, on another resource or by another organization is
// 400 "Invalid cursor". In cursor mode the body says "offset":0. Without a
// Keyring cursors are off: next_cursor is null and cursor= is refused.
//
// # Commit hooks
//
// Besides Options.OnWrite, a middleware in Options.Middleware may attach a
// [CommitHook] to the request context ([WithCommitHook]); the registry calls
// it inside the write's transaction just before the commit with the exact
// [Response] it will write. Package idempotency stores replayable responses
// through it, so that with its SQL store a stored response exists exactly
// when the write does.
//
// # Existing tables
//
// The registry adapts to the service's schema, not the reverse. Each
// [Resource] declares its table's id column and [IDType] (UUIDs the
// registry or [Resource.NewID] makes; integers the database makes —
// bigserial, identity, SQLite's INTEGER PRIMARY KEY — read back with
// RETURNING and written in JSON as numbers; text ids from NewID), its
// organization column, and its creation and update time columns
// ([Timestamp]: any name, or none; stored as PostgreSQL timestamptz,
// fixed-width UTC text, or Unix seconds or milliseconds). Path ids, id
// filters, references and cursors follow the id type, and a malformed id
// is a 404 like an unknown one. A reference may name a table without an
// organization column when declared [Field.GlobalReference] (a lookup
// table shared by every organization); otherwise the referenced row must
// be the caller's. Without a creation time, records have no created_at,
// lists take no created_after or created_before and are ordered by id,
// descending (newest first only for ids that grow with time). On SQLite,
// text timestamps are tenancy.TimeLayout, the only text form whose order
// is time order; rows the service writes itself must use it too, and take
// sequence numbers from tenancy.NextSequence.
//
// [Registry.Check], called at startup, compares every declared table,
// column, type and reference with the live schema and returns one
// *[SchemaError] listing every mismatch, so a schema mistake never
// surfaces as a 500 under traffic; missing recommended indexes are logged
// as warnings. docs/resource-schema.md has the compatibility table.
//
// The registry never alters the service's tables. [Registry.Migrate]
// creates only the library's gatehouse_sequences table;
// [Registry.IndexDDL] returns the indexes the list order and the indexed
// filters ([Resource.IndexedFilters]) need, for the service's migrations;
// [Registry.DDL] writes CREATE TABLE statements (and those indexes) for
// resources declared from scratch.
package resource
