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
}

var (
	_ auth.KeyStore = (*Store)(nil)
	_ auth.OrgStore = (*Store)(nil)
)

// keyCols are the columns of gatehouse_keys in the order scanKey reads them.
const keyCols = "id, organization_id, name, env, public_id, key_hash, display_prefix, scopes, rate_limit_per_minute, expires_at, created_at, updated_at, last_used_at, revoked_at"

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
	s.qLookup = r("SELECT " + keyCols + " FROM gatehouse_keys WHERE public_id = ?")
	s.qGet = r("SELECT " + keyCols + " FROM gatehouse_keys WHERE organization_id = ? AND id = ?")
	s.qList = r("SELECT " + keyCols + " FROM gatehouse_keys WHERE organization_id = ? ORDER BY created_at DESC, id DESC")
	s.qInsertKey = r("INSERT INTO gatehouse_keys (" + keyCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
	s.qRevoke = r("UPDATE gatehouse_keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = CASE WHEN revoked_at IS NULL THEN ? ELSE updated_at END" +
		" WHERE organization_id = ? AND id = ? RETURNING " + keyCols)
	s.qTouchPrefix = "UPDATE gatehouse_keys SET last_used_at = ? WHERE (last_used_at IS NULL OR last_used_at < ?) AND id IN ("
	s.qInsertOrg = r("INSERT INTO gatehouse_orgs (" + orgCols + ") VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
	s.qGetOrg = r("SELECT " + orgCols + " FROM gatehouse_orgs WHERE id = ?")
	s.qSetEnabled = r("UPDATE gatehouse_orgs SET api_enabled = ?, updated_at = ? WHERE id = ? RETURNING " + orgCols)
	s.qEnabled = r("SELECT api_enabled FROM gatehouse_orgs WHERE id = ?")
	return s, nil
}

// DB returns the database of the store.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the dialect of the store.
func (s *Store) Dialect() tenancy.Dialect { return s.d }

// Schema returns the DDL statements [Store.Migrate] runs for the dialect,
// for services that manage migrations themselves. They are idempotent.
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
	}
}

// Migrate creates the tables gatehouse_orgs and gatehouse_keys and their
// index if they do not exist (under an advisory lock on PostgreSQL).
func (s *Store) Migrate(ctx context.Context) error {
	if err := tenancy.Migrate(ctx, s.db, s.d, "auth", Schema(s.d)); err != nil {
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
	)
	if err := row.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Env, &k.PublicID, &k.Hash, &k.DisplayPrefix,
		&scopes, &k.RateLimitPerMinute, &expires, &created, &updated, &used, &revoked); err != nil {
		return auth.Key{}, err
	}
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

// CreateKey stores k. A zero CreatedAt becomes now and a zero UpdatedAt
// becomes CreatedAt. An existing id or public id is auth.ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k auth.Key) error {
	if k.ID == "" || k.PublicID == "" || k.OrganizationID == "" {
		return errors.New("sqlstore: create key: ID, PublicID and OrganizationID are required")
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
		" WHERE organization_id = ? AND id = ? RETURNING " + keyCols)
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
