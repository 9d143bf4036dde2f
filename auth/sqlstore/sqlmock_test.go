package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

var keyColumns = strings.Split("id, organization_id, name, env, public_id, key_hash, display_prefix, scopes, rate_limit_per_minute, expires_at, created_at, updated_at, last_used_at, revoked_at", ", ")

// ph returns the n-th placeholder of the dialect as a regular expression.
func ph(d tenancy.Dialect, n int) string {
	if d == tenancy.Postgres {
		return fmt.Sprintf(`\$%d`, n)
	}
	return `\?`
}

func mockStore(t *testing.T, d tenancy.Dialect, opts sqlstore.Options) (*sqlstore.Store, sqlmock.Sqlmock) {
	t.Helper()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mock.ExpectationsWereMet(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	})
	opts.DB, opts.Dialect = db, d
	s, err := sqlstore.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, mock
}

// timeArg is how the dialect passes t to the driver.
func timeArg(d tenancy.Dialect, t time.Time) driver.Value {
	return d.TimeValue(t)
}

func keyRow(d tenancy.Dialect, created time.Time) *sqlmock.Rows {
	return sqlmock.NewRows(append(keyColumns, "lineage", "replaced_by")).AddRow("key-1", "org-1", "name", "live", "0123456789ABCDEF", "hash", "joby_live_0123456789ABCDEF_…",
		"leads:read tasks:create", 60, nil, timeArg(d, created), timeArg(d, created), nil, nil, "key-1", nil)
}

// TestSQLShape checks, for each dialect, that every organization-scoped
// statement carries the organization predicate with the dialect's
// placeholders, and that the arguments are bound in order.
func TestSQLShape(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			p := func(n int) string { return ph(d, n) }
			for _, tc := range []struct {
				name string
				sql  string
				args []driver.Value
				rows bool // query (rows) rather than exec
				run  func(ctx context.Context, s *sqlstore.Store) error
			}{
				{
					"GetKey", `^SELECT id, .* FROM gatehouse_keys WHERE organization_id = ` + p(1) + ` AND id = ` + p(2) + `$`,
					[]driver.Value{"org-1", "key-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						_, err := s.GetKey(ctx, "org-1", "key-1")
						return err
					},
				},
				{
					"ListKeys", `^SELECT id, .* FROM gatehouse_keys WHERE organization_id = ` + p(1) + ` ORDER BY created_at DESC, id DESC$`,
					[]driver.Value{"org-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error { _, err := s.ListKeys(ctx, "org-1"); return err },
				},
				{
					"UpdateKey", `^UPDATE gatehouse_keys SET name = ` + p(1) + `, rate_limit_per_minute = ` + p(2) + `, expires_at = ` + p(3) +
						`, updated_at = ` + p(4) + ` WHERE organization_id = ` + p(5) + ` AND id = ` + p(6) + ` RETURNING id, .*$`,
					[]driver.Value{"new", int64(5), nil, timeArg(d, now), "org-1", "key-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						n, r := "new", 5
						_, err := s.UpdateKey(ctx, "org-1", "key-1", auth.KeyUpdate{Name: &n, RateLimitPerMinute: &r, SetExpiresAt: true}, now)
						return err
					},
				},
				{
					"UpdateKey scopes", `^UPDATE gatehouse_keys SET scopes = ` + p(1) + `, updated_at = ` + p(2) +
						` WHERE organization_id = ` + p(3) + ` AND id = ` + p(4) + ` RETURNING`,
					[]driver.Value{"leads:read tasks:create", timeArg(d, now), "org-1", "key-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						set := scope.NewSet("tasks:create", "leads:read")
						_, err := s.UpdateKey(ctx, "org-1", "key-1", auth.KeyUpdate{Scopes: &set}, now)
						return err
					},
				},
				{
					"RevokeKey", `^UPDATE gatehouse_keys SET revoked_at = COALESCE\(revoked_at, ` + p(1) + `\), updated_at = CASE WHEN revoked_at IS NULL THEN ` + p(2) +
						` ELSE updated_at END WHERE organization_id = ` + p(3) + ` AND id = ` + p(4) + ` RETURNING id, .*$`,
					[]driver.Value{timeArg(d, now), timeArg(d, now), "org-1", "key-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						_, err := s.RevokeKey(ctx, "org-1", "key-1", now)
						return err
					},
				},
				{
					"LookupKey", `^SELECT id, .* FROM gatehouse_keys WHERE public_id = ` + p(1) + `$`,
					[]driver.Value{"0123456789ABCDEF"}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						_, err := s.LookupKey(ctx, "0123456789ABCDEF")
						return err
					},
				},
				{
					"TouchKeys", `^UPDATE gatehouse_keys SET last_used_at = ` + p(1) + ` WHERE \(last_used_at IS NULL OR last_used_at < ` + p(2) + `\) AND id IN \(` + p(3) + `, ` + p(4) + `\)$`,
					[]driver.Value{timeArg(d, now), timeArg(d, now), "a", "b"}, false,
					func(ctx context.Context, s *sqlstore.Store) error { return s.TouchKeys(ctx, []string{"a", "b"}, now) },
				},
				{
					"CreateKey", `^INSERT INTO gatehouse_keys \(id, .*, revoked_at\) VALUES \(` + p(1) + `(, ` + `\S+` + `){13}\) ON CONFLICT DO NOTHING$`,
					[]driver.Value{"key-1", "org-1", "n", "live", "0123456789ABCDEF", "h", "dp", "leads:read", int64(60), nil, timeArg(d, now), timeArg(d, now), nil, nil}, false,
					func(ctx context.Context, s *sqlstore.Store) error {
						return s.CreateKey(ctx, auth.Key{
							ID: "key-1", OrganizationID: "org-1", Name: "n", Env: "live", PublicID: "0123456789ABCDEF",
							Hash: "h", DisplayPrefix: "dp", Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60, CreatedAt: now,
						})
					},
				},
				{
					"ListOrgs", `^SELECT id, name, api_enabled, created_at, updated_at FROM gatehouse_orgs WHERE name ` + map[tenancy.Dialect]string{tenancy.SQLite: "LIKE", tenancy.Postgres: "ILIKE"}[d] +
						` ` + p(1) + ` ESCAPE '\\' AND \(created_at < ` + p(2) + ` OR \(created_at = ` + p(3) + ` AND id < ` + p(4) + `\)\) ORDER BY created_at DESC, id DESC LIMIT ` + p(5) + `$`,
					[]driver.Value{`%a\%b\_c%`, timeArg(d, now), timeArg(d, now), "org-9", int64(10)}, true,
					func(ctx context.Context, s *sqlstore.Store) error {
						_, err := s.ListOrgs(ctx, auth.OrgQuery{Name: "a%b_c", After: &auth.Org{ID: "org-9", CreatedAt: now}, Limit: 10})
						return err
					},
				},
				{
					"APIEnabled", `^SELECT api_enabled FROM gatehouse_orgs WHERE id = ` + p(1) + `$`,
					[]driver.Value{"org-1"}, true,
					func(ctx context.Context, s *sqlstore.Store) error { _, err := s.APIEnabled(ctx, "org-1"); return err },
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s, mock := mockStore(t, d, sqlstore.Options{})
					if tc.rows {
						rows := keyRow(d, now)
						switch tc.name {
						case "APIEnabled":
							rows = sqlmock.NewRows([]string{"api_enabled"}).AddRow(true)
						case "ListOrgs":
							rows = sqlmock.NewRows(strings.Split("id, name, api_enabled, created_at, updated_at", ", "))
						}
						mock.ExpectQuery(tc.sql).WithArgs(tc.args...).WillReturnRows(rows)
					} else {
						mock.ExpectExec(tc.sql).WithArgs(tc.args...).WillReturnResult(sqlmock.NewResult(0, 1))
					}
					if err := tc.run(context.Background(), s); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestSQLPostgresRebound: PostgreSQL statements carry no '?' at all.
func TestSQLPostgresRebound(t *testing.T) {
	t.Parallel()
	s, mock := mockStore(t, tenancy.Postgres, sqlstore.Options{})
	mock.ExpectQuery(`^[^?]*$`).WillReturnRows(keyRow(tenancy.Postgres, time.Now()))
	if _, err := s.GetKey(context.Background(), "o", "k"); err != nil {
		t.Fatal(err)
	}
}

func TestSQLErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cause := errors.New("connection reset by peer")
	for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			s, mock := mockStore(t, d, sqlstore.Options{})
			mock.ExpectQuery(`FROM gatehouse_keys WHERE organization_id`).WillReturnError(cause)
			_, err := s.GetKey(ctx, "org-1", "key-1")
			if !errors.Is(err, cause) || errors.Is(err, auth.ErrNotFound) || !strings.HasPrefix(err.Error(), "sqlstore: get key: ") {
				t.Errorf("GetKey with a failing database: %v", err)
			}

			mock.ExpectQuery(`FROM gatehouse_keys WHERE organization_id`).WillReturnError(sql.ErrNoRows)
			if _, err := s.GetKey(ctx, "org-1", "key-1"); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("GetKey with no row: %v, want ErrNotFound", err)
			}

			mock.ExpectQuery(`FROM gatehouse_keys WHERE public_id`).WillReturnRows(
				sqlmock.NewRows(keyColumns).AddRow("k", "o", "n", "live", "p", "h", "d", "NOT A SCOPE", 60, nil, "2025-01-01T00:00:00.000000Z", "2025-01-01T00:00:00.000000Z", nil, nil))
			if _, err := s.LookupKey(ctx, "p"); err == nil || errors.Is(err, auth.ErrNotFound) {
				t.Errorf("LookupKey of a corrupt row: %v, want an error", err)
			}

			mock.ExpectExec(`^INSERT INTO gatehouse_keys`).WillReturnResult(sqlmock.NewResult(0, 0))
			if err := s.CreateKey(ctx, auth.Key{ID: "k", OrganizationID: "o", PublicID: "p", RateLimitPerMinute: 60}); !errors.Is(err, auth.ErrConflict) {
				t.Errorf("CreateKey with no row inserted: %v, want ErrConflict", err)
			}

			mock.ExpectExec(`^UPDATE gatehouse_keys SET last_used_at`).WillReturnError(cause)
			if err := s.TouchKeys(ctx, []string{"a"}, time.Now()); !errors.Is(err, cause) {
				t.Errorf("TouchKeys: %v", err)
			}
			if err := s.TouchKeys(ctx, nil, time.Now()); err != nil {
				t.Errorf("TouchKeys(nil) ran a statement: %v", err)
			}
		})
	}
}

// TestCreateOrgTransaction: OnOrgCreated runs inside the insert's
// transaction; its error rolls the creation back.
func TestCreateOrgTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	insert := regexp.QuoteMeta(`INSERT INTO gatehouse_orgs (id, name, api_enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`)
	hookErr := errors.New("seed failed")
	for _, tc := range []struct {
		name    string
		hook    error
		wantErr error
	}{
		{"hook succeeds", nil, nil},
		{"hook fails", hookErr, hookErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var called string
			s, mock := mockStore(t, tenancy.Postgres, sqlstore.Options{
				OnOrgCreated: func(ctx context.Context, tx *sql.Tx, orgID string) error {
					called = orgID
					if _, err := tx.ExecContext(ctx, "INSERT INTO job_types (organization_id) VALUES ($1)", orgID); err != nil {
						return err
					}
					return tc.hook
				},
			})
			mock.ExpectBegin()
			mock.ExpectExec(insert).WithArgs("org-1", "Acme", false, sqlmock.AnyArg(), sqlmock.AnyArg()).WillReturnResult(sqlmock.NewResult(0, 1))
			mock.ExpectExec(`INSERT INTO job_types`).WithArgs("org-1").WillReturnResult(sqlmock.NewResult(0, 1))
			if tc.hook == nil {
				mock.ExpectCommit()
			} else {
				mock.ExpectRollback()
			}
			_, err := s.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "Acme"})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CreateOrg = %v, want %v", err, tc.wantErr)
			}
			if called != "org-1" {
				t.Errorf("OnOrgCreated called with %q", called)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	db, _, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		opts sqlstore.Options
		ok   bool
	}{
		{"sqlite", sqlstore.Options{DB: db, Dialect: tenancy.SQLite}, true},
		{"postgres", sqlstore.Options{DB: db, Dialect: tenancy.Postgres}, true},
		{"no db", sqlstore.Options{Dialect: tenancy.SQLite}, false},
		{"no dialect", sqlstore.Options{DB: db}, false},
		{"unknown dialect", sqlstore.Options{DB: db, Dialect: 42}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlstore.New(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && s.DB() != db {
				t.Error("DB() is not Options.DB")
			}
		})
	}
}
