package sqlidem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/tenancy"
)

// TestSQLShape checks each dialect's statements: the claim is one upsert
// that only takes over expired records, and completion and release are
// conditional on the claim's token and the in-flight status.
func TestSQLShape(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_000_000)
	for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			db, mock, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err := sqlidem.New(sqlidem.Options{DB: db, Dialect: d, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			q := func(sqlite, pg string) string {
				if d == tenancy.Postgres {
					return pg
				}
				return sqlite
			}
			ctx := context.Background()
			ref := idempotency.Ref{Scope: "key-1", Key: "k", Token: "tok"}

			mock.ExpectQuery(q(`INSERT INTO gatehouse_idempotency (scope, idem_key, fingerprint, token, status, header, body, expires_at, created_at)
VALUES (?, ?, ?, ?, 0, '', NULL, ?, ?)
ON CONFLICT (scope, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, token = excluded.token, status = 0,
header = '', body = NULL, expires_at = excluded.expires_at, created_at = excluded.created_at
WHERE gatehouse_idempotency.expires_at <= ?
RETURNING token`, `INSERT INTO gatehouse_idempotency (scope, idem_key, fingerprint, token, status, header, body, expires_at, created_at)
VALUES ($1, $2, $3, $4, 0, '', NULL, $5, $6)
ON CONFLICT (scope, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, token = excluded.token, status = 0,
header = '', body = NULL, expires_at = excluded.expires_at, created_at = excluded.created_at
WHERE gatehouse_idempotency.expires_at <= $7
RETURNING token`)).WithArgs("key-1", "k", "fp", "tok", int64(1_060_000), int64(1_000_000), int64(1_000_000)).
				WillReturnRows(sqlmock.NewRows([]string{"token"}))
			mock.ExpectQuery(q(`SELECT fingerprint, status, header, body, expires_at FROM gatehouse_idempotency WHERE scope = ? AND idem_key = ?`,
				`SELECT fingerprint, status, header, body, expires_at FROM gatehouse_idempotency WHERE scope = $1 AND idem_key = $2`)).
				WithArgs("key-1", "k").
				WillReturnRows(sqlmock.NewRows([]string{"fingerprint", "status", "header", "body", "expires_at"}).
					AddRow("fp", 201, `{"Location":["/v1/leads/1"]}`, []byte("{}"), int64(2_000_000)))
			res, err := s.Claim(ctx, idempotency.Claim{Ref: ref, Fingerprint: "fp", Lock: time.Minute})
			if err != nil || res.State != idempotency.Completed || res.Response.Header.Get("Location") != "/v1/leads/1" || string(res.Response.Body) != "{}" {
				t.Fatalf("Claim = %+v, %v", res, err)
			}

			mock.ExpectExec(q(`UPDATE gatehouse_idempotency SET status = ?, header = ?, body = ?, expires_at = ? WHERE scope = ? AND idem_key = ? AND token = ? AND status = 0`,
				`UPDATE gatehouse_idempotency SET status = $1, header = $2, body = $3, expires_at = $4 WHERE scope = $5 AND idem_key = $6 AND token = $7 AND status = 0`)).
				WithArgs(404, "", []byte{}, int64(1_000_000+3_600_000), "key-1", "k", "tok").
				WillReturnResult(sqlmock.NewResult(0, 0))
			if err := s.Complete(ctx, ref, idempotency.Response{Status: 404}, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("Complete of a lost claim: %v", err)
			}

			mock.ExpectExec(q(`DELETE FROM gatehouse_idempotency WHERE scope = ? AND idem_key = ? AND token = ? AND status = 0`,
				`DELETE FROM gatehouse_idempotency WHERE scope = $1 AND idem_key = $2 AND token = $3 AND status = 0`)).
				WithArgs("key-1", "k", "tok").WillReturnResult(sqlmock.NewResult(0, 1))
			if err := s.Release(ctx, ref); err != nil {
				t.Fatal(err)
			}

			mock.ExpectExec(q(`DELETE FROM gatehouse_idempotency WHERE expires_at <= ? AND (scope, idem_key) IN
(SELECT scope, idem_key FROM gatehouse_idempotency WHERE expires_at <= ? LIMIT ?)`, `DELETE FROM gatehouse_idempotency WHERE expires_at <= $1 AND (scope, idem_key) IN
(SELECT scope, idem_key FROM gatehouse_idempotency WHERE expires_at <= $2 LIMIT $3)`)).
				WithArgs(int64(1_000_000), int64(1_000_000), 1000).WillReturnResult(sqlmock.NewResult(0, 2))
			if n, err := s.DeleteExpired(ctx); err != nil || n != 2 {
				t.Fatalf("DeleteExpired = %d, %v", n, err)
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
