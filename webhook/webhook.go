package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Defaults of [Options].
const (
	DefaultAPIPrefix          = "/v1"
	DefaultManageScope        = scope.Scope("webhooks:manage")
	DefaultSecretGracePeriod  = 24 * time.Hour
	MaxSecretGracePeriod      = 7 * 24 * time.Hour
	DefaultMaxEndpoints       = 100
	DefaultMaxEndpointsPerKey = 25
	// DefaultMaxPayloadBytes bounds a full event's JSON body (256 KiB);
	// a larger event is sent thin (see [Options.MaxPayloadBytes]).
	DefaultMaxPayloadBytes = 256 << 10
	// Wildcard subscribes an endpoint to every event type (for an
	// endpoint made with an API key: every type the key may read).
	Wildcard = "*"
	// maxEvents bounds the event types of one endpoint.
	maxEvents = 100
	// maxDescription bounds descriptions, in characters.
	maxDescription = 255
)

// EventType is a kind of event endpoints may subscribe to.
type EventType struct {
	// Name, e.g. "lead.created".
	Name string
	// Scope a key must hold to subscribe to the type and to receive its
	// events, e.g. "leads:read".
	Scope scope.Scope
}

// Options configures [New]. The zero value of every optional field means the
// default named in its comment.
type Options struct {
	// DB holds the webhook tables (see [Service.Migrate]) and, for the
	// outbox to be transactional, the service's own tables. Required.
	DB *sql.DB
	// Dialect of DB; zero means detected from its driver.
	Dialect tenancy.Dialect
	// Keyring encrypts signing secrets at rest (AES-256-GCM, bound to the
	// endpoint id). All pods must share it. Required.
	Keyring *gatehouse.Keyring
	// Resources adds the event types "<singular>.created" and
	// "<singular>.updated", readable with "<name>:read", for each resource
	// ([resource.Resource.SingularName]). Pass the declarations given to
	// resource.New.
	Resources []resource.Resource
	// Types are more event types, e.g. for events the service emits with
	// [Service.Emit].
	Types []EventType
	// Caller, when set, identifies the API key of a public API request:
	// its id and organization. Nil means the request's gatehouse.Caller:
	// its lineage (Caller.LineageID, so subscriptions follow a key
	// through rotations; KeyCheck then receives the lineage id) and OrgID.
	// The key's granted scopes are read with scope.FromContext.
	Caller func(r *http.Request) (keyID, orgID string, ok bool)
	// KeyCheck reports, at delivery time, the current scopes of the API
	// key that owns an endpoint and whether the key is still active (not
	// revoked, not expired). An inactive key disables its endpoints; a
	// missing read scope skips the event. Required with Caller and for
	// [Service.Routes]; without it, endpoints owned by keys receive
	// nothing (fail closed).
	KeyCheck func(ctx context.Context, orgID, keyID string) (granted scope.Set, active bool, err error)
	// APIEnabled, when set, reports whether the organization's Developer
	// API module is on (auth.OrgChecker's APIEnabled fits). While it is
	// off the organization's deliveries pause: they stay pending, are
	// looked at again every minute, and resume once it is on again; one
	// still paused when older than DispatcherOptions.Retention is
	// dropped. Nil means deliveries never pause.
	APIEnabled func(ctx context.Context, orgID string) (bool, error)
	// APIPrefix of the public routes: default "/v1".
	APIPrefix string
	// PublicURL, when set, is the absolute URL the public API is reached at
	// without its APIPrefix, as resource.Options.PublicURL (stack passes its
	// one Options.PublicURL to both): the Location of a public endpoint
	// create starts with it, and a thin event's data carries
	// "resource_url", PublicURL followed by its resource_path. Empty:
	// Location is the path ("/v1/webhooks/…") and thin events carry the
	// path only. No trailing slash.
	PublicURL string
	// ManageScope is required by the public routes: default
	// "webhooks:manage".
	ManageScope scope.Scope
	// AllowHTTP accepts http:// target URLs (development only); by
	// default only https is accepted.
	AllowHTTP bool
	// AllowAnyPort accepts any port; by default only 443 and 80.
	AllowAnyPort bool
	// AllowLoopback lets targets resolve to loopback addresses (tests and
	// development only). Private, link-local and the other special ranges
	// are always refused.
	AllowLoopback bool
	// Resolver resolves target hosts, at subscription and at delivery:
	// default net.DefaultResolver.
	Resolver Resolver
	// Dial opens connections to the addresses that passed the policy:
	// default a net.Dialer whose Control re-checks the address dialed.
	Dial DialFunc
	// SecretGracePeriod is how long a rotated-out secret keeps signing
	// (both signatures are sent): default 24 h, at most 7 days.
	SecretGracePeriod time.Duration
	// MaxEndpoints per organization: default 100.
	MaxEndpoints int
	// MaxEndpointsPerKey bounds the endpoints one API key (its lineage:
	// the id [Endpoint.KeyID] records) may own, so that one key cannot
	// use up the organization's MaxEndpoints: default 25. Endpoints made
	// through the admin API or the Go API without a key count only
	// toward MaxEndpoints.
	MaxEndpointsPerKey int
	// MaxPayloadBytes bounds the JSON body of an event as stored and
	// delivered: default 256 KiB. A larger event is stored and sent thin,
	//
	//	{"id":"evt_…","type":"lead.updated","created_at":"…","organization_id":"…","thin":true,
	//	 "data":{"id":"<record id>","resource_path":"/v1/leads/<record id>"}}
	//
	// (with "resource_url" too when PublicURL is set)
	//
	// and the receiver reads the record through the API; so a large
	// record sent to many endpoints is neither stored nor sent at full
	// size. Negative means no bound.
	MaxPayloadBytes int
	// MaxBodyBytes bounds request bodies: default 1 MiB.
	MaxBodyBytes int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now. Event times, due times and leases come
	// from it, never from the database's clock.
	Now func() time.Time
}

// Service stores endpoints and events: [Service.Emit] and
// [Service.OnWrite] write events into the outbox, [Service.Routes] and
// [Service.AdminHandler] serve the subscription APIs, and a [Dispatcher]
// delivers. Create it with [New]; it is safe for concurrent use.
type Service struct {
	db       *sql.DB
	dialect  tenancy.Dialect
	keyring  *gatehouse.Keyring
	types    []EventType
	byName   map[string]EventType
	caller   func(r *http.Request) (keyID, orgID string, ok bool)
	keyCheck func(ctx context.Context, orgID, keyID string) (scope.Set, bool, error)
	apiOn    func(ctx context.Context, orgID string) (bool, error)
	prefix   string
	public   string
	manage   scope.Scope
	policy   *addrPolicy
	dialer   *guardedDialer
	urls     urlRules
	grace    time.Duration
	maxEP    int
	maxKeyEP int
	maxEvent int
	maxBody  int64
	logger   *slog.Logger
	now      func() time.Time

	// notify is s.Notify, bound once (Emit registers it after each
	// commit with deliveries).
	notify func()
	// wakeMu guards wakers, the running dispatchers of this service.
	wakeMu sync.Mutex
	wakers []*waker
}

// waker is how Notify reaches a running dispatcher: wake starts its
// claimer; announce, when not nil, asks it to tell the other pods.
type waker struct {
	wake, announce chan struct{}
}

// signal makes a pending signal on ch unless one is pending already.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Notify tells the dispatchers that deliveries were committed: the
// dispatchers running in this process claim them at once, and on
// PostgreSQL they tell the other pods' dispatchers (a coalesced NOTIFY,
// sent after the commit, never inside a writer's transaction). It never
// blocks and does no I/O itself. Writes through the resource registry call
// it after their commit ([Service.OnWrite] registers it with
// resource.AfterCommit); a caller of [Service.Emit] with its own
// transaction calls it after committing. Without it, deliveries wait for
// the next poll (DispatcherOptions.PollInterval).
func (s *Service) Notify() {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	for _, w := range s.wakers {
		signal(w.wake)
		if w.announce != nil {
			signal(w.announce)
		}
	}
}

func (s *Service) addWaker(w *waker) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	s.wakers = append(s.wakers, w)
}

func (s *Service) removeWaker(w *waker) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	s.wakers = slices.DeleteFunc(s.wakers, func(x *waker) bool { return x == w })
}

// New validates opts and returns the service. It starts nothing.
func New(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, errors.New("webhook: Options.DB is required")
	}
	if opts.Keyring == nil {
		return nil, errors.New("webhook: Options.Keyring is required")
	}
	if opts.Caller != nil && opts.KeyCheck == nil {
		return nil, errors.New("webhook: Options.KeyCheck is required with Options.Caller: deliveries re-check the owning key")
	}
	if opts.Caller == nil {
		opts.Caller = callerOf
	}
	s := &Service{
		db:       opts.DB,
		dialect:  opts.Dialect,
		keyring:  opts.Keyring,
		byName:   map[string]EventType{},
		caller:   opts.Caller,
		keyCheck: opts.KeyCheck,
		apiOn:    opts.APIEnabled,
		prefix:   opts.APIPrefix,
		public:   opts.PublicURL,
		manage:   opts.ManageScope,
		grace:    opts.SecretGracePeriod,
		maxEP:    opts.MaxEndpoints,
		maxKeyEP: opts.MaxEndpointsPerKey,
		maxEvent: opts.MaxPayloadBytes,
		maxBody:  opts.MaxBodyBytes,
		logger:   opts.Logger,
		now:      opts.Now,
	}
	if s.dialect == 0 {
		d, err := tenancy.DialectOf(opts.DB)
		if err != nil {
			return nil, fmt.Errorf("webhook: Options.Dialect: %w", err)
		}
		s.dialect = d
	}
	if s.dialect != tenancy.SQLite && s.dialect != tenancy.Postgres {
		return nil, fmt.Errorf("webhook: unknown dialect %d", int(s.dialect))
	}
	if s.prefix == "" {
		s.prefix = DefaultAPIPrefix
	}
	if !strings.HasPrefix(s.prefix, "/") || strings.HasSuffix(s.prefix, "/") || strings.ContainsAny(s.prefix, "{} ") {
		return nil, fmt.Errorf("webhook: Options.APIPrefix %q must start and not end with /", s.prefix)
	}
	if u, err := url.Parse(s.public); s.public != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s.public, "/")) {
		return nil, fmt.Errorf("webhook: Options.PublicURL %q must be an http(s) URL without query, fragment or trailing slash", s.public)
	}
	if s.manage == "" {
		s.manage = DefaultManageScope
	}
	if _, err := scope.Parse(string(s.manage)); err != nil {
		return nil, fmt.Errorf("webhook: Options.ManageScope: %w", err)
	}
	switch {
	case s.grace == 0:
		s.grace = DefaultSecretGracePeriod
	case s.grace < 0 || s.grace > MaxSecretGracePeriod:
		return nil, fmt.Errorf("webhook: Options.SecretGracePeriod must be between 0 and %s", MaxSecretGracePeriod)
	}
	if s.maxEP == 0 {
		s.maxEP = DefaultMaxEndpoints
	}
	if s.maxEP < 0 {
		return nil, errors.New("webhook: Options.MaxEndpoints must not be negative")
	}
	if s.maxEvent == 0 {
		s.maxEvent = DefaultMaxPayloadBytes
	}
	if s.maxKeyEP == 0 {
		s.maxKeyEP = DefaultMaxEndpointsPerKey
	}
	if s.maxKeyEP < 0 {
		return nil, errors.New("webhook: Options.MaxEndpointsPerKey must not be negative")
	}
	if s.maxBody <= 0 {
		s.maxBody = gatehouse.DefaultMaxBodyBytes
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.notify = s.Notify
	types := slices.Clone(opts.Types)
	for _, r := range opts.Resources {
		if r.Name == "" {
			return nil, errors.New("webhook: Options.Resources: a resource has no Name")
		}
		singular := r.SingularName()
		read := scope.Of(r.Name, scope.Read)
		types = append(types,
			EventType{Name: singular + "." + resource.OpCreated, Scope: read},
			EventType{Name: singular + "." + resource.OpUpdated, Scope: read})
	}
	for _, t := range types {
		if !validTypeName(t.Name) {
			return nil, fmt.Errorf("webhook: invalid event type %q: want lower-case words separated by dots, e.g. lead.created", t.Name)
		}
		if _, err := scope.Parse(string(t.Scope)); err != nil {
			return nil, fmt.Errorf("webhook: event type %s: %w", t.Name, err)
		}
		if _, dup := s.byName[t.Name]; dup {
			return nil, fmt.Errorf("webhook: duplicate event type %q", t.Name)
		}
		s.byName[t.Name] = t
		s.types = append(s.types, t)
	}
	slices.SortFunc(s.types, func(a, b EventType) int { return strings.Compare(a.Name, b.Name) })
	s.policy = newAddrPolicy(opts.AllowLoopback)
	s.dialer = newGuardedDialer(s.policy, opts.Resolver, opts.Dial)
	s.urls = urlRules{allowHTTP: opts.AllowHTTP, allowAnyPort: opts.AllowAnyPort, dialer: s.dialer}
	return s, nil
}

// validTypeName reports whether n is like "lead.created": at least two
// dot-separated parts of lower-case letters, digits, '_' and '-', each
// starting with a letter, at most 128 characters.
func validTypeName(n string) bool {
	if len(n) > 128 || !strings.Contains(n, ".") {
		return false
	}
	for part := range strings.SplitSeq(n, ".") {
		if part == "" || part[0] < 'a' || part[0] > 'z' {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Types returns the event types endpoints may subscribe to, sorted by name.
func (s *Service) Types() []EventType { return slices.Clone(s.types) }

// ManageScope returns the scope the public routes require.
func (s *Service) ManageScope() scope.Scope { return s.manage }

// Component is the name under which the webhook tables' schema versions
// are recorded in gatehouse_schema_versions.
const Component = "webhooks"

// Migrations returns the versions of the webhook tables' schema, oldest
// first, for [tenancy.MigrateVersions]. Version 1 creates
// gatehouse_webhook_endpoints, gatehouse_webhook_events,
// gatehouse_webhook_deliveries and gatehouse_webhook_attempts with their
// indexes; version 2 adds the index of pending deliveries by organization
// and due time that the dispatcher's fair claim reads.
func Migrations() []tenancy.Migration {
	return []tenancy.Migration{
		{Version: 1, Description: "webhook endpoints, events, deliveries, attempts", Statements: ddl},
		{Version: 2, Description: "pending deliveries by organization and due time (fair claims)", Statements: func(tenancy.Dialect) []string {
			return []string{`CREATE INDEX IF NOT EXISTS gatehouse_webhook_deliveries_org_due_idx
	ON gatehouse_webhook_deliveries (organization_id, next_attempt_at) WHERE state = 'pending'`}
		}},
	}
}

// Migrate brings the webhook tables to the last of [Migrations] with
// [tenancy.MigrateVersions] (under an advisory lock on PostgreSQL; a
// database created before versions were recorded takes version 1 as a
// no-op).
func (s *Service) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, s.db, s.dialect, Component, Migrations()); err != nil {
		return fmt.Errorf("webhook: migrate: %w", err)
	}
	return nil
}

// callerOf is the default Options.Caller: the lineage and organization of
// the request's gatehouse.Caller.
func callerOf(r *http.Request) (keyID, orgID string, ok bool) {
	c, ok := gatehouse.CallerFromContext(r.Context())
	return c.LineageID(), c.OrgID, ok
}

// ddl returns the idempotent statements of version 1 for the dialect.
func ddl(d tenancy.Dialect) []string {
	ts, boolean, serial := "TEXT", "BOOLEAN", "INTEGER PRIMARY KEY AUTOINCREMENT"
	if d == tenancy.Postgres {
		ts, serial = "TIMESTAMPTZ", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	r := strings.NewReplacer("$TS", ts, "$BOOL", boolean, "$SERIAL", serial)
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS gatehouse_webhook_endpoints (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	key_id TEXT,
	url TEXT NOT NULL,
	description TEXT NOT NULL,
	events TEXT NOT NULL,
	enabled $BOOL NOT NULL,
	disabled_reason TEXT NOT NULL,
	secret TEXT NOT NULL,
	old_secret TEXT,
	old_secret_until $TS,
	last_success_at $TS,
	created_at $TS NOT NULL,
	updated_at $TS NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_endpoints_org_idx ON gatehouse_webhook_endpoints (organization_id, key_id)`,
		`CREATE TABLE IF NOT EXISTS gatehouse_webhook_events (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	type TEXT NOT NULL,
	scope TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at $TS NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_events_created_idx ON gatehouse_webhook_events (created_at)`,
		`CREATE TABLE IF NOT EXISTS gatehouse_webhook_deliveries (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL,
	endpoint_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	next_attempt_at $TS NOT NULL,
	locked_until $TS,
	lock_token TEXT,
	created_at $TS NOT NULL,
	updated_at $TS NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_deliveries_due_idx ON gatehouse_webhook_deliveries (next_attempt_at) WHERE state = 'pending'`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_deliveries_endpoint_idx ON gatehouse_webhook_deliveries (endpoint_id, state)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_deliveries_event_idx ON gatehouse_webhook_deliveries (event_id)`,
		`CREATE TABLE IF NOT EXISTS gatehouse_webhook_attempts (
	seq $SERIAL,
	organization_id TEXT NOT NULL,
	endpoint_id TEXT NOT NULL,
	delivery_id TEXT NOT NULL,
	event_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	attempt INTEGER NOT NULL,
	outcome TEXT NOT NULL,
	status_code INTEGER NOT NULL,
	duration_ms BIGINT NOT NULL,
	error TEXT NOT NULL,
	next_attempt_at $TS,
	created_at $TS NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_attempts_endpoint_idx ON gatehouse_webhook_attempts (endpoint_id, seq)`,
		`CREATE INDEX IF NOT EXISTS gatehouse_webhook_attempts_created_idx ON gatehouse_webhook_attempts (created_at)`,
	}
	for i, st := range stmts {
		stmts[i] = r.Replace(st)
	}
	return stmts
}

// tx runs fn in a transaction.
func (s *Service) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// q rebinds a query for the dialect.
func (s *Service) q(query string) string { return s.dialect.Rebind(query) }

// t returns a time as a query argument.
func (s *Service) t(t time.Time) any { return s.dialect.TimeValue(t) }
