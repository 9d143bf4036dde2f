// Package sqlidem is the SQL [idempotency.Store] for SQLite and PostgreSQL.
// It is an [idempotency.TxStore]: the response of a registry write is
// stored by an UPDATE inside the write's own transaction, so the record and
// its stored response commit together or not at all.
//
// Records live in the library's table gatehouse_idempotency (created by
// [Store.Migrate]), keyed by (scope, idem_key). Times are Unix milliseconds
// from Options.Now. Claiming is one atomic statement:
//
//	INSERT … VALUES (…) ON CONFLICT (scope, idem_key) DO UPDATE SET …
//	WHERE gatehouse_idempotency.expires_at <= now RETURNING token
//
// which inserts a new in-flight record or takes over an expired one (a
// completed record past its TTL, or an unfinished one past its lock); when
// it returns no row a live record holds the key and is read back. Complete,
// CompleteTx and Release change only an in-flight record that still carries
// the claim's token. [Store.Run] deletes expired records periodically.
package sqlidem
