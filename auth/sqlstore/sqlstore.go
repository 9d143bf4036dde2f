package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Options configures [New].
type Options struct {
	// DB is the database. Required.
	DB *sql.DB
	// Dialect is tenancy.SQLite or tenancy.Postgres. Required.
	Dialect tenancy.Dialect
	// OnOrgCreated, when set, is called inside the CreateOrg transaction
	// after the organization row is inserted (for example to seed the
	// organization's settings tables). An error rolls the creation back.
	OnOrgCreated func(ctx context.Context, tx *sql.Tx, orgID string) error
	// Now is the clock for default timestamps. Nil means time.Now.
	Now func() time.Time
}

// Store is the SQL [auth.KeyStore] and [auth.OrgStore]. It is safe for
// concurrent use.
type Store struct {
	db        *sql.DB
	d         tenancy.Dialect
	onCreated func(ctx context.Context, tx *sql.Tx, orgID string) error
	now       func() time.Time

	qLookup, qGet, qList, qInsertKey, qRevoke, qTouchPrefix string
	qInsertOrg, qGetOrg, qSetEnabled, qEnabled              string
	qInsertRotation, qShorten                               string
}

var (
	_ auth.KeyStore = (*Store)(nil)
	_ auth.OrgStore = (*Store)(nil)
)

// keyCols are the stored columns of gatehouse_keys, in the order of
// INSERT and of scanKey.
const keyCols = "id, organization_id, name, env, public_id, key_hash, display_prefix, scopes, rate_limit_per_minute, expires_at, created_at, updated_at, last_used_at, revoked_at"

// lineageCols read a key's lineage and replacement from
// gatehouse_key_rotations (one row per rotation, keyed by the new key,
// unique on the replaced key): two primary-key or unique-index probes.
const lineageCols = "COALESCE((SELECT r.lineage FROM gatehouse_key_rotations r WHERE r.key_id = gatehouse_keys.id), gatehouse_keys.id)" +
	", (SELECT n.key_id FROM gatehouse_key_rotations n WHERE n.replaces = gatehouse_keys.id)"

// readCols are what every key read selects (scanKey's order).
const readCols = keyCols + ", " + lineageCols

const orgCols = "id, name, api_enabled, created_at, updated_at"

// touchChunk bounds the ids of one TouchKeys statement (well under the
// bind-parameter limits of SQLite and PostgreSQL).
const touchChunk = 1000

// New returns a store over opts.DB. It does not touch the database; call
// [Store.Migrate] to create the tables.
func New(opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("sqlstore: Options.DB is required")
	}
	if opts.Dialect != tenancy.SQLite && opts.Dialect != tenancy.Postgres {
		return nil, fmt.Errorf("sqlstore: unsupported Options.Dialect %v", opts.Dialect)
	}
	s := &Store{db: opts.DB, d: opts.Dialect, onCreated: opts.OnOrgCreated, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	r := s.d.Rebind
	s.qLookup = r("SELECT " + readCols + " FROM gatehouse_keys WHERE public_id = ?")
	s.qGet = r("SELECT " + readCols + " FROM gatehouse_keys WHERE organization_id = ? AND id = ?")
	s.qList = r("SELECT " + readCols + " FROM gatehouse_keys WHERE organization_id = ? ORDER BY created_at DESC, id DESC")
	s.qInsertKey = r("INSERT INTO gatehouse_keys (" + keyCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
	s.qRevoke = r("UPDATE gatehouse_keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = CASE WHEN revoked_at IS NULL THEN ? ELSE updated_at END" +
		" WHERE organization_id = ? AND id = ? RETURNING " + readCols)
	s.qTouchPrefix = "UPDATE gatehouse_keys SET last_used_at = ? WHERE (last_used_at IS NULL OR last_used_at < ?) AND id IN ("
	s.qInsertOrg = r("INSERT INTO gatehouse_orgs (" + orgCols + ") VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
	s.qGetOrg = r("SELECT " + orgCols + " FROM gatehouse_orgs WHERE id = ?")
	s.qSetEnabled = r("UPDATE gatehouse_orgs SET api_enabled = ?, updated_at = ? WHERE id = ? RETURNING " + orgCols)
	s.qEnabled = r("SELECT api_enabled FROM gatehouse_orgs WHERE id = ?")
	s.qInsertRotation = r("INSERT INTO gatehouse_key_rotations (key_id, organization_id, lineage, replaces, rotated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
	s.qShorten = r("UPDATE gatehouse_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END, updated_at = ?" +
		" WHERE organization_id = ? AND id = ? AND revoked_at IS NULL")
	return s, nil
}

// DB returns the database of the store.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the dialect of the store.
func (s *Store) Dialect() tenancy.Dialect { return s.d }

// Schema returns the idempotent DDL of version 1 of the "auth" component
// (the schema that shipped before versions were recorded), for services
// that manage migrations themselves; [Migrations] lists every version.
func Schema(d tenancy.Dialect) []string {
	ts, id, boolean := "TEXT", "TEXT", "INTEGER"
	if d == tenancy.Postgres {
		ts, id, boolean = "TIMESTAMPTZ", "TEXT", "BOOLEAN"
	}
	falseLit := "0"
	if d == tenancy.Postgres {
		falseLit = "false"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS gatehouse_orgs (
	id ` + id + ` PRIMARY KEY,
	name TEXT NOT NULL,
	api_enabled ` + boolean + ` NOT NULL DEFAULT ` + falseLit + `,
	created_at ` + ts + ` NOT NULL,
	updated_at ` + ts + ` NOT NULL
)`,
		`CREATE TABLE IF NOT EXISTS gatehouse_keys (
	id ` + id + ` PRIMARY KEY,
	organization_id ` + id + ` NOT NULL,
	name TEXT NOT NULL,
	env TEXT NOT NULL,
	public_id TEXT NOT NULL UNIQUE,
	key_hash TEXT NOT NULL,
	display_prefix TEXT NOT NULL,
	scopes TEXT NOT NULL,
	rate_limit_per_minute INTEGER NOT NULL,
	expires_at ` + ts + `,
	created_at ` + ts + ` NOT NULL,
	updated_at ` + ts + ` NOT NULL,
	last_used_at ` + ts + `,
	revoked_at ` + ts + `
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_keys_org_created_idx ON gatehouse_keys (organization_id, created_at DESC, id DESC)`,
		// One row per rotation: key_id replaced replaces, both in the
		// lineage (the id of the chain's first key). A key is replaced at
		// most once (UNIQUE replaces), which makes a second rotation of
		// the same key, even a concurrent one, fail. A table of its own
		// rather than new gatehouse_keys columns, so existing databases
		// need no ALTER.
		`CREATE TABLE IF NOT EXISTS gatehouse_key_rotations (
	key_id ` + id + ` PRIMARY KEY,
	organization_id ` + id + ` NOT NULL,
	lineage ` + id + ` NOT NULL,
	replaces ` + id + ` NOT NULL UNIQUE,
	rotated_at ` + ts + ` NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_orgs_created_idx ON gatehouse_orgs (created_at DESC, id DESC)`,
	}
}

// Component is the name under which the store's schema versions are
// recorded in gatehouse_schema_versions.
const Component = "auth"

// Migrations returns the versions of the store's schema, oldest first, for
// [tenancy.MigrateVersions]: version 1 creates gatehouse_orgs,
// gatehouse_keys and gatehouse_key_rotations and their indexes ([Schema],
// idempotent). A change to these tables is a new version appended here.
func Migrations() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "gatehouse_orgs, gatehouse_keys, gatehouse_key_rotations", Statements: Schema},
	}
}

// Migrate brings the store's tables to the last of [Migrations] with
// [tenancy.MigrateVersions]: it creates gatehouse_orgs, gatehouse_keys and
// gatehouse_key_rotations if they do not exist, applies each version the
// database lacks, and records it (under an advisory lock on PostgreSQL). A
// database created before versions were recorded takes the idempotent
// version 1 and keeps its data.
func (s *Store) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.d, Component, Migrations()); err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	return nil
}

// timeArg returns t as a query argument, or nil for a nil pointer.
func (s *Store) timeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.d.TimeValue(*t)
}

// encodeScopes stores a scope set as its sorted scopes separated by spaces.
func encodeScopes(set scope.Set) string { return strings.Join(set.Strings(), " ") }

func decodeScopes(v string) (scope.Set, error) {
	return scope.ParseSet(strings.Fields(v))
}

type rowScanner interface{ Scan(dest ...any) error }

func scanKey(row rowScanner) (auth.Key, error) {
	var (
		k                                        auth.Key
		scopes                                   string
		expires, created, updated, used, revoked tenancy.Time
		replacedBy                               sql.NullString
	)
	if err := row.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Env, &k.PublicID, &k.Hash, &k.DisplayPrefix,
		&scopes, &k.RateLimitPerMinute, &expires, &created, &updated, &used, &revoked, &k.Lineage, &replacedBy); err != nil {
		return auth.Key{}, err
	}
	k.ReplacedBy = replacedBy.String
	set, err := decodeScopes(scopes)
	if err != nil {
		return auth.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.Scopes = set
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = expires.Ptr(), used.Ptr(), revoked.Ptr()
	k.CreatedAt, k.UpdatedAt = created.Time, updated.Time
	return k, nil
}

// queryKey runs a query returning one key row; no row is ErrNotFound.
func (s *Store) queryKey(ctx context.Context, step, q string, args ...any) (auth.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: %s: %w", step, err)
	}
	return k, nil
}

// LookupKey returns the key with the public id, or auth.ErrNotFound.
func (s *Store) LookupKey(ctx context.Context, publicID string) (auth.Key, error) {
	return s.queryKey(ctx, "lookup key", s.qLookup, publicID)
}

// CreateKey stores k as the first key of its own lineage (Lineage and
// ReplacedBy are ignored; [Store.ReplaceKey] adds keys to a lineage). A
// zero CreatedAt becomes now and a zero UpdatedAt
// becomes CreatedAt. An existing id or public id is auth.ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k auth.Key) error {
	if k.ID == "" || k.PublicID == "" || k.OrganizationID == "" {
		return errors.New("sqlstore: create key: ID, PublicID and OrganizationID are required")
	}
	if k.RateLimitPerMinute < 1 {
		return auth.ErrInvalidRateLimit
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	res, err := s.db.ExecContext(ctx, s.qInsertKey,
		k.ID, k.OrganizationID, k.Name, k.Env, k.PublicID, k.Hash, k.DisplayPrefix,
		encodeScopes(k.Scopes), k.RateLimitPerMinute, s.timeArg(k.ExpiresAt),
		s.d.TimeValue(k.CreatedAt), s.d.TimeValue(k.UpdatedAt), s.timeArg(k.LastUsedAt), s.timeArg(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create key %s: %w", k.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: create key %s: %w", k.ID, err)
	}
	if n == 0 {
		return auth.ErrConflict
	}
	return nil
}

// ReplaceKey stores next as the replacement of the organization's key id,
// in one transaction: the old key is read (locked on PostgreSQL) and
// checked, next is inserted, the rotation row (whose unique replaced key
// refuses a second rotation) is inserted, and the old key's expiry is
// shortened to oldExpiresAt unless it is earlier already.
func (s *Store) ReplaceKey(ctx context.Context, orgID, id string, next auth.Key, oldExpiresAt, now time.Time) (auth.Key, error) {
	if next.ID == "" || next.PublicID == "" || next.OrganizationID != orgID {
		return auth.Key{}, errors.New("sqlstore: replace key: next needs ID, PublicID and the same OrganizationID")
	}
	if next.RateLimitPerMinute < 1 {
		return auth.Key{}, auth.ErrInvalidRateLimit
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	if next.UpdatedAt.IsZero() {
		next.UpdatedAt = next.CreatedAt
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	lock := ""
	if s.d == tenancy.Postgres {
		lock = " FOR UPDATE"
	}
	old, err := scanKey(tx.QueryRowContext(ctx, s.qGet+lock, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: read: %w", id, err)
	}
	switch {
	case old.Revoked():
		return auth.Key{}, auth.ErrRevoked
	case old.Rotated():
		return auth.Key{}, auth.ErrRotated
	case old.Expired(now):
		return auth.Key{}, auth.ErrExpired
	}
	res, err := tx.ExecContext(ctx, s.qInsertKey,
		next.ID, next.OrganizationID, next.Name, next.Env, next.PublicID, next.Hash, next.DisplayPrefix,
		encodeScopes(next.Scopes), next.RateLimitPerMinute, s.timeArg(next.ExpiresAt),
		s.d.TimeValue(next.CreatedAt), s.d.TimeValue(next.UpdatedAt), nil, nil)
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: insert %s: %w", id, next.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: insert %s: %w", id, next.ID, err)
		}
		return auth.Key{}, auth.ErrConflict
	}
	res, err = tx.ExecContext(ctx, s.qInsertRotation, next.ID, orgID, old.LineageID(), id, s.d.TimeValue(now))
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: record rotation: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: record rotation: %w", id, err)
		}
		return auth.Key{}, auth.ErrRotated // a concurrent rotation won
	}
	exp := s.d.TimeValue(oldExpiresAt)
	res, err = tx.ExecContext(ctx, s.qShorten, exp, exp, s.d.TimeValue(now), orgID, id)
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: set expiry: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: set expiry: %w", id, err)
		}
		return auth.Key{}, auth.ErrRevoked // revoked concurrently
	}
	old, err = scanKey(tx.QueryRowContext(ctx, s.qGet, orgID, id))
	if err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: reread: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return auth.Key{}, fmt.Errorf("sqlstore: replace key %s: commit: %w", id, err)
	}
	return old, nil
}

// GetKey returns the organization's key, or auth.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, orgID, id string) (auth.Key, error) {
	return s.queryKey(ctx, "get key", s.qGet, orgID, id)
}

// ListKeys returns the organization's keys, newest first (created_at, then
// id, descending).
func (s *Store) ListKeys(ctx context.Context, orgID string) ([]auth.Key, error) {
	rows, err := s.db.QueryContext(ctx, s.qList, orgID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	defer rows.Close()
	out := []auth.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	return out, nil
}

// UpdateKey applies u to the organization's key and sets updated_at to now,
// in one statement. A zero update changes nothing and returns the key.
func (s *Store) UpdateKey(ctx context.Context, orgID, id string, u auth.KeyUpdate, now time.Time) (auth.Key, error) {
	if u.RateLimitPerMinute != nil && *u.RateLimitPerMinute < 1 {
		return auth.Key{}, auth.ErrInvalidRateLimit
	}
	if u.IsZero() {
		return s.GetKey(ctx, orgID, id)
	}
	var (
		set  []string
		args []any
	)
	if u.Name != nil {
		set, args = append(set, "name = ?"), append(args, *u.Name)
	}
	if u.Scopes != nil {
		set, args = append(set, "scopes = ?"), append(args, encodeScopes(*u.Scopes))
	}
	if u.RateLimitPerMinute != nil {
		set, args = append(set, "rate_limit_per_minute = ?"), append(args, *u.RateLimitPerMinute)
	}
	if u.SetExpiresAt {
		set, args = append(set, "expires_at = ?"), append(args, s.timeArg(u.ExpiresAt))
	}
	set, args = append(set, "updated_at = ?"), append(args, s.d.TimeValue(now), orgID, id)
	q := s.d.Rebind("UPDATE gatehouse_keys SET " + strings.Join(set, ", ") +
		" WHERE organization_id = ? AND id = ? RETURNING " + readCols)
	return s.queryKey(ctx, "update key", q, args...)
}

// RevokeKey sets revoked_at (and updated_at) to at unless the key is
// already revoked, and returns the key.
func (s *Store) RevokeKey(ctx context.Context, orgID, id string, at time.Time) (auth.Key, error) {
	v := s.d.TimeValue(at)
	return s.queryKey(ctx, "revoke key", s.qRevoke, v, v, orgID, id)
}

// TouchKeys sets last_used_at of the keys to at unless it is already later,
// in one statement per 1,000 ids. Unknown ids are ignored.
func (s *Store) TouchKeys(ctx context.Context, ids []string, at time.Time) error {
	v := s.d.TimeValue(at)
	for len(ids) > 0 {
		n := min(len(ids), touchChunk)
		chunk := ids[:n]
		ids = ids[n:]
		var b strings.Builder
		b.Grow(len(s.qTouchPrefix) + 3*n)
		b.WriteString(s.qTouchPrefix)
		args := make([]any, 0, n+2)
		args = append(args, v, v)
		for i, id := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			args = append(args, id)
		}
		b.WriteByte(')')
		if _, err := s.db.ExecContext(ctx, s.d.Rebind(b.String()), args...); err != nil {
			return fmt.Errorf("sqlstore: touch %d keys: %w", n, err)
		}
	}
	return nil
}

func scanOrg(row rowScanner) (auth.Org, error) {
	var (
		o                auth.Org
		created, updated tenancy.Time
	)
	if err := row.Scan(&o.ID, &o.Name, &o.APIEnabled, &created, &updated); err != nil {
		return auth.Org{}, err
	}
	o.CreatedAt, o.UpdatedAt = created.Time, updated.Time
	return o, nil
}

// APIEnabled reports whether the organization's Developer API module is on;
// an unknown organization is off.
func (s *Store) APIEnabled(ctx context.Context, orgID string) (bool, error) {
	var on bool
	err := s.db.QueryRowContext(ctx, s.qEnabled, orgID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: API enabled %s: %w", orgID, err)
	}
	return on, nil
}

// CreateOrg stores o in a transaction that also runs Options.OnOrgCreated,
// and returns it. An empty ID becomes a new UUID, a zero CreatedAt becomes
// now and a zero UpdatedAt becomes CreatedAt. An existing id is
// auth.ErrConflict.
func (s *Store) CreateOrg(ctx context.Context, o auth.Org) (auth.Org, error) {
	if o.ID == "" {
		o.ID = uuid.New()
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.now()
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	o.CreatedAt = o.CreatedAt.UTC().Truncate(time.Microsecond)
	o.UpdatedAt = o.UpdatedAt.UTC().Truncate(time.Microsecond)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: create org: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, s.qInsertOrg, o.ID, o.Name, o.APIEnabled, s.d.TimeValue(o.CreatedAt), s.d.TimeValue(o.UpdatedAt))
	if err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: create org %s: %w", o.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: create org %s: %w", o.ID, err)
	}
	if n == 0 {
		return auth.Org{}, auth.ErrConflict
	}
	if s.onCreated != nil {
		if err := s.onCreated(ctx, tx, o.ID); err != nil {
			return auth.Org{}, fmt.Errorf("sqlstore: create org %s: OnOrgCreated: %w", o.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: create org %s: commit: %w", o.ID, err)
	}
	return o, nil
}

// ListOrgs returns one page of organizations, newest first (created_at,
// then id, descending), optionally those whose name contains q.Name (LIKE
// on SQLite, ILIKE on PostgreSQL, with % and _ escaped).
func (s *Store) ListOrgs(ctx context.Context, q auth.OrgQuery) ([]auth.Org, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = auth.DefaultOrgPage
	}
	var (
		where []string
		args  []any
	)
	if q.Name != "" {
		like := "LIKE"
		if s.d == tenancy.Postgres {
			like = "ILIKE"
		}
		esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q.Name)
		where, args = append(where, "name "+like+` ? ESCAPE '\'`), append(args, "%"+esc+"%")
	}
	if q.After != nil {
		v := s.d.TimeValue(q.After.CreatedAt)
		where, args = append(where, "(created_at < ? OR (created_at = ? AND id < ?))"), append(args, v, v, q.After.ID)
	}
	stmt := "SELECT " + orgCols + " FROM gatehouse_orgs"
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(stmt), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list orgs: %w", err)
	}
	defer rows.Close()
	out := []auth.Org{}
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list orgs: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list orgs: %w", err)
	}
	return out, nil
}

// GetOrg returns the organization, or auth.ErrNotFound.
func (s *Store) GetOrg(ctx context.Context, id string) (auth.Org, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, s.qGetOrg, id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Org{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: get org %s: %w", id, err)
	}
	return o, nil
}

// SetAPIEnabled switches the organization's Developer API module and sets
// updated_at to now.
func (s *Store) SetAPIEnabled(ctx context.Context, id string, on bool, now time.Time) (auth.Org, error) {
	o, err := scanOrg(s.db.QueryRowContext(ctx, s.qSetEnabled, on, s.d.TimeValue(now), id))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Org{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.Org{}, fmt.Errorf("sqlstore: set API enabled %s: %w", id, err)
	}
	return o, nil
}
