package sqlidem

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/tenancy"
)

// Table is the library's table of idempotency records.
const Table = "gatehouse_idempotency"

// Defaults of [Options].
const (
	DefaultCleanupInterval = 10 * time.Minute
	DefaultCleanupBatch    = 1000
)

// Options configures [New].
type Options struct {
	// DB holds the table; for transactional completion it must be the
	// database of the registry's resources. Required.
	DB *sql.DB
	// Dialect of DB; zero means detected from its driver.
	Dialect tenancy.Dialect
	// Now is the clock; nil means time.Now. All pods should have synced
	// clocks (expiry compares their times).
	Now func() time.Time
	// CleanupInterval is how often [Store.Run] deletes expired records:
	// default 10 minutes.
	CleanupInterval time.Duration
	// CleanupBatch is how many records one DELETE removes: default 1000.
	CleanupBatch int
	// Logger receives cleanup errors; nil means slog.Default().
	Logger *slog.Logger
}

// Store is the SQL store. Create it with [New]; it is safe for concurrent
// use.
type Store struct {
	db       *sql.DB
	d        tenancy.Dialect
	now      func() time.Time
	interval time.Duration
	batch    int
	logger   *slog.Logger

	qClaim, qSelect, qComplete, qRelease, qDelete string
}

var _ idempotency.TxStore = (*Store)(nil)

// New returns the store. Call [Store.Migrate] before use.
func New(opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("sqlidem: Options.DB is required")
	}
	if opts.CleanupInterval < 0 || opts.CleanupBatch < 0 {
		return nil, errors.New("sqlidem: negative CleanupInterval or CleanupBatch")
	}
	s := &Store{db: opts.DB, d: opts.Dialect, now: opts.Now, interval: opts.CleanupInterval, batch: opts.CleanupBatch, logger: opts.Logger}
	if s.d == 0 {
		d, err := tenancy.DialectOf(opts.DB)
		if err != nil {
			return nil, fmt.Errorf("sqlidem: Options.Dialect: %w", err)
		}
		s.d = d
	}
	if s.d != tenancy.SQLite && s.d != tenancy.Postgres {
		return nil, fmt.Errorf("sqlidem: unknown dialect %d", int(s.d))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.interval == 0 {
		s.interval = DefaultCleanupInterval
	}
	if s.batch == 0 {
		s.batch = DefaultCleanupBatch
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.qClaim = s.d.Rebind(`INSERT INTO ` + Table + ` (scope, idem_key, fingerprint, token, status, header, body, expires_at, created_at)
VALUES (?, ?, ?, ?, 0, '', NULL, ?, ?)
ON CONFLICT (scope, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, token = excluded.token, status = 0,
header = '', body = NULL, expires_at = excluded.expires_at, created_at = excluded.created_at
WHERE ` + Table + `.expires_at <= ?
RETURNING token`)
	s.qSelect = s.d.Rebind(`SELECT fingerprint, status, header, body, expires_at FROM ` + Table + ` WHERE scope = ? AND idem_key = ?`)
	s.qComplete = s.d.Rebind(`UPDATE ` + Table + ` SET status = ?, header = ?, body = ?, expires_at = ? WHERE scope = ? AND idem_key = ? AND token = ? AND status = 0`)
	s.qRelease = s.d.Rebind(`DELETE FROM ` + Table + ` WHERE scope = ? AND idem_key = ? AND token = ? AND status = 0`)
	s.qDelete = s.d.Rebind(`DELETE FROM ` + Table + ` WHERE expires_at <= ? AND (scope, idem_key) IN
(SELECT scope, idem_key FROM ` + Table + ` WHERE expires_at <= ? LIMIT ?)`)
	return s, nil
}

// DDL returns the idempotent DDL of [Table] for the dialect.
func DDL(d tenancy.Dialect) []string {
	blob := "BLOB"
	if d == tenancy.Postgres {
		blob = "BYTEA"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + Table + ` (
	scope TEXT NOT NULL,
	idem_key TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	token TEXT NOT NULL,
	status INTEGER NOT NULL,
	header TEXT NOT NULL,
	body ` + blob + `,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (scope, idem_key)
)`,
		`CREATE INDEX IF NOT EXISTS ` + Table + `_expires_idx ON ` + Table + ` (expires_at)`,
	}
}

// Component is the name under which the store's schema versions are
// recorded in gatehouse_schema_versions.
const Component = "idempotency"

// Migrations returns the versions of the store's schema, oldest first, for
// [tenancy.MigrateVersions]. Version 1 creates [Table] ([DDL]).
func Migrations() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "gatehouse_idempotency", Statements: DDL},
	}
}

// Migrate brings [Table] to the last of [Migrations] with
// [tenancy.MigrateVersions] (under an advisory lock on PostgreSQL; a
// database created before versions were recorded takes version 1 as a
// no-op).
func (s *Store) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.d, Component, Migrations()); err != nil {
		return fmt.Errorf("sqlidem: migrate: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func lockOf(d time.Duration) time.Duration { return max(d, time.Millisecond) }

// Claim implements [idempotency.Store].
func (s *Store) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Result, error) {
	for range 5 {
		now := s.now()
		var token string
		err := s.db.QueryRowContext(ctx, s.qClaim, c.Scope, c.Key, c.Fingerprint, c.Token,
			ms(now.Add(lockOf(c.Lock))), ms(now), ms(now)).Scan(&token)
		if err == nil {
			if token != c.Token {
				return idempotency.Result{}, fmt.Errorf("sqlidem: claim: returned token is not the claim's")
			}
			return idempotency.Result{State: idempotency.Claimed}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return idempotency.Result{}, fmt.Errorf("sqlidem: claim: %w", err)
		}
		// A live record holds the key: read it.
		var (
			fp      string
			status  int
			header  string
			body    []byte
			expires int64
		)
		err = s.db.QueryRowContext(ctx, s.qSelect, c.Scope, c.Key).Scan(&fp, &status, &header, &body, &expires)
		if errors.Is(err, sql.ErrNoRows) || err == nil && expires <= ms(s.now()) {
			continue // released or expired in between: claim again
		}
		if err != nil {
			return idempotency.Result{}, fmt.Errorf("sqlidem: claim: read: %w", err)
		}
		switch {
		case fp != c.Fingerprint:
			return idempotency.Result{State: idempotency.Mismatch}, nil
		case status == 0:
			return idempotency.Result{State: idempotency.InFlight}, nil
		}
		resp := idempotency.Response{Status: status, Body: body}
		if header != "" {
			if err := json.Unmarshal([]byte(header), &resp.Header); err != nil {
				return idempotency.Result{}, fmt.Errorf("sqlidem: claim: stored header: %w", err)
			}
		}
		return idempotency.Result{State: idempotency.Completed, Response: resp}, nil
	}
	return idempotency.Result{}, errors.New("sqlidem: claim: the key keeps changing; giving up after 5 attempts")
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	return s.complete(ctx, s.db, ref, resp, ttl)
}

// CompleteTx implements [idempotency.TxStore]: the UPDATE runs in tx, so
// the stored response commits or rolls back with the caller's write.
func (s *Store) CompleteTx(ctx context.Context, tx *sql.Tx, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	if tx == nil {
		return errors.New("sqlidem: complete: nil transaction")
	}
	return s.complete(ctx, tx, ref, resp, ttl)
}

func (s *Store) complete(ctx context.Context, db tenancy.Querier, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	if resp.Status < 100 || resp.Status > 999 {
		return fmt.Errorf("sqlidem: complete: invalid status %d", resp.Status)
	}
	header := ""
	if len(resp.Header) > 0 {
		b, err := json.Marshal(resp.Header)
		if err != nil {
			return fmt.Errorf("sqlidem: complete: header: %w", err)
		}
		header = string(b)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	res, err := db.ExecContext(ctx, s.qComplete, resp.Status, header, body, ms(s.now().Add(lockOf(ttl))), ref.Scope, ref.Key, ref.Token)
	if err != nil {
		return fmt.Errorf("sqlidem: complete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlidem: complete: rows affected: %w", err)
	}
	if n == 0 {
		return idempotency.ErrClaimLost
	}
	return nil
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, ref idempotency.Ref) error {
	if _, err := s.db.ExecContext(ctx, s.qRelease, ref.Scope, ref.Key, ref.Token); err != nil {
		return fmt.Errorf("sqlidem: release: %w", err)
	}
	return nil
}

// DeleteExpired deletes the expired records in batches of CleanupBatch and
// returns how many it deleted.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	var total int64
	for {
		now := ms(s.now())
		res, err := s.db.ExecContext(ctx, s.qDelete, now, now, s.batch)
		if err != nil {
			return total, fmt.Errorf("sqlidem: delete expired: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlidem: delete expired: rows affected: %w", err)
		}
		total += n
		if n < int64(s.batch) {
			return total, nil
		}
	}
}

// Run deletes expired records at once and then every CleanupInterval until
// ctx ends; it then returns nil. Errors are logged and retried at the next
// tick.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if n, err := s.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "sqlidem: cleanup", "err", err)
		} else if n > 0 {
			s.logger.DebugContext(ctx, "sqlidem: cleanup", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
