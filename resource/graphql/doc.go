// Package graphql serves a GraphQL API built at run time from a
// [resource.Registry]: the same records, validation, cursors, scopes and
// organization isolation as the REST API, through the registry's Go-level
// data API (never through HTTP).
//
// [New] generates the schema (see [Handler.SDL]) from the registry's
// resources and loads it with gqlparser: for a resource "leads" (singular
// "lead") an object type Lead implementing Node, with camelCase fields, id
// (an EncodedId), databaseId (the REST id) and, for each reference to
// another resource, the referenced record as a nested object
// (client_id → clientId and client); the root fields
// leads(first, after, filter: LeadFilter, q): LeadConnection, lead(id:),
// node(id:), and the mutations leadCreate(input:) and leadUpdate(leadId:,
// input:) returning { lead userErrors { message path } }. Input fields
// are nullable and custom scalars (DateTime, Date, Time, JSON, Int64)
// accept any value of their kind, so the registry's own validation
// answers, as userErrors with paths like ["input", "email"] and exactly
// the registry's messages.
//
// Queries are parsed with a token limit and validated with an explicit
// rule set; the executor is this package's: fragments, @skip/@include,
// null propagation, serial mutations, introspection, and to-one
// references batched by level (one GetMany per resource per level, inside
// the caller's organization). Lists are Relay connections on the
// registry's signed keyset cursors, so a REST next_cursor is a valid
// after and an endCursor a valid REST cursor; first defaults to 50 and is
// clamped at the registry's maximum. There is no last, before or
// totalCount (keyset cursors go one way, and counting a table is what
// the cursors avoid), and no subscriptions.
//
// Scopes are checked before execution: each field needing a scope the
// caller lacks is one error with extensions {code: "FORBIDDEN",
// required_scope} and null data at its path; the rest resolves. Each
// query has a cost in points, charged before it runs by [Charge] (see
// [LimiterCharge] for a bucket of RateLimitPerMinute × 50 points a minute
// per key on a rate limiter with AllowN): 1 per root field, first per
// connection, 1 per record for each to-one reference under it, 10 per
// mutation, 1 per introspection root field; aliases and fragments count
// after expansion, @skip as if included. Queries deeper than
// Options.MaxDepth or with more than Options.MaxAliases aliases are
// refused before execution. Several mutations in one document run one
// after the other and are not atomic.
//
// [Handler] sits behind the same middleware chain as the REST API
// (authentication, organization, rate limiting, audit), mounted by the
// host, e.g. at POST /v1/graphql.
package graphql
