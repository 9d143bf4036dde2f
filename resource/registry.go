package resource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Defaults of [Options] and [Limits].
const (
	DefaultPrefix                    = "/v1"
	DefaultVersion                   = "v1"
	DefaultLimit                     = 50
	DefaultMaxLimit                  = 1000
	DefaultMaxOffset                 = 10000
	sequencesMigration               = tenancy.SequencesComponent
	defaultIndexSuffix               = "_gatehouse_list_idx"
	filterIndexSuffix                = "_gatehouse_idx"
	maxIdentifierLength              = 63
	methodsCollection, methodsRecord = "GET, HEAD, POST", "GET, HEAD, PATCH"
)

// DefaultProtected returns the default of Options.Protected: the members
// every record has and the backend always owns (id, organization_id,
// created_at, updated_at), refused in every create and update body. A
// service adds the names its own backend owns (examples/joby adds the
// reference API's lead_number, auth_secret, access_token, …).
func DefaultProtected() []string {
	return []string{"id", "organization_id", "created_at", "updated_at"}
}

// Limits are the list limits the registry enforces and the figures /schema
// reports. Zero fields mean the defaults named in their comments.
type Limits struct {
	// DefaultLimit is the page size without limit=: default 50.
	DefaultLimit int `json:"default_limit"`
	// MaxLimit clamps limit=: default 1000.
	MaxLimit int `json:"max_limit"`
	// MaxOffset is the largest offset= accepted: default 10000.
	MaxOffset int `json:"max_offset"`
	// DefaultRateLimitPerMinute of new keys, reported only: the registry
	// enforces nothing of it. Zero leaves it out of /schema. The admin
	// API owns the figure (admin.Options.DefaultRateLimitPerMinute, default
	// admin.DefaultRateLimitPerMinute); gatehouse.dev/stack reports what
	// it configures there.
	DefaultRateLimitPerMinute int `json:"default_rate_limit_per_minute,omitempty"`
	// MaxRateLimitPerMinute of keys, reported only (admin's
	// Options.MaxRateLimitPerMinute): zero leaves it out of /schema.
	MaxRateLimitPerMinute int `json:"max_rate_limit_per_minute,omitempty"`
	// AuditLogSize is the per-key audit log length, reported only (the
	// audit log's Cap, default audit.DefaultCap): zero leaves it out of
	// /schema.
	AuditLogSize int `json:"audit_log_size,omitempty"`
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.DefaultLimit, DefaultLimit)
	def(&l.MaxLimit, DefaultMaxLimit)
	def(&l.MaxOffset, DefaultMaxOffset)
	for _, v := range []*int{&l.DefaultRateLimitPerMinute, &l.MaxRateLimitPerMinute, &l.AuditLogSize} {
		*v = max(*v, 0) // reported only: zero (or less) is not reported
	}
	return l
}

// Route is an extra operation the registry's router serves next to the
// resources (for example GET /v1/whoami), with the same JSON 404 and 405
// answers.
type Route struct {
	// Method, e.g. "GET". Required.
	Method string
	// Path is a ServeMux path pattern under the prefix, e.g. "/v1/whoami"
	// or "/v1/webhooks/{id}".
	Path string
	// Scope, when set, is required of the caller (403 Missing scope).
	Scope scope.Scope
	// Summary describes the operation (for generated documentation).
	Summary string
	// Handler serves the operation.
	Handler http.Handler
	// Doc documents the operation for generated API descriptions
	// (package resource/openapi); nil leaves it undocumented, which the
	// generator refuses.
	Doc *RouteDoc
}

// Change describes a create or update to [Options.OnWrite].
type Change struct {
	// Resource is the resource name ("leads").
	Resource string
	// Singular is its singular name ("lead"), for event names.
	Singular string
	// Op is "created" or "updated".
	Op string
	// ID is the record's id.
	ID string
	// OrganizationID is the caller's organization.
	OrganizationID string
	// Record is the record as the API returns it.
	Record map[string]any
}

// Ops of [Change].
const (
	OpCreated = "created"
	OpUpdated = "updated"
)

// Options configures [New]. The zero value of every optional field means the
// default named in its comment.
type Options struct {
	// DB holds the resources' tables. Required.
	DB *sql.DB
	// Dialect of DB; zero means detected from its driver
	// ([tenancy.DialectOf]).
	Dialect tenancy.Dialect
	// Prefix of every route: default "/v1".
	Prefix string
	// Version reported by /schema: default "v1". When a
	// gatehouse.Versioner serves the request, /schema reports the version
	// it put in the context instead; give both the same current version.
	Version string
	// Resources served. Names must be unique.
	Resources []Resource
	// Routes are extra operations served by the same router.
	Routes []Route
	// OnWrite, when set, is called inside the transaction of every create
	// and update, after the write; an error rolls the write back (and the
	// request fails with that error, written by gatehouse.WriteError).
	// Functions it registers with [AfterCommit] run after the commit.
	OnWrite func(ctx context.Context, tx *sql.Tx, c Change) error
	// Middleware wraps every operation (resources, /schema and Routes)
	// inside the router, after its scope check, first element outermost.
	Middleware []func(http.Handler) http.Handler
	// Limits of list requests and the figures /schema reports.
	Limits Limits
	// Keyring signs and verifies list cursors (see the package
	// documentation). Every pod serving the API must share it, so that a
	// cursor issued by one verifies on the others; the first secret signs,
	// the others still verify, so secrets rotate without breaking cursors in
	// flight. Nil disables cursors: lists still report has_more, but
	// next_cursor is always null, no Link header is sent and any non-empty
	// cursor= is 400 "Invalid cursor" (no ephemeral secret is made up, as
	// cursors signed by one pod would then fail on the others).
	Keyring *gatehouse.Keyring
	// Protected fields are refused in create and update bodies; a declared
	// field of that name is read-only. Nil means [DefaultProtected]; id,
	// organization_id, created_at and updated_at are always protected.
	// Add the fields your backend owns (tokens, numbers it assigns, …).
	Protected []string
	// OrgIDType is the type of the organization ids (tenancy.OrgIDType:
	// uuid, text or integer), as given to the admin API; empty means
	// tenancy.OrgIDUUID. [Registry.Check] holds the organization columns
	// to it (an integer column needs tenancy.OrgIDInteger, a uuid column
	// neither text nor integer ids).
	OrgIDType tenancy.OrgIDType
	// MaxBodyBytes bounds request bodies: default 1 MiB.
	MaxBodyBytes int64
	// PublicURL, when set, is the absolute URL the routes are reached at
	// without their Prefix ("https://api.example.com", or
	// "https://example.com/developer" when the host mounts the registry
	// under /developer with http.StripPrefix). It starts the Location of a
	// create and the Link of a list, which are otherwise relative paths
	// ("/v1/leads/…"). No trailing slash.
	PublicURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Registry serves the declared resources: list, get, create and update for
// each, GET /schema, the extra routes, JSON 404s and 405s. Create it with
// [New]; it is safe for concurrent use.
type Registry struct {
	db        *sql.DB
	dialect   tenancy.Dialect
	prefix    string
	version   string
	limits    Limits
	protected []string
	orgIDType tenancy.OrgIDType
	maxBody   int64
	logger    *slog.Logger
	now       func() time.Time
	onWrite   func(ctx context.Context, tx *sql.Tx, c Change) error
	keyring   *gatehouse.Keyring
	publicURL string
	specs     []*spec
	routes    []Route
	scopes    []scope.Scope
	schema    []byte
	mux       *http.ServeMux
	wrap      []func(http.Handler) http.Handler
}

// New validates opts and returns the registry. Every configuration mistake
// (names, reserved names, unknown filter, search or reference fields,
// duplicates, bad routes) is an error; New never panics.
func New(opts Options) (*Registry, error) {
	if opts.DB == nil {
		return nil, errors.New("resource: Options.DB is required")
	}
	rg := &Registry{
		db:        opts.DB,
		dialect:   opts.Dialect,
		prefix:    opts.Prefix,
		version:   opts.Version,
		limits:    opts.Limits.withDefaults(),
		maxBody:   opts.MaxBodyBytes,
		orgIDType: opts.OrgIDType,
		logger:    opts.Logger,
		now:       opts.Now,
		onWrite:   opts.OnWrite,
		keyring:   opts.Keyring,
		publicURL: opts.PublicURL,
		wrap:      slices.Clone(opts.Middleware),
	}
	if rg.dialect == 0 {
		d, err := tenancy.DialectOf(opts.DB)
		if err != nil {
			return nil, fmt.Errorf("resource: Options.Dialect: %w", err)
		}
		rg.dialect = d
	}
	if rg.dialect != tenancy.SQLite && rg.dialect != tenancy.Postgres {
		return nil, fmt.Errorf("resource: unknown dialect %d", int(rg.dialect))
	}
	if rg.prefix == "" {
		rg.prefix = DefaultPrefix
	}
	if !validPrefix(rg.prefix) {
		return nil, fmt.Errorf("resource: invalid prefix %q: want a clean path like /v1, without a trailing slash", rg.prefix)
	}
	if rg.version == "" {
		rg.version = DefaultVersion
	}
	if u, err := url.Parse(rg.publicURL); rg.publicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(rg.publicURL, "/")) {
		return nil, fmt.Errorf("resource: Options.PublicURL %q must be an http(s) URL without query, fragment or trailing slash", rg.publicURL)
	}
	if l := rg.limits; l.DefaultLimit > l.MaxLimit {
		return nil, fmt.Errorf("resource: Limits.DefaultLimit %d is above MaxLimit %d", l.DefaultLimit, l.MaxLimit)
	}
	if err := rg.orgIDType.Check(); err != nil {
		return nil, fmt.Errorf("resource: Options.OrgIDType: %w", err)
	}
	if rg.maxBody <= 0 {
		rg.maxBody = gatehouse.DefaultMaxBodyBytes
	}
	if rg.logger == nil {
		rg.logger = slog.Default()
	}
	if rg.now == nil {
		rg.now = time.Now
	}
	for i, mw := range rg.wrap {
		if mw == nil {
			return nil, fmt.Errorf("resource: Options.Middleware[%d] is nil", i)
		}
	}
	protected := opts.Protected
	if protected == nil {
		protected = DefaultProtected()
	}
	rg.protected = slices.Clone(protected)
	for _, name := range []string{fieldID, fieldOrg, fieldCreatedAt, fieldUpdatedAt} {
		if !slices.Contains(rg.protected, name) {
			rg.protected = append(rg.protected, name)
		}
	}
	protSet := make(map[string]bool, len(rg.protected))
	for _, p := range rg.protected {
		protSet[p] = true
	}

	if len(opts.Resources) == 0 && len(opts.Routes) == 0 {
		return nil, errors.New("resource: no Resources and no Routes to serve")
	}
	norm := make([]Resource, 0, len(opts.Resources))
	targets := refTargets(opts.Resources)
	names := map[string]bool{}
	for _, res := range opts.Resources {
		r, err := normalize(res.clone(), protSet, rg.dialect, targets)
		if err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, fmt.Errorf("resource: duplicate resource name %q", r.Name)
		}
		names[r.Name] = true
		norm = append(norm, r)
	}
	scopes := map[scope.Scope]bool{}
	for _, r := range norm {
		s := compile(r, rg.dialect, rg.prefix, targets)
		rg.specs = append(rg.specs, s)
		scopes[s.read], scopes[s.create], scopes[s.update] = true, true, true
	}
	if err := rg.buildMux(opts.Routes, scopes); err != nil {
		return nil, err
	}
	for sc := range scopes {
		rg.scopes = append(rg.scopes, sc)
	}
	slices.Sort(rg.scopes)
	schema, err := rg.buildSchema()
	if err != nil {
		return nil, err
	}
	rg.schema = schema
	return rg, nil
}

func validPrefix(p string) bool {
	if len(p) < 2 || p[0] != '/' || strings.HasSuffix(p, "/") || path.Clean(p) != p {
		return false
	}
	return !strings.ContainsAny(p, "{}* \t\r\n?#%")
}

var validMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// buildMux registers every route on a ServeMux. Each path gets a
// method-less pattern too, answering the JSON 405 with Allow, and "/" answers
// the JSON 404 "Unsupported resource", so the mux never writes plain text.
func (rg *Registry) buildMux(routes []Route, scopes map[scope.Scope]bool) (err error) {
	mux := http.NewServeMux()
	// ServeMux panics on conflicting patterns; turn that into an error.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("resource: routes: %v", p)
		}
	}()
	reserved := map[string]bool{rg.prefix + "/schema": true}
	for _, s := range rg.specs {
		reserved[s.path] = true
		rg.op(mux, "GET "+s.path, scopeCheck(s.read), rg.list(s))
		rg.op(mux, "POST "+s.path, scopeCheck(s.create), rg.create(s))
		rg.plain(mux, s.path, methodNotAllowed(methodsCollection))
		item := s.path + "/{id}"
		rg.op(mux, "GET "+item, scopeCheck(s.read), rg.get(s))
		rg.op(mux, "PATCH "+item, scopeCheck(s.update), rg.update(s))
		rg.plain(mux, item, methodNotAllowed(methodsRecord))
	}
	rg.op(mux, "GET "+rg.prefix+"/schema", anyCaller, http.HandlerFunc(rg.serveSchema))
	rg.plain(mux, rg.prefix+"/schema", methodNotAllowed("GET, HEAD"))

	allow := map[string][]string{}
	var paths []string
	seen := map[string]bool{}
	for i, rt := range routes {
		if !slices.Contains(validMethods, rt.Method) {
			return fmt.Errorf("resource: Routes[%d]: invalid method %q", i, rt.Method)
		}
		if rt.Handler == nil {
			return fmt.Errorf("resource: Routes[%d] %s %s: nil Handler", i, rt.Method, rt.Path)
		}
		if !strings.HasPrefix(rt.Path, rg.prefix+"/") || len(rt.Path) == len(rg.prefix)+1 || path.Clean(rt.Path) != rt.Path {
			return fmt.Errorf("resource: Routes[%d]: path %q is not a clean path under %s/", i, rt.Path, rg.prefix)
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(rt.Path, rg.prefix+"/"), "/")
		if strings.ContainsAny(first, "{}") {
			return fmt.Errorf("resource: Routes[%d]: path %q: the first segment under %s must be literal", i, rt.Path, rg.prefix)
		}
		if reserved[rg.prefix+"/"+first] {
			return fmt.Errorf("resource: Routes[%d]: path %q is served by the registry", i, rt.Path)
		}
		if rt.Scope != "" {
			if _, err := scope.Parse(string(rt.Scope)); err != nil {
				return fmt.Errorf("resource: Routes[%d]: %w", i, err)
			}
			scopes[rt.Scope] = true
		}
		key := rt.Method + " " + rt.Path
		if seen[key] {
			return fmt.Errorf("resource: Routes[%d]: duplicate route %s", i, key)
		}
		seen[key] = true
		if _, ok := allow[rt.Path]; !ok {
			paths = append(paths, rt.Path)
		}
		allow[rt.Path] = append(allow[rt.Path], rt.Method)
		var check func(context.Context) error
		if rt.Scope != "" {
			check = scopeCheck(rt.Scope)
		}
		rg.op(mux, key, check, rt.Handler)
		rg.routes = append(rg.routes, rt)
	}
	for _, p := range paths {
		methods := allow[p]
		if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
			methods = append(methods, http.MethodHead)
		}
		slices.Sort(methods)
		rg.plain(mux, p, methodNotAllowed(strings.Join(methods, ", ")))
	}
	mux.Handle("/", http.HandlerFunc(rg.unsupported))
	rg.mux = mux
	return nil
}

// op registers an operation: the route pattern (without the method) is
// recorded with gatehouse.SetRoute for the audit log, then check (the scope
// check; nil for none) runs, then Options.Middleware around h.
func (rg *Registry) op(mux *http.ServeMux, pattern string, check func(context.Context) error, h http.Handler) {
	for i := len(rg.wrap) - 1; i >= 0; i-- {
		h = rg.wrap[i](h)
	}
	rg.plain(mux, pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			if err := check(r.Context()); err != nil {
				rg.fail(w, r, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
}

// plain registers h for pattern, recording the route pattern first.
func (rg *Registry) plain(mux *http.ServeMux, pattern string, h http.Handler) {
	_, route, found := strings.Cut(pattern, " ")
	if !found {
		route = pattern
	}
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.SetRoute(r.Context(), route)
		h.ServeHTTP(w, r)
	}))
}

func scopeCheck(sc scope.Scope) func(context.Context) error {
	return func(ctx context.Context) error { return scope.Check(ctx, sc) }
}

// anyCaller admits a request with scopes in its context, whichever they are
// (an authenticated caller); /schema uses it.
func anyCaller(ctx context.Context) error {
	if _, ok := scope.FromContext(ctx); !ok {
		return errNoCaller
	}
	return nil
}

func methodNotAllowed(allow string) http.Handler {
	e := gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).WithHeader("Allow", allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteError(w, r, nil, e)
	})
}

var errUnsupported = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgUnsupportedResource)

// unsupported answers 404 "Unsupported resource" and records the route
// "<prefix>/" (e.g. "/v1/"), so the audit log has a route for it.
func (rg *Registry) unsupported(w http.ResponseWriter, r *http.Request) {
	gatehouse.SetRoute(r.Context(), rg.prefix+"/")
	gatehouse.WriteError(w, r, nil, errUnsupported)
}

// ServeHTTP routes the request. Paths that are not clean (with "//", "." or
// ".." segments) are answered 404 "Unsupported resource" rather than
// redirected.
func (rg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if p == "" || p[0] != '/' || !cleanPath(p) {
		rg.unsupported(w, r)
		return
	}
	rg.mux.ServeHTTP(w, r)
}

// cleanPath reports whether ServeMux would serve p without redirecting.
func cleanPath(p string) bool {
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np == p
}

// Scopes returns every scope the registry's routes require, sorted: the
// read, create and update scopes of each resource and the scopes of the
// extra routes. Key scopes can be validated against it.
func (rg *Registry) Scopes() []scope.Scope { return slices.Clone(rg.scopes) }

// Resources returns copies of the served resources with every default
// applied (Singular, Table, columns, field types and lengths), in
// declaration order, for documentation generators.
func (rg *Registry) Resources() []Resource {
	out := make([]Resource, len(rg.specs))
	for i, s := range rg.specs {
		out[i] = s.res.clone()
	}
	return out
}

// Routes returns copies of the extra routes.
func (rg *Registry) Routes() []Route { return slices.Clone(rg.routes) }

// Prefix returns the path prefix of every route ("/v1").
func (rg *Registry) Prefix() string { return rg.prefix }

// Version returns the API version /schema reports.
func (rg *Registry) Version() string { return rg.version }

// Limits returns the limits with defaults applied.
func (rg *Registry) Limits() Limits { return rg.limits }

// CursorsEnabled reports whether list cursors are on (Options.Keyring is
// set).
func (rg *Registry) CursorsEnabled() bool { return rg.keyring != nil }

// ListParameters returns the parameters every list request takes besides
// the resource's filters, as /schema lists them: limit, offset, cursor
// (when [Registry.CursorsEnabled]), created_after, created_before and q.
func (rg *Registry) ListParameters() []string {
	if rg.keyring == nil {
		return []string{"limit", paramOffset, "created_after", "created_before", "q"}
	}
	return []string{"limit", paramOffset, paramCursor, "created_after", "created_before", "q"}
}

// Protected returns the protected field names.
func (rg *Registry) Protected() []string { return slices.Clone(rg.protected) }

// Migrate brings the library's own table, gatehouse_sequences, to the last
// of [tenancy.SequenceMigrations] with [tenancy.MigrateVersions] (under an
// advisory lock on PostgreSQL). It never touches the resources' tables:
// see [Registry.IndexDDL].
func (rg *Registry) Migrate(ctx context.Context) error {
	if err := tenancy.MigrateVersions(ctx, rg.db, rg.dialect, sequencesMigration, tenancy.SequenceMigrations()); err != nil {
		return fmt.Errorf("resource: migrate: %w", err)
	}
	return nil
}

// IndexDDL returns, for the service's own migrations, the idempotent
// CREATE INDEX statements the list requests need: per resource one on
// (organization, created DESC, id DESC), the list order (on (organization,
// id DESC) without a creation time), and one on (organization, filter,
// created DESC, id DESC) per indexed filter ([Resource.IndexedFilters]), so
// that a filtered list reads only its page, already in order. The registry
// never alters the resources' tables; [Registry.Check] warns about missing
// ones.
func (rg *Registry) IndexDDL() []string {
	var out []string
	for _, s := range rg.specs {
		for _, ix := range s.recommended() {
			out = append(out, ix.ddl)
		}
	}
	return out
}

// index is an index the registry recommends.
type index struct {
	columns []string // plain column names, in order
	purpose string
	ddl     string
}

// recommended returns the indexes the lists of s need.
func (s *spec) recommended() []index {
	r := s.res
	base := strings.ReplaceAll(r.Table, ".", "_")
	mk := func(name string, lead []string, purpose string) index {
		cols := append(slices.Clone(lead), r.IDColumn)
		terms := make([]string, 0, len(cols))
		for _, c := range lead {
			terms = append(terms, tenancy.QuoteIdent(c))
		}
		if s.created != nil {
			cols = slices.Insert(cols, len(lead), s.created.column)
			terms = append(terms, tenancy.QuoteIdent(s.created.column)+" DESC")
		}
		terms = append(terms, tenancy.QuoteIdent(r.IDColumn)+" DESC")
		return index{
			columns: cols,
			purpose: purpose,
			ddl: fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)",
				tenancy.QuoteIdent(name), quoteTable(r.Table), strings.Join(terms, ", ")),
		}
	}
	name := base + defaultIndexSuffix
	if len(name) > maxIdentifierLength {
		name = name[:maxIdentifierLength]
	}
	out := []index{mk(name, []string{r.OrgColumn}, "the list order")}
	for _, fname := range r.IndexedFilters {
		col := s.byName[fname].column
		out = append(out, mk(indexName(base+"_"+col+filterIndexSuffix), []string{r.OrgColumn, col}, "the indexed filter "+fname))
	}
	return out
}

// indexName returns name, or when it is longer than an identifier may be,
// its start and a hash of the whole, so that long names stay distinct.
func indexName(name string) string {
	if len(name) <= maxIdentifierLength {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("%s_%08x", name[:maxIdentifierLength-9], h.Sum32())
}
