package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// TestSecretNeverStoredOrLogged issues a key on a SQLite file, uses it
// through the middleware (successes, a wrong secret, a revoked key, a store
// failure) with debug logging captured, flushes last_used_at, and then
// greps every file of the database and the whole log for the secret.
func TestSecretNeverStoredOrLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: tenancy.SQLite})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, p, err := auth.Generate("joby", auth.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	full := raw.Reveal()
	secret := full[len(full)-auth.SecretLen-auth.ChecksumLen:]
	k := auth.Key{
		ID: uuid.New(), OrganizationID: org.ID, Name: "integration", Env: p.Env, PublicID: p.PublicID,
		Hash: auth.Hash(full), DisplayPrefix: p.DisplayPrefix(), Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	logger.Info("key issued", "key", raw, "key_id", k.ID)

	usage, err := auth.NewUsage(auth.UsageOptions{Store: s, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.New(auth.Options{Store: s, Orgs: s, Prefix: "joby", Header: "X-Joby-API-Key", Logger: logger, Usage: usage})
	if err != nil {
		t.Fatal(err)
	}
	h := gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gatehouse.CallerFromContext(r.Context())
		logger.InfoContext(r.Context(), "served", "key", c.PublicID)
		w.WriteHeader(http.StatusNoContent)
	})))
	wrong := full[:len(full)-3] + "zzz"
	do := func(header, value string, want int) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		r.Header.Set(header, value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Fatalf("%s: status %d %s, want %d", header, w.Code, w.Body, want)
		}
		if strings.Contains(w.Body.String(), secret) {
			t.Fatalf("response contains the secret: %s", w.Body)
		}
	}
	do("Authorization", "Bearer "+full, http.StatusNoContent)
	do("X-Joby-API-Key", full, http.StatusNoContent)
	do("Authorization", "Bearer "+wrong, http.StatusUnauthorized)
	do("Authorization", "Basic "+full, http.StatusUnauthorized)
	if err := usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, org.ID, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	do("Authorization", "Bearer "+full, http.StatusUnauthorized)
	if err := db.Close(); err != nil { // a store failure is logged with its cause
		t.Fatal(err)
	}
	do("Authorization", "Bearer "+full, http.StatusInternalServerError)

	// Positive controls: the grep looks at the right data.
	var files [][]byte
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte(p.PublicID)) || !bytes.Contains(all, []byte(k.Hash)) {
		t.Fatalf("the database files (%d) hold neither the public id nor the hash: wrong files?", len(files))
	}
	out := logs.Bytes()
	if !bytes.Contains(out, []byte(p.DisplayPrefix())) || !bytes.Contains(out, []byte("sql: database is closed")) {
		t.Fatalf("log lacks the expected lines:\n%s", out)
	}

	for what, data := range map[string][]byte{"database files": all, "logs": out} {
		for _, needle := range []string{secret, secret[:16], secret[16:32], full, wrong[len(wrong)-38:]} {
			if bytes.Contains(data, []byte(needle)) {
				t.Errorf("%s contain (part of) the secret %q", what, needle)
			}
		}
	}
}

// TestLastUsedAtOnDatabases runs the usage batcher against both engines.
func TestLastUsedAtOnDatabases(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ctx := context.Background()
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		now := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
		u, err := auth.NewUsage(auth.UsageOptions{Store: s, BatchSize: 3, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		var keys []auth.Key
		for i := range 7 {
			_, p, err := auth.Generate("joby", auth.EnvLive)
			if err != nil {
				t.Fatal(err)
			}
			k := auth.Key{ID: uuid.New(), OrganizationID: "org", Name: fmt.Sprint(i), Env: p.Env, PublicID: p.PublicID, Hash: "h", DisplayPrefix: p.DisplayPrefix(), Scopes: scope.NewSet("a:b"), RateLimitPerMinute: 1, CreatedAt: now}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
			if i < 6 {
				u.Mark(k.ID)
			}
		}
		if err := u.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			got, err := s.GetKey(ctx, "org", k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := i < 6; (got.LastUsedAt != nil && got.LastUsedAt.Equal(now)) != want {
				t.Errorf("key %d: LastUsedAt %v, want set=%v", i, got.LastUsedAt, want)
			}
		}
	})
}

// TestOnOrgCreatedOnDatabases: the hook's writes commit with the
// organization, and a failing hook leaves neither behind.
func TestOnOrgCreatedOnDatabases(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		ctx := context.Background()
		if _, err := db.DB.ExecContext(ctx, "CREATE TABLE job_types (organization_id TEXT NOT NULL, name TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		fail := errors.New("seed failed")
		s, err := sqlstore.New(sqlstore.Options{DB: db.DB, Dialect: db.Dialect, OnOrgCreated: func(ctx context.Context, tx *sql.Tx, orgID string) error {
			if _, err := tx.ExecContext(ctx, db.Dialect.Rebind("INSERT INTO job_types (organization_id, name) VALUES (?, 'Install')"), orgID); err != nil {
				return err
			}
			if strings.HasPrefix(orgID, "fail") {
				return fail
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateOrg(ctx, auth.Org{ID: "ok-1", Name: "OK"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateOrg(ctx, auth.Org{ID: "fail-1", Name: "Fail"}); !errors.Is(err, fail) {
			t.Fatalf("CreateOrg with a failing hook: %v", err)
		}
		if _, err := s.GetOrg(ctx, "fail-1"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("organization of a failed hook exists: %v", err)
		}
		for org, want := range map[string]int{"ok-1": 1, "fail-1": 0} {
			var n int
			if err := db.DB.QueryRowContext(ctx, db.Dialect.Rebind("SELECT COUNT(*) FROM job_types WHERE organization_id = ?"), org).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s: %d job types, want %d", org, n, want)
			}
		}
		// The conflict path runs no hook.
		if _, err := s.CreateOrg(ctx, auth.Org{ID: "ok-1", Name: "Again"}); !errors.Is(err, auth.ErrConflict) {
			t.Errorf("second CreateOrg: %v, want ErrConflict", err)
		}
	})
}
