package keysui

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"gatehouse.dev/tenancy"
)

// Errors of [FormTokens].
var (
	// ErrTokenUsed: the form token was already used (the key it created,
	// if any, was shown once).
	ErrTokenUsed = errors.New("keysui: form token already used")
	// ErrTokenUnknown: no such token for the organization, or it expired.
	ErrTokenUnknown = errors.New("keysui: unknown or expired form token")
)

// FormTokens keeps the one-time tokens of the create form server-side, so
// that a re-posted form (reload, Back) never creates a second key, on any
// pod. Tokens are stored as SHA-256 hashes.
type FormTokens interface {
	// Issue stores a fresh token of the organization, valid until expires.
	Issue(ctx context.Context, orgID, token string, expires time.Time) error
	// Claim marks the token used at now, atomically: exactly one of
	// concurrent claims succeeds. A used token is ErrTokenUsed, an unknown
	// or expired one ErrTokenUnknown.
	Claim(ctx context.Context, orgID, token string, now time.Time) error
	// Release makes a claimed token usable again (the creation it guarded
	// failed, so the form can be sent again).
	Release(ctx context.Context, orgID, token string) error
}

func tokenHash(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// MemoryTokens is an in-process [FormTokens], for tests and single-pod
// services. Safe for concurrent use.
type MemoryTokens struct {
	mu     sync.Mutex
	tokens map[string]*memToken
}

type memToken struct {
	org     string
	expires time.Time
	used    bool
}

var _ FormTokens = (*MemoryTokens)(nil)

// NewMemoryTokens returns an empty [MemoryTokens].
func NewMemoryTokens() *MemoryTokens { return &MemoryTokens{tokens: make(map[string]*memToken)} }

// Issue stores the token. Expired tokens are dropped on the way.
func (m *MemoryTokens) Issue(ctx context.Context, orgID, token string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, t := range m.tokens {
		if t.expires.Before(expires.Add(-24 * time.Hour)) {
			delete(m.tokens, h)
		}
	}
	m.tokens[tokenHash(token)] = &memToken{org: orgID, expires: expires}
	return nil
}

// Claim marks the token used.
func (m *MemoryTokens) Claim(ctx context.Context, orgID, token string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[tokenHash(token)]
	switch {
	case !ok || t.org != orgID:
		return ErrTokenUnknown
	case t.used:
		return ErrTokenUsed
	case !now.Before(t.expires):
		return ErrTokenUnknown
	}
	t.used = true
	return nil
}

// Release makes the token usable again.
func (m *MemoryTokens) Release(ctx context.Context, orgID, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tokens[tokenHash(token)]; ok && t.org == orgID {
		t.used = false
	}
	return nil
}

// SQLTokens is the [FormTokens] of a SQL database (SQLite or PostgreSQL),
// in the table gatehouse_keysui_tokens, shared by every pod.
type SQLTokens struct {
	db *sql.DB
	d  tenancy.Dialect

	qIssue, qPrune, qClaim, qState, qRelease string
}

var _ FormTokens = (*SQLTokens)(nil)

// NewSQLTokens returns the SQL form-token store. Call [SQLTokens.Migrate]
// to create its table.
func NewSQLTokens(db *sql.DB, d tenancy.Dialect) (*SQLTokens, error) {
	if db == nil {
		return nil, errors.New("keysui: NewSQLTokens: nil database")
	}
	if d != tenancy.SQLite && d != tenancy.Postgres {
		return nil, fmt.Errorf("keysui: NewSQLTokens: unsupported dialect %v", d)
	}
	r := d.Rebind
	return &SQLTokens{
		db: db, d: d,
		qIssue:   r("INSERT INTO gatehouse_keysui_tokens (token_hash, organization_id, expires_at, used_at) VALUES (?, ?, ?, NULL)"),
		qPrune:   r("DELETE FROM gatehouse_keysui_tokens WHERE expires_at < ?"),
		qClaim:   r("UPDATE gatehouse_keysui_tokens SET used_at = ? WHERE token_hash = ? AND organization_id = ? AND used_at IS NULL AND expires_at > ?"),
		qState:   r("SELECT used_at IS NOT NULL FROM gatehouse_keysui_tokens WHERE token_hash = ? AND organization_id = ?"),
		qRelease: r("UPDATE gatehouse_keysui_tokens SET used_at = NULL WHERE token_hash = ? AND organization_id = ?"),
	}, nil
}

// Schema returns the DDL of the token table (idempotent), for services
// that run migrations themselves.
func (s *SQLTokens) Schema() []string { return tokenSchema(s.d) }

func tokenSchema(d tenancy.Dialect) []string {
	ts := "TEXT"
	if d == tenancy.Postgres {
		ts = "TIMESTAMPTZ"
	}
	return []string{`CREATE TABLE IF NOT EXISTS gatehouse_keysui_tokens (
	token_hash TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	expires_at ` + ts + ` NOT NULL,
	used_at ` + ts + `
)`, `CREATE INDEX IF NOT EXISTS gatehouse_keysui_tokens_expires_idx ON gatehouse_keysui_tokens (expires_at)`}
}

// Component is the name under which the token table's schema versions are
// recorded (tenancy.SchemaVersionsTable).
const Component = "keysui"

// Migrations returns the versions of the token table's schema, oldest
// first, for tenancy.MigrateVersions: version 1 is [SQLTokens.Schema].
func Migrations() []tenancy.Migration {
	return []tenancy.Migration{{Version: 1, Description: "gatehouse_keysui_tokens", Statements: tokenSchema}}
}

// Migrate brings the token table to the last of [Migrations] with
// tenancy.MigrateVersions.
func (s *SQLTokens) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.d, Component, Migrations()); err != nil {
		return fmt.Errorf("keysui: %w", err)
	}
	return nil
}

// Issue stores the token; tokens expired for a day are pruned first.
func (s *SQLTokens) Issue(ctx context.Context, orgID, token string, expires time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.qPrune, s.d.TimeValue(expires.Add(-48*time.Hour))); err != nil {
		return fmt.Errorf("keysui: prune form tokens: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.qIssue, tokenHash(token), orgID, s.d.TimeValue(expires)); err != nil {
		return fmt.Errorf("keysui: issue form token: %w", err)
	}
	return nil
}

// Claim marks the token used in one conditional UPDATE.
func (s *SQLTokens) Claim(ctx context.Context, orgID, token string, now time.Time) error {
	h := tokenHash(token)
	v := s.d.TimeValue(now)
	res, err := s.db.ExecContext(ctx, s.qClaim, v, h, orgID, v)
	if err != nil {
		return fmt.Errorf("keysui: claim form token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("keysui: claim form token: %w", err)
	}
	if n == 1 {
		return nil
	}
	var used bool
	err = s.db.QueryRowContext(ctx, s.qState, h, orgID).Scan(&used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrTokenUnknown
	case err != nil:
		return fmt.Errorf("keysui: claim form token: %w", err)
	case used:
		return ErrTokenUsed
	}
	return ErrTokenUnknown // expired
}

// Release makes the token usable again.
func (s *SQLTokens) Release(ctx context.Context, orgID, token string) error {
	if _, err := s.db.ExecContext(ctx, s.qRelease, tokenHash(token), orgID); err != nil {
		return fmt.Errorf("keysui: release form token: %w", err)
	}
	return nil
}
