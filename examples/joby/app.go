package main

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

//go:embed schema_sqlite.sql
var schemaSQLite string

//go:embed schema_postgres.sql
var schemaPostgres string

// config is what main reads from flags and the environment.
type config struct {
	// DB is a SQLite file path or a postgres:// URL.
	DB string
	// AdminToken guards /admin; "" disables the admin API.
	AdminToken string
	Logger     *slog.Logger
	Now        func() time.Time
}

// app is the assembled Joby API: the public handler (/v1, /healthz), the
// admin handler (/admin) and the background work main runs.
type app struct {
	db      *sql.DB
	dialect tenancy.Dialect
	store   *sqlstore.Store
	reg     *resource.Registry
	audit   *audit.Memory
	usage   *auth.Usage

	api    http.Handler   // /v1/...
	admin  http.Handler   // /admin/... (nil when no admin token)
	adminH *admin.Handler // for provisioning the demo
}

// jobTypes are the job types every new organization starts with.
func jobTypes() []string {
	return []string{"Locksmith", "Plumbing", "Electrical", "HVAC", "Garage Door"}
}

func newApp(ctx context.Context, cfg config) (*app, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, dialect, err := sqldb.Open(cfg.DB)
	if err != nil {
		return nil, err
	}
	a := &app{db: db, dialect: dialect}
	ok := false
	defer func() {
		if !ok {
			_ = db.Close()
		}
	}()

	// The service's own tables (in a real service they already exist).
	schema := schemaSQLite
	if dialect == tenancy.Postgres {
		schema = schemaPostgres
	}
	if err := tenancy.Migrate(ctx, db, dialect, "joby-schema", splitSQL(schema)); err != nil {
		return nil, err
	}

	a.store, err = sqlstore.New(sqlstore.Options{
		DB: db, Dialect: dialect, Now: cfg.Now,
		OnOrgCreated: func(ctx context.Context, tx *sql.Tx, orgID string) error {
			return seedJobTypes(ctx, tx, dialect, orgID, cfg.Now())
		},
	})
	if err != nil {
		return nil, err
	}
	if err := a.store.Migrate(ctx); err != nil {
		return nil, err
	}

	a.reg, err = resource.New(resource.Options{
		DB: db, Dialect: dialect, Resources: resources(), Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	if err := a.reg.Migrate(ctx); err != nil {
		return nil, err
	}
	if err := tenancy.Migrate(ctx, db, dialect, "joby-indexes", a.reg.IndexDDL()); err != nil {
		return nil, err
	}

	a.audit = audit.NewMemory(audit.MemoryOptions{})
	a.usage, err = auth.NewUsage(auth.UsageOptions{Store: a.store, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}

	authn, err := auth.New(auth.Options{
		Store: a.store, Orgs: a.store,
		Prefix: "joby", Header: "X-Joby-API-Key",
		Usage: a.usage, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	recorder, err := audit.New(audit.Options{
		Sink: a.audit,
		Key: func(r *http.Request) (string, string, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.ID, k.OrganizationID, ok
		},
	})
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.New(ratelimit.Options{
		Logger: cfg.Logger,
		Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.ID, ratelimit.PerMinute(k.RateLimitPerMinute), ok
		},
	})
	if err != nil {
		return nil, err
	}
	// request id → auth → audit → rate limit → registry (router, scopes, handlers)
	a.api = gatehouse.RequestID(authn.Wrap(recorder.Wrap(limiter.Wrap(a.reg))))

	if cfg.AdminToken != "" {
		authorize, err := admin.BearerToken(cfg.AdminToken)
		if err != nil {
			return nil, err
		}
		ah, err := admin.New(admin.Options{
			Keys: a.store, Orgs: a.store, Audit: a.audit,
			Authorize: authorize, KeyPrefix: "joby", Scopes: a.reg.Scopes(),
			Logger: cfg.Logger, Now: cfg.Now,
		})
		if err != nil {
			return nil, err
		}
		a.adminH = ah
		a.admin = gatehouse.RequestID(ah)
	}
	ok = true
	return a, nil
}

// handler serves /v1 and /healthz, and /admin unless it has its own
// listener. Nothing answers in plain text.
func (a *app) handler(withAdmin bool) http.Handler {
	notFound := gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v1" || strings.HasPrefix(p, "/v1/"):
			a.api.ServeHTTP(w, r)
		case withAdmin && a.admin != nil && (p == "/admin" || strings.HasPrefix(p, "/admin/")):
			a.admin.ServeHTTP(w, r)
		case p == "/healthz":
			a.health(w, r)
		default:
			gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gatehouse.WriteError(w, r, nil, notFound)
			})).ServeHTTP(w, r)
		}
	})
}

func (a *app) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	if err := a.db.PingContext(ctx); err != nil {
		status, code = "database unavailable", http.StatusServiceUnavailable
	}
	gatehouse.WriteJSON(w, code, map[string]any{"status": status, "database": a.dialect.String()})
}

// run runs the background work until ctx ends, then flushes it.
func (a *app) run(ctx context.Context) error {
	return a.usage.Run(ctx)
}

func (a *app) close() error { return a.db.Close() }

func seedJobTypes(ctx context.Context, tx *sql.Tx, d tenancy.Dialect, orgID string, now time.Time) error {
	for _, name := range jobTypes() {
		_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO job_types (id, organization_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"),
			uuid.New(), orgID, name, d.TimeValue(now), d.TimeValue(now))
		if err != nil {
			return fmt.Errorf("joby: seed job types: %w", err)
		}
	}
	return nil
}

// splitSQL splits a schema file into statements: "--" comment lines are
// dropped first, then the text is split at semicolons (the files have none
// inside statements).
func splitSQL(s string) []string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	var out []string
	for _, stmt := range strings.Split(b.String(), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
