// Package tenancy keeps every query inside the caller's organization.
//
// The authentication middleware records the API key's organization as
// gatehouse.Caller.OrgID (tests and background jobs use
// gatehouse.NewCallerContext); the helpers here read it back with
// [FromContext] and build SQL that always carries it:
//
//   - [Table.Select] and [Table.Get] start their WHERE clause with
//     "<org column> = ?", and put every further [Cond] in parentheses after it;
//   - [Table.Insert] always sets the organization column from the context and
//     refuses an explicit value for it;
//   - [Table.Update] carries the organization predicate next to the id;
//   - [Table.Exists] is the foreign key check of writes: a referenced row
//     must belong to the caller's organization;
//   - [NextSequence] hands out per-organization counters (lead numbers) from
//     the library's own gatehouse_sequences table, gap-free inside the
//     caller's transaction.
//
// A query with no organization in the context fails with
// [ErrNoOrganization]; it never runs unscoped. Statements are written with
// '?' placeholders and rebound by the [Dialect] ([SQLite] or [Postgres]);
// table and column names are validated as plain identifiers and quoted.
// [Contains] is a substring search that folds ASCII letters only, identically
// on both dialects, with the LIKE wildcards escaped.
//
// # Schema migrations
//
// [Migrate] runs idempotent DDL (CREATE … IF NOT EXISTS) under a
// PostgreSQL advisory lock; it cannot change a table that exists.
// [MigrateVersions] can: a component (for example "auth", "audit",
// "webhooks") declares its schema as an ordered list of [Migration]
// values, version 1, 2, 3, …, each one or more statements per dialect, and
// MigrateVersions applies the versions the database lacks, each in one
// transaction that also inserts its row (component, version, applied_at)
// in [SchemaVersionsTable], under the advisory lock of the component's
// name. Pods starting together apply each version exactly once. Version 1
// is the schema the component shipped with before versions were recorded,
// and stays idempotent, so existing databases adopt the mechanism with no
// manual step. To change a library table, append a version to the
// component's list (sqlstore.Migrations, sqlaudit.Migrations,
// webhook.Migrations, …) and test the upgrade from the shipped schema.
//
// In the request chain tenancy has no middleware of its own: it is the
// contract between auth (which sets the organization) and resource (whose
// handlers run every query through it).
package tenancy
