// Package sqlstore is the SQL implementation of [auth.KeyStore] and
// [auth.OrgStore] over database/sql, for SQLite (modernc.org/sqlite) and
// PostgreSQL (pgx v5 stdlib). It is also the [auth.OrgChecker] the
// authentication middleware asks whether an organization's Developer API
// module is on.
//
// It owns two tables, created by [Store.Migrate] (or from [Schema] by the
// service's own migrations):
//
//   - gatehouse_orgs (id, name, api_enabled, created_at, updated_at)
//   - gatehouse_keys (id, organization_id, name, env, public_id UNIQUE,
//     key_hash, display_prefix, scopes, rate_limit_per_minute, expires_at,
//     created_at, updated_at, last_used_at, revoked_at), indexed on
//     (organization_id, created_at DESC, id DESC)
//
// Ids are TEXT on both databases, so a service may use its own organization
// ids (UUIDs or not), and a malformed id is simply not found. Timestamps are
// TIMESTAMPTZ on PostgreSQL and fixed-width UTC text with microseconds on
// SQLite (tenancy.TimeLayout), so text order is time order. Scopes are
// stored as one TEXT column of space-separated scopes; key_hash is the hex
// SHA-256 of the full key, never the key.
//
// Every organization-scoped statement (get, list, update, revoke) carries
// "organization_id = ?" in its WHERE clause, so another organization's key is
// auth.ErrNotFound. Conflicting inserts use ON CONFLICT DO NOTHING and
// report auth.ErrConflict.
package sqlstore
