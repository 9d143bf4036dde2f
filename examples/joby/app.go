package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/audit/redisaudit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/redisfeed"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/keysui"
	"gatehouse.dev/mcp"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
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
	// Redis, when set, holds rate limits and audit logs shared by every
	// pod: a redis:// URL for one node, redis+cluster://h1:p1,h2:p2 for a
	// Cluster.
	Redis string
	// Replicas is the number of pods sharing Redis, for the limiter's
	// per-pod fallback limit while Redis is down. Zero means 1.
	Replicas int
	// RedisTimeout bounds each rate-limit call to Redis before the limiter
	// falls back to its per-pod limit. Zero means redislimit's default
	// (50 ms).
	RedisTimeout time.Duration
	// TracerProvider and MeterProvider receive gatehouse's spans and
	// metrics; nil means the global providers (no-ops unless the host
	// installed an SDK).
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Keyring holds the server secrets every pod shares (cursor MACs,
	// webhook signing secrets at rest). Nil means a fresh one for this
	// process only.
	Keyring *gatehouse.Keyring
	// PersistKeyring (demo mode) generates the keyring once and keeps it in
	// the database, so a restarted demo still opens its webhook secrets and
	// accepts its cursors. Production pods get GATEHOUSE_SECRET_KEYS.
	PersistKeyring bool
	// TrustedProxies are the networks of the load balancers or proxies in
	// front of the pods whose X-Forwarded-For is believed, for the client
	// address that failed-authentication throttling and the audit log
	// use. Empty: the connection's peer address (every client behind an
	// untrusted proxy then shares one budget).
	TrustedProxies []netip.Prefix
	// WebhookLoopback lets webhooks target http:// URLs on loopback
	// addresses and any port (tests and local development only).
	WebhookLoopback bool
	// PublicURL is the https base URL clients reach the API at, the
	// servers URL of the ChatGPT Actions document: default
	// https://127.0.0.1:8080.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// app is the assembled Joby API: the public handler (/v1, /healthz), the
// admin handler (/admin) and the background work main runs.
type app struct {
	db      *sql.DB
	dialect tenancy.Dialect
	logger  *slog.Logger
	store   *sqlstore.Store
	reg     *resource.Registry
	webhook *webhook.Service
	redis   redis.UniversalClient
	limiter ratelimit.Limiter
	usage   *auth.Usage
	cache   *keycache.Cache
	// publish applies a key or organization change to this pod's key cache
	// at once and, with Redis, to every other pod's.
	publish func(context.Context, keycache.Change) error
	// runners are the background jobs main runs until shutdown.
	runners []func(context.Context) error

	api    http.Handler   // /v1/...
	admin  http.Handler   // /admin/... (nil when no admin token)
	adminH *admin.Handler // for provisioning the demo

	keysPage *keysui.Handler // the API keys settings page (with the admin API)
	sessions *demoSessions   // the demo login in front of it

	openapi *openapi.Document // served at /v1/openapi.json
	mcp     http.Handler      // /mcp: the MCP server, same key, limits and audit
	actions *openapi.Handler  // /actions/openapi.json: the ChatGPT Actions document, no key needed
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
	tel, err := telemetry.New(telemetry.Options{TracerProvider: cfg.TracerProvider, MeterProvider: cfg.MeterProvider, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	db, dialect, err := sqldb.OpenWith(cfg.DB, sqldb.Options{WrapConnector: tel.Connector})
	if err != nil {
		return nil, err
	}
	a := &app{db: db, dialect: dialect, logger: cfg.Logger}
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

	switch {
	case cfg.Keyring != nil:
	case cfg.PersistKeyring:
		if cfg.Keyring, err = demoKeyring(ctx, db, dialect); err != nil {
			return nil, err
		}
	default:
		cfg.Logger.Warn("joby: GATEHOUSE_SECRET_KEYS is not set: using a keyring for this process only (cursors and webhook secrets do not survive a restart)")
		if cfg.Keyring, err = gatehouse.NewKeyring(gatehouse.GenerateSecret("ephemeral")); err != nil {
			return nil, err
		}
	}
	// Webhooks: every create and update of a resource is an event, written
	// in the same transaction (outbox) and delivered by the dispatcher.
	a.webhook, err = webhook.New(webhook.Options{
		DB: db, Dialect: dialect, Keyring: cfg.Keyring, Resources: resources(),
		AllowLoopback: cfg.WebhookLoopback, AllowHTTP: cfg.WebhookLoopback, AllowAnyPort: cfg.WebhookLoopback,
		Logger: cfg.Logger, Now: cfg.Now,
		// Subscriptions belong to a key's lineage, so they follow it
		// through rotations; checks read the lineage's current key.
		Caller: func(r *http.Request) (string, string, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.LineageID(), k.OrganizationID, ok
		},
		KeyCheck: func(ctx context.Context, orgID, keyID string) (scope.Set, bool, error) {
			k, err := auth.CurrentKey(ctx, a.store, orgID, keyID)
			if errors.Is(err, auth.ErrNotFound) {
				return scope.Set{}, false, nil
			}
			if err != nil {
				return scope.Set{}, false, err
			}
			return k.Scopes, !k.Revoked() && !k.Expired(cfg.Now()), nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := a.webhook.Migrate(ctx); err != nil {
		return nil, err
	}
	webhookRoutes, err := a.webhook.Routes()
	if err != nil {
		return nil, err
	}
	onAttempt, err := tel.WebhookAttempt()
	if err != nil {
		return nil, err
	}
	dispatcher, err := webhook.NewDispatcher(webhook.DispatcherOptions{Service: a.webhook, OnAttempt: onAttempt, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	if _, err := tel.ObserveWebhooks(dispatcher.Stats); err != nil {
		return nil, err
	}
	a.runners = append(a.runners, dispatcher.Run)
	db.SetMaxIdleConns(16)

	// The API version: announced on every response, pinnable by clients.
	versioner, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Joby-Version", Current: "v1"})
	if err != nil {
		return nil, err
	}
	// Safe retries: Idempotency-Key on POST and PATCH, the stored response
	// committed in the same transaction as the write.
	idemStore, err := sqlidem.New(sqlidem.Options{DB: db, Dialect: dialect, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	if err := idemStore.Migrate(ctx); err != nil {
		return nil, err
	}
	a.runners = append(a.runners, idemStore.Run)
	idem, err := idempotency.New(idempotency.Options{Store: idemStore, Keyring: cfg.Keyring, Logger: cfg.Logger,
		Key: func(r *http.Request) (string, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.LineageID(), ok
		}})
	if err != nil {
		return nil, err
	}
	// The OpenAPI document is built from the registry, so its handler gets
	// it once the registry exists (openapi.go).
	spec := openapi.NewHandler(openapi.HandlerOptions{Logger: cfg.Logger})
	routes := append([]resource.Route{whoamiRoute(versioner, cfg.Logger), spec.Route(openAPIPath)}, webhookRoutes...)

	a.reg, err = resource.New(resource.Options{
		DB: db, Dialect: dialect, Resources: resources(), Routes: routes,
		Version: versioner.Current(), Keyring: cfg.Keyring,
		Middleware: []func(http.Handler) http.Handler{idem.Wrap},
		OnWrite:    a.webhook.OnWrite, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	if err := a.reg.Migrate(ctx); err != nil {
		return nil, err
	}
	if a.openapi, err = openapi.New(openAPIOptions(a.reg, versioner)); err != nil {
		return nil, err
	}
	spec.Set(a.openapi)
	if err := tenancy.Migrate(ctx, db, dialect, "joby-indexes", a.reg.IndexDDL()); err != nil {
		return nil, err
	}

	// Rate limits and audit logs: in-process, or on Redis shared by pods.
	var (
		sink      audit.Sink
		auditRead audit.Reader
	)
	if cfg.Redis == "" {
		mem := audit.NewMemory(audit.MemoryOptions{})
		sink, auditRead = mem, mem
		if a.limiter, err = ratelimit.NewMemory(ratelimit.MemoryOptions{Now: cfg.Now}); err != nil {
			return nil, err
		}
	} else {
		if a.redis, err = openRedis(cfg.Redis); err != nil {
			return nil, err
		}
		a.redis.AddHook(tel.RedisHook())
		store, err := redisaudit.New(redisaudit.Options{Client: a.redis})
		if err != nil {
			return nil, err
		}
		rec, err := audit.NewRecorder(audit.RecorderOptions{Writer: tel.AuditWriter(store), Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		sink, auditRead = rec, store
		a.runners = append(a.runners, rec.Run)
		rl, err := redislimit.New(redislimit.Options{Client: a.redis, Replicas: cfg.Replicas, Timeout: cfg.RedisTimeout, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		a.limiter = rl
		if _, err := tel.ObserveLimiter(rl.Stats); err != nil {
			return nil, err
		}
		if _, err := tel.ObserveAudit(rec.Stats); err != nil {
			return nil, err
		}
	}
	// Per client address, the store reads made for keys nobody vouched for
	// (never a key that verifies).
	clientIP := gatehouse.ClientIP{TrustedProxies: cfg.TrustedProxies}
	throttle, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: a.limiter, ClientIP: clientIP, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}

	a.usage, err = auth.NewUsage(auth.UsageOptions{Store: a.store, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	a.runners = append(a.runners, a.usage.Run)

	// Key verification without a database round trip: an in-process cache
	// in front of the store, kept exact across pods by a Redis Stream of
	// invalidations (without Redis, entries are re-read after 5 s).
	// Its membership filter of every public id answers unknown ids 401
	// without I/O while the feed is healthy.
	if a.cache, err = keycache.New(keycache.Options{Store: tel.Store(a.store), Orgs: tel.Orgs(a.store), PublicIDs: a.store, Now: cfg.Now}); err != nil {
		return nil, err
	}
	if err := a.cache.LoadFilter(ctx); err != nil {
		return nil, err
	}
	if _, err := tel.ObserveCache(a.cacheStats); err != nil {
		return nil, err
	}
	a.publish = func(_ context.Context, c keycache.Change) error { a.cache.Apply(c); return nil }
	if a.redis != nil {
		feed, err := redisfeed.New(redisfeed.Options{Client: a.redis, Cache: a.cache, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		a.publish = feed.Publish
		a.runners = append(a.runners, feed.Run)
	}

	authn, err := auth.New(auth.Options{
		Store: a.cache, Orgs: a.cache,
		Prefix: "joby", Header: "X-Joby-API-Key",
		Usage: a.usage, Throttle: throttle, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	recorder, err := audit.New(audit.Options{
		Sink: sink, ClientIP: clientIP,
		Key: func(r *http.Request) (string, string, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.ID, k.OrganizationID, ok
		},
	})
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.New(ratelimit.Options{
		Limiter: tel.Limiter(a.limiter), Logger: cfg.Logger,
		Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
			k, ok := auth.FromContext(r.Context())
			return k.LineageID(), ratelimit.PerMinute(k.RateLimitPerMinute), ok
		},
	})
	if err != nil {
		return nil, err
	}
	// request id → version → auth → audit → rate limit → registry (router,
	// scope, idempotency, handler)
	a.api = gatehouse.RequestID(tel.Middleware(versioner.Wrap(authn.Wrap(recorder.Wrap(limiter.Wrap(a.reg))))))
	// AI agents: MCP behind the same key check (each tool call limited and
	// audited as one request), and the Actions rendition of the document.
	agents, err := mcp.New(mcp.Options{Registry: a.reg, Limiter: tel.Limiter(a.limiter), Audit: sink, ClientIP: clientIP, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	a.mcp = gatehouse.RequestID(tel.Middleware(versioner.Wrap(authn.Wrap(agents))))
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://127.0.0.1:8080"
	}
	actions, err := openapi.NewActions(openAPIOptions(a.reg, versioner), openapi.ActionsOptions{BaseURL: cfg.PublicURL})
	if err != nil {
		return nil, err
	}
	a.actions = openapi.NewHandler(openapi.HandlerOptions{Public: true, Logger: cfg.Logger})
	a.actions.Set(actions)

	// The admin actions trail lives in the database with the keys.
	events, err := sqlaudit.NewEvents(sqlaudit.EventsOptions{DB: db, Dialect: dialect, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	if err := events.Migrate(ctx); err != nil {
		return nil, err
	}

	if cfg.AdminToken != "" {
		// Wrong admin tokens are counted per address (per pod) and logged
		// once per address a minute; the right token is never refused.
		adminThrottle, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{ClientIP: clientIP, Warn: "admin token", Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		authorize, err := admin.NewBearerToken(admin.TokenOptions{Token: cfg.AdminToken, Throttle: adminThrottle})
		if err != nil {
			return nil, err
		}
		ah, err := admin.New(admin.Options{
			Keys: a.store, Orgs: a.store, Audit: auditRead, Events: events,
			OnKeyChange: a.keyChanged, OnKeyCreated: a.keyCreated,
			Authorize: authorize, KeyPrefix: "joby", Scopes: a.reg.Scopes(),
			Logger: cfg.Logger, Now: cfg.Now,
		})
		if err != nil {
			return nil, err
		}
		a.adminH = ah
		if err := a.mountKeysPage(ctx, cfg.Now); err != nil {
			return nil, err
		}
		wh, err := a.webhook.AdminHandler(webhook.AdminOptions{
			Authorize: authorize,
			OrgExists: func(ctx context.Context, orgID string) (bool, error) {
				_, err := a.store.GetOrg(ctx, orgID)
				if errors.Is(err, auth.ErrNotFound) {
					return false, nil
				}
				return err == nil, err
			},
		})
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("/admin", ah) // not ServeMux's redirect to /admin/
		mux.Handle("/admin/", ah)
		mux.Handle("/admin/orgs/{org_id}/webhooks", wh)
		mux.Handle("/admin/orgs/{org_id}/webhooks/", wh)
		a.admin = gatehouse.RequestID(gatehouse.StrictPaths(mux))
	}
	ok = true
	return a, nil
}

// cacheStats reports the key cache's counters to telemetry.
func (a *app) cacheStats() telemetry.CacheStats {
	s := a.cache.Stats()
	return telemetry.CacheStats{
		Hits: s.Hits, NegativeHits: s.NegativeHits, Misses: s.Misses,
		OrgHits: s.OrgHits, OrgMisses: s.OrgMisses,
		Invalidations: s.Invalidations, Flushes: s.Flushes,
		Evictions: s.Evictions, Errors: s.Errors,
		Entries: s.Entries, NegativeEntries: s.NegativeEntries, OrgEntries: s.OrgEntries,
		FeedHealthy: s.FeedHealthy,
	}
}

// demoKeyring loads the demo's keyring from the database, generating it on
// first use. Keeping secrets beside the data they protect is for the demo
// only.
func demoKeyring(ctx context.Context, db *sql.DB, d tenancy.Dialect) (*gatehouse.Keyring, error) {
	if err := tenancy.Migrate(ctx, db, d, "joby-settings", []string{
		"CREATE TABLE IF NOT EXISTS joby_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
	}); err != nil {
		return nil, err
	}
	fresh, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("demo"))
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, d.Rebind("INSERT INTO joby_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
		"keyring", fresh.Format()); err != nil {
		return nil, fmt.Errorf("joby: store demo keyring: %w", err)
	}
	var v string
	if err := db.QueryRowContext(ctx, d.Rebind("SELECT value FROM joby_settings WHERE name = ?"), "keyring").Scan(&v); err != nil {
		return nil, fmt.Errorf("joby: load demo keyring: %w", err)
	}
	return gatehouse.ParseKeyring(v)
}

// keyChanged runs after the admin API changed a key (or an organization's
// API switch): a revoked key's webhook subscriptions are disabled.
func (a *app) keyChanged(ctx context.Context, orgID, keyID string) {
	// The change must reach the other pods even if this client hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := a.publish(ctx, keycache.Change{OrgID: orgID, KeyID: keyID})
	if keyID != "" {
		k, gerr := a.store.GetKey(ctx, orgID, keyID)
		if gerr == nil && k.Revoked() && !k.Rotated() {
			// The lineage's live key: its subscriptions stop.
			gerr = a.webhook.DisableKey(ctx, orgID, k.LineageID())
		}
		err = errors.Join(err, gerr)
	}
	if err != nil {
		a.logger.ErrorContext(ctx, "joby: applying a key change", "org_id", orgID, "key_id", keyID, "err", err)
	}
}

// keyCreated announces a new key's public id to every pod's key filter.
func (a *app) keyCreated(ctx context.Context, k auth.Key) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.publish(ctx, keycache.Change{OrgID: k.OrganizationID, KeyID: k.ID, PublicID: k.PublicID}); err != nil {
		a.logger.ErrorContext(ctx, "joby: announcing a new key", "org_id", k.OrganizationID, "key_id", k.ID, "err", err)
	}
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
		case a.keysPage != nil && strings.HasPrefix(p, keysPath+"/"):
			a.keysPage.ServeHTTP(w, r)
		case a.sessions != nil && p == "/demo-login":
			a.sessions.login(w, r)
		case p == "/mcp":
			a.mcp.ServeHTTP(w, r)
		case p == actionsPath:
			gatehouse.RequestID(a.actions).ServeHTTP(w, r)
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
	body := map[string]any{"status": "ok", "database": a.dialect.String()}
	code := http.StatusOK
	if err := a.db.PingContext(ctx); err != nil {
		body["status"], code = "database unavailable", http.StatusServiceUnavailable
	}
	if l, ok := a.limiter.(*redislimit.Limiter); ok {
		// Degraded, not down: while Redis is away the limiter falls back.
		body["rate_limiter"] = l.Status()
	} else {
		body["rate_limiter"] = map[string]string{"backend": "memory"}
	}
	gatehouse.WriteJSON(w, code, body)
}

// run runs the background work until ctx ends; each job flushes what it
// holds before returning.
func (a *app) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(a.runners))
	for i, run := range a.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *app) close() error {
	var err error
	if a.redis != nil {
		err = a.redis.Close()
	}
	return errors.Join(err, a.db.Close())
}

// openRedis opens a redis:// (or rediss://) URL, or a Cluster given as
// redis+cluster://host1:port1,host2:port2.
func openRedis(u string) (redis.UniversalClient, error) {
	if rest, ok := strings.CutPrefix(u, "redis+cluster://"); ok {
		addrs := strings.Split(rest, ",")
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true}), nil
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("joby: REDIS_URL: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}

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
