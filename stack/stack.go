package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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
	"gatehouse.dev/keysui"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// Stack is the assembled API: the public handler, the admin handler, the
// health check and the background work. Create it with [New], run
// [Stack.Run] until shutdown, then call [Stack.Close].
type Stack struct {
	opts    Options
	logger  *slog.Logger
	now     func() time.Time
	db      *sql.DB
	dialect tenancy.Dialect
	ownDB   bool
	tmpDir  string // the development database's directory, removed by Close
	redis   redis.UniversalClient
	ownRed  bool
	keyring *gatehouse.Keyring
	tel     *telemetry.Instruments

	keys      *sqlstore.Store
	reg       *resource.Registry
	hooks     *webhook.Service
	limiter   ratelimit.Limiter
	metered   ratelimit.Limiter // limiter with metrics, as the chain uses it
	auditRead audit.Reader
	sink      audit.Sink
	cache     *keycache.Cache
	feed      *redisfeed.Feed
	publish   func(context.Context, keycache.Change) error
	adminAPI  *admin.Handler
	versioner *gatehouse.Versioner
	spec      *openapi.Handler
	openAPI   openapi.Options

	authn   *auth.Middleware
	trail   *audit.Middleware
	limits  *ratelimit.Middleware
	api     http.Handler // the registry behind the chain
	admin   http.Handler // nil without AdminToken
	health  http.Handler
	runners []func(context.Context) error
	mounts  []mount          // Handle
	graphql *graphql.Handler // Options.GraphQL

	demoLogin  *keysui.DemoLogin // KeysPage in development mode
	keysPrefix string

	mu        sync.Mutex
	doc       *openapi.Document
	protected []resource.Route // documented routes of Protect
	scopes    scope.Set        // scopes of Protect
}

// New opens what Options names, migrates gatehouse's tables, checks the
// configuration and assembles the chain. It starts no goroutine: run
// [Stack.Run]. Every mistake is an error here, never at the first request.
func New(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{opts: opts, logger: opts.Logger, now: opts.Now}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := s.checkOptions(); err != nil {
		return nil, err
	}
	if s.tel, err = telemetry.New(telemetry.Options{TracerProvider: opts.TracerProvider, MeterProvider: opts.MeterProvider, Logger: s.logger}); err != nil {
		return nil, err
	}
	if err := s.openBackends(); err != nil {
		return nil, err
	}
	if s.keys, err = sqlstore.New(sqlstore.Options{DB: s.db, Dialect: s.dialect, OnOrgCreated: opts.OnOrgCreated, Now: s.now}); err != nil {
		return nil, err
	}
	if err := s.keys.Migrate(ctx); err != nil {
		return nil, err
	}
	if err := s.loadKeyring(ctx); err != nil {
		return nil, err
	}
	if err := s.buildCache(ctx); err != nil {
		return nil, err
	}
	if err := s.buildRegistry(ctx); err != nil {
		return nil, err
	}
	if err := s.buildChain(ctx); err != nil {
		return nil, err
	}
	if err := s.buildAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.buildGraphQL(); err != nil {
		return nil, err
	}
	s.health = http.HandlerFunc(s.serveHealth)
	return s, nil
}

func (s *Stack) checkOptions() error {
	o := &s.opts
	if o.DB == nil && o.DatabaseURL == "" && !o.Development {
		return errors.New("stack: Options.DB or Options.DatabaseURL is required")
	}
	if o.KeyPrefix == "" {
		return errors.New("stack: Options.KeyPrefix is required")
	}
	if err := auth.ValidatePrefix(o.KeyPrefix); err != nil {
		return fmt.Errorf("stack: Options.KeyPrefix: %w", err)
	}
	if o.AdminToken == "" && o.Development {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		o.AdminToken = o.KeyPrefix + "_admin_" + base64.RawURLEncoding.EncodeToString(b)
	}
	if o.AdminToken != "" && len(o.AdminToken) < admin.MinTokenLength {
		return fmt.Errorf("stack: Options.AdminToken must have at least %d characters", admin.MinTokenLength)
	}
	if o.Prefix == "" {
		o.Prefix = o.Registry.Prefix
	}
	if o.Prefix == "" {
		o.Prefix = resource.DefaultPrefix
	}
	if o.Version == "" {
		o.Version = o.Registry.Version
	}
	if o.Version == "" {
		o.Version = resource.DefaultVersion
	}
	// /schema reports the key and audit figures the parts enforce, which
	// their owners' defaults fill (the registry has none of its own).
	for _, f := range []struct {
		v        *int
		reg, def int
	}{
		{&o.Limits.DefaultRateLimitPerMinute, o.Registry.Limits.DefaultRateLimitPerMinute, admin.DefaultRateLimitPerMinute},
		{&o.Limits.MaxRateLimitPerMinute, o.Registry.Limits.MaxRateLimitPerMinute, admin.MaxRateLimitPerMinute},
		{&o.Limits.AuditLogSize, o.Registry.Limits.AuditLogSize, audit.DefaultCap},
	} {
		if *f.v == 0 {
			*f.v = cmp.Or(f.reg, f.def)
		}
	}
	if o.AdminPrefix == "" {
		o.AdminPrefix = DefaultAdminPrefix
	}
	if o.HealthPath == "" {
		o.HealthPath = DefaultHealthPath
	}
	for _, p := range []struct{ name, v string }{{"AdminPrefix", o.AdminPrefix}, {"HealthPath", o.HealthPath}} {
		if !strings.HasPrefix(p.v, "/") || strings.HasSuffix(p.v, "/") {
			return fmt.Errorf("stack: Options.%s %q must start and not end with /", p.name, p.v)
		}
	}
	if err := o.checkGraphQL(); err != nil {
		return err
	}
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o.PublicURL, "/") {
			return fmt.Errorf("stack: Options.PublicURL %q must be an http(s) URL without query, fragment or trailing slash", o.PublicURL)
		}
	}
	return nil
}

// openBackends opens the database and Redis when given as URLs.
func (s *Stack) openBackends() error {
	o := s.opts
	s.db, s.dialect = o.DB, o.Dialect
	if s.db == nil && o.DatabaseURL == "" { // development mode: a throwaway database
		dir, err := os.MkdirTemp("", "gatehouse-dev-")
		if err != nil {
			return fmt.Errorf("stack: temporary database: %w", err)
		}
		s.tmpDir, o.DatabaseURL = dir, filepath.Join(dir, "dev.db")
	}
	if s.db == nil {
		db, d, err := sqldb.OpenWith(o.DatabaseURL, sqldb.Options{WrapConnector: s.tel.Connector})
		if err != nil {
			return fmt.Errorf("stack: open database: %w", err)
		}
		s.db, s.dialect, s.ownDB = db, d, true
		db.SetMaxIdleConns(16)
	}
	if s.dialect == 0 {
		d, err := tenancy.DialectOf(s.db)
		if err != nil {
			return fmt.Errorf("stack: Options.Dialect: %w", err)
		}
		s.dialect = d
	}
	s.redis = o.Redis
	if s.redis == nil && o.RedisURL != "" {
		c, err := OpenRedis(o.RedisURL)
		if err != nil {
			return err
		}
		s.redis, s.ownRed = c, true
	}
	if s.redis != nil {
		s.redis.AddHook(s.tel.RedisHook())
	}
	return nil
}

// loadKeyring takes the configured keyring, or in development mode the one
// kept in the database, and refuses to start without one while a feature
// needs it.
func (s *Stack) loadKeyring(ctx context.Context) error {
	s.keyring = s.opts.Keyring
	if s.keyring != nil {
		return nil
	}
	var need []string
	if !s.opts.DisableCursors {
		need = append(need, "list cursors (or set Options.DisableCursors)")
	}
	if s.opts.Webhooks {
		need = append(need, "webhook signing secrets")
	}
	if !s.opts.DisableIdempotency {
		need = append(need, "idempotent replays (or set Options.DisableIdempotency)")
	}
	if len(need) == 0 {
		return nil
	}
	if !s.opts.Development {
		return fmt.Errorf("stack: Options.Keyring is required for %s; load it from your configuration with gatehouse.ParseKeyring (Options.Development generates one for local use)",
			strings.Join(need, " and "))
	}
	k, err := devKeyring(ctx, s.db, s.dialect)
	if err != nil {
		return err
	}
	s.logger.WarnContext(ctx, "stack: development mode: the keyring is generated and kept in the database; give production a Keyring from its configuration")
	s.keyring = k
	return nil
}

// devKeyring loads the development keyring from the database, generating
// it on first use.
func devKeyring(ctx context.Context, db *sql.DB, d tenancy.Dialect) (*gatehouse.Keyring, error) {
	if err := tenancy.Migrate(ctx, db, d, "gatehouse-dev-settings", []string{
		"CREATE TABLE IF NOT EXISTS gatehouse_dev_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
	}); err != nil {
		return nil, err
	}
	fresh, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("dev"))
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, d.Rebind("INSERT INTO gatehouse_dev_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
		"keyring", fresh.Format()); err != nil {
		return nil, fmt.Errorf("stack: store development keyring: %w", err)
	}
	var v string
	if err := db.QueryRowContext(ctx, d.Rebind("SELECT value FROM gatehouse_dev_settings WHERE name = ?"), "keyring").Scan(&v); err != nil {
		return nil, fmt.Errorf("stack: load development keyring: %w", err)
	}
	return gatehouse.ParseKeyring(v)
}

// buildCache builds the key cache in front of the key store, which
// authentication and whoami read.
func (s *Stack) buildCache(ctx context.Context) error {
	// The membership filter of every public id answers unknown ids 401
	// without I/O while the key-change feed is healthy.
	var err error
	if s.cache, err = keycache.New(keycache.Options{Store: s.tel.Store(s.keys), Orgs: s.tel.Orgs(s.keys), PublicIDs: s.keys, Now: s.now}); err != nil {
		return err
	}
	if err := s.cache.LoadFilter(ctx); err != nil {
		return err
	}
	_, err = s.tel.ObserveCache(s.cacheStats)
	return err
}

// buildRegistry builds the webhook service, idempotency, the registry and
// its OpenAPI document.
func (s *Stack) buildRegistry(ctx context.Context) error {
	o := s.opts
	var routes []resource.Route
	if o.VersionHeader != "" {
		v, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: o.VersionHeader, Current: o.Version})
		if err != nil {
			return err
		}
		s.versioner = v
	}
	s.spec = openapi.NewHandler(openapi.HandlerOptions{Logger: s.logger})
	who, err := s.whoamiRoute()
	if err != nil {
		return err
	}
	routes = append(routes, who, s.spec.Route(o.Prefix+"/openapi.json"))
	if o.Webhooks {
		if err := s.buildWebhooks(ctx); err != nil {
			return err
		}
		wr, err := s.hooks.Routes()
		if err != nil {
			return err
		}
		routes = append(routes, wr...)
	}
	ro := o.Registry
	ro.DB, ro.Dialect, ro.Resources, ro.Logger, ro.Now = s.db, s.dialect, o.Resources, s.logger, s.now
	ro.Prefix, ro.Version = o.Prefix, o.Version
	ro.Routes = append(routes, ro.Routes...)
	ro.Limits = mergeLimits(o.Limits, ro.Limits)
	ro.PublicURL, ro.OrgIDType = o.PublicURL, o.OrgIDType
	if !o.DisableCursors {
		ro.Keyring = s.keyring
	}
	if s.hooks != nil {
		if ro.OnWrite != nil {
			return errors.New("stack: Options.Registry.OnWrite is set by the stack when Webhooks is on")
		}
		ro.OnWrite = s.hooks.OnWrite
	}
	if !o.DisableIdempotency {
		store, err := sqlidem.New(sqlidem.Options{DB: s.db, Dialect: s.dialect, Now: s.now, Logger: s.logger})
		if err != nil {
			return err
		}
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		s.runners = append(s.runners, store.Run)
		// Scoped by the caller's key lineage (the default).
		idem, err := idempotency.New(idempotency.Options{Store: store, Keyring: s.keyring, Logger: s.logger})
		if err != nil {
			return err
		}
		ro.Middleware = append([]func(http.Handler) http.Handler{idem.Wrap}, ro.Middleware...)
	}
	reg, err := resource.New(ro)
	if err != nil {
		return err
	}
	s.reg = reg
	if err := reg.Migrate(ctx); err != nil {
		return err
	}
	if err := s.createSchema(ctx); err != nil {
		return err
	}
	if !o.SkipCheck {
		if err := reg.Check(ctx); err != nil {
			return fmt.Errorf("stack: startup check (Options.SkipCheck skips it): %w", err)
		}
	}
	s.openAPI = o.OpenAPI
	s.openAPI.Routes = s.graphqlRoutes(o.OpenAPI.Routes)
	s.openAPI.Registry = reg
	s.openAPI.KeyHeader = o.KeyHeader
	s.openAPI.Versioner = s.versioner
	s.openAPI.Idempotency = !o.DisableIdempotency
	s.openAPI.RateLimitHeaders = true
	s.openAPI.Events = o.Webhooks
	s.openAPI.DisabledMessage = o.DisabledMessage
	if o.PublicURL != "" {
		s.openAPI.Servers = []openapi.Server{{URL: o.PublicURL}}
	}
	return s.rebuildDocument()
}

// createSchema runs Options.Tables and creates the resources' tables
// (CreateTables) and their indexes (CreateTables, CreateSchema).
func (s *Stack) createSchema(ctx context.Context) error {
	o := s.opts
	var stmts []string
	switch {
	case o.CreateTables:
		ddl, err := s.reg.DDL(s.dialect)
		if err != nil {
			return err
		}
		stmts = append(slices.Clone(o.Tables), ddl...) // DDL ends with the indexes
	case o.CreateSchema:
		stmts = s.reg.IndexDDL()
	}
	if len(stmts) == 0 {
		return nil
	}
	return tenancy.Migrate(ctx, s.db, s.dialect, "gatehouse-resource-tables", stmts)
}

// mergeLimits fills the zero fields of a with b's.
func mergeLimits(a, b resource.Limits) resource.Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&a.DefaultLimit, b.DefaultLimit)
	def(&a.MaxLimit, b.MaxLimit)
	def(&a.MaxOffset, b.MaxOffset)
	def(&a.DefaultRateLimitPerMinute, b.DefaultRateLimitPerMinute)
	def(&a.MaxRateLimitPerMinute, b.MaxRateLimitPerMinute)
	def(&a.AuditLogSize, b.AuditLogSize)
	return a
}

// rebuildDocument builds the OpenAPI document of the registry and the
// documented Protect routes and serves it.
func (s *Stack) rebuildDocument() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.openAPI
	o.Routes = append(o.Routes, s.protected...)
	doc, err := openapi.New(o)
	if err != nil {
		return fmt.Errorf("stack: OpenAPI document: %w", err)
	}
	s.doc = doc
	s.spec.Set(doc)
	return nil
}

func (s *Stack) whoamiRoute() (resource.Route, error) {
	// The key the request was authenticated with is in the cache.
	who, err := auth.WhoAmI(auth.WhoAmIOptions{Version: s.opts.Version, Store: s.cache, Logger: s.logger})
	if err != nil {
		return resource.Route{}, err
	}
	return resource.Route{
		Method: http.MethodGet, Path: s.opts.Prefix + "/whoami", Summary: "The calling API key (test connection)",
		Handler: who,
		Doc: &resource.RouteDoc{
			OperationID: "getWhoAmI",
			Description: "What a no-code platform's \"test connection\" step calls: the organization, the key's id, name, scopes and rate limit, and the API version.",
			Components:  map[string]json.RawMessage{"WhoAmI": auth.WhoAmISchema()},
			Responses: []resource.ResponseDoc{{Status: http.StatusOK, Description: "The calling key.",
				Data: json.RawMessage(`{"$ref":"#/components/schemas/WhoAmI"}`)}},
		},
	}, nil
}

func (s *Stack) buildWebhooks(ctx context.Context) error {
	wo := s.opts.Webhook
	wo.DB, wo.Dialect, wo.Keyring, wo.Resources = s.db, s.dialect, s.keyring, s.opts.Resources
	wo.APIPrefix, wo.Logger, wo.Now = s.opts.Prefix, s.logger, s.now
	if wo.PublicURL == "" {
		// One public base URL for every link (issue 14).
		wo.PublicURL = s.opts.PublicURL
	}
	// Subscriptions belong to the caller's key lineage (the default with
	// Caller nil), so they follow it through rotations; checks read the
	// lineage's current key.
	wo.KeyCheck = func(ctx context.Context, orgID, keyID string) (scope.Set, bool, error) {
		k, err := auth.CurrentKey(ctx, s.keys, orgID, keyID)
		if errors.Is(err, auth.ErrNotFound) {
			return scope.Set{}, false, nil
		}
		if err != nil {
			return scope.Set{}, false, err
		}
		return k.Scopes, !k.Revoked() && !k.Expired(s.now()), nil
	}
	if wo.APIEnabled == nil {
		// Deliveries pause while an organization's API module is off.
		wo.APIEnabled = s.keys.APIEnabled
	}
	svc, err := webhook.New(wo)
	if err != nil {
		return err
	}
	if err := svc.Migrate(ctx); err != nil {
		return err
	}
	onAttempt, err := s.tel.WebhookAttempt()
	if err != nil {
		return err
	}
	do := s.opts.Dispatcher
	do.Service, do.OnAttempt, do.Logger, do.Now = svc, onAttempt, s.logger, s.now
	d, err := webhook.NewDispatcher(do)
	if err != nil {
		return err
	}
	if _, err := s.tel.ObserveWebhooks(d.Stats); err != nil {
		return err
	}
	s.hooks = svc
	s.runners = append(s.runners, d.Run)
	return nil
}

// buildChain builds rate limiting, the audit log, the key cache and
// authentication, and the public chain around the registry.
func (s *Stack) buildChain(ctx context.Context) error {
	o := s.opts
	auditCap := o.Limits.AuditLogSize
	var sink audit.Sink
	defer func() { s.sink = sink }()
	if s.redis != nil {
		store, err := redisaudit.New(redisaudit.Options{Client: s.redis, Prefix: o.RedisPrefix, Cap: auditCap})
		if err != nil {
			return err
		}
		rec, err := s.recorder(store)
		if err != nil {
			return err
		}
		sink, s.auditRead = rec, store
		lo := o.Limiter
		lo.Client, lo.Logger = s.redis, s.logger
		if o.RedisPrefix != "" {
			lo.Prefix = o.RedisPrefix
		}
		rl, err := redislimit.New(lo)
		if err != nil {
			return err
		}
		s.limiter = rl
		s.runners = append(s.runners, rl.Run) // heartbeats: the live pod count of the fallback share
		if _, err := s.tel.ObserveLimiter(rl.Stats); err != nil {
			return err
		}
	} else {
		store, err := sqlaudit.New(sqlaudit.Options{DB: s.db, Dialect: s.dialect, Cap: auditCap})
		if err != nil {
			return err
		}
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		rec, err := s.recorder(store)
		if err != nil {
			return err
		}
		sink, s.auditRead = rec, store
		if s.limiter, err = ratelimit.NewMemory(ratelimit.MemoryOptions{Now: s.now}); err != nil {
			return err
		}
	}
	throttle, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: s.limiter, ClientIP: o.ClientIP, Logger: s.logger})
	if err != nil {
		return err
	}
	usage, err := auth.NewUsage(auth.UsageOptions{Store: s.keys, Logger: s.logger, Now: s.now})
	if err != nil {
		return err
	}
	s.runners = append(s.runners, usage.Run)
	s.publish = func(_ context.Context, c keycache.Change) error { s.cache.Apply(c); return nil }
	if s.redis != nil {
		fo := redisfeed.Options{Client: s.redis, Cache: s.cache, Logger: s.logger}
		if o.RedisPrefix != "" {
			fo.Stream = o.RedisPrefix + "keychanges"
		}
		if s.feed, err = redisfeed.New(fo); err != nil {
			return err
		}
		s.publish = s.feed.Publish
		s.runners = append(s.runners, s.feed.Run)
	}
	if s.authn, err = auth.New(auth.Options{
		Store: s.cache, Orgs: s.cache, Prefix: o.KeyPrefix, Header: o.KeyHeader,
		Usage: usage, Throttle: throttle, Logger: s.logger, Now: s.now,
		DisabledMessage: o.DisabledMessage,
	}); err != nil {
		return err
	}
	// Audit and rate limit read the gatehouse.Caller auth records (the
	// limit's bucket is the key's lineage).
	if s.trail, err = audit.New(audit.Options{Sink: sink, ClientIP: o.ClientIP}); err != nil {
		return err
	}
	s.metered = s.tel.Limiter(s.limiter)
	if s.limits, err = ratelimit.New(ratelimit.Options{Limiter: s.metered, Logger: s.logger}); err != nil {
		return err
	}
	// request id → telemetry → version → auth → audit → rate limit →
	// registry (router, scope, idempotency, handler)
	var h http.Handler = s.authn.Wrap(s.trail.Wrap(s.limits.Wrap(s.reg)))
	if s.versioner != nil {
		h = s.versioner.Wrap(h)
	}
	s.api = gatehouse.RequestID(s.tel.Middleware(h))
	return nil
}

func (s *Stack) recorder(w audit.Writer) (*audit.Recorder, error) {
	rec, err := audit.NewRecorder(audit.RecorderOptions{Writer: s.tel.AuditWriter(w), Logger: s.logger})
	if err != nil {
		return nil, err
	}
	if _, err := s.tel.ObserveAudit(rec.Stats); err != nil {
		return nil, err
	}
	s.runners = append(s.runners, rec.Run)
	return rec, nil
}

func (s *Stack) cacheStats() telemetry.CacheStats {
	c := s.cache.Stats()
	return telemetry.CacheStats{
		Hits: c.Hits, NegativeHits: c.NegativeHits, Misses: c.Misses,
		OrgHits: c.OrgHits, OrgMisses: c.OrgMisses,
		Invalidations: c.Invalidations, Flushes: c.Flushes,
		Evictions: c.Evictions, Errors: c.Errors,
		Entries: c.Entries, NegativeEntries: c.NegativeEntries, OrgEntries: c.OrgEntries,
		FeedHealthy: c.FeedHealthy,
	}
}
