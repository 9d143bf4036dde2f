package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Defaults of [Options].
const (
	DefaultPrefix             = "/admin"
	DefaultRateLimitPerMinute = 60
	MaxRateLimitPerMinute     = 300
	MaxNameLength             = 80
)

// Options configures [New]. The zero value of every optional field means the
// default in its comment.
type Options struct {
	// Keys stores API keys. Required.
	Keys auth.KeyStore
	// Orgs stores organizations. Required.
	Orgs auth.OrgStore
	// Audit reads the per-key audit log. Nil: the audit endpoint answers
	// an empty list. When it also implements [audit.RefusedReader] (every
	// audit.Log does), the endpoint adds "rate_limited": {"count", "last_at"},
	// the key's requests refused by the rate limit, which the log leaves out.
	Audit audit.Reader
	// Authorize decides whether a request may use the admin API. A non-nil
	// error is written with [gatehouse.WriteError] (use a *gatehouse.Error
	// with status 401 or 403). Required.
	Authorize func(r *http.Request) error
	// Principal names the admin behind an authorized request, for the
	// actions trail. Nil means "admin".
	Principal func(r *http.Request) string
	// Events is the actions trail: organization created, API switched on
	// or off, key created, changed or revoked — who, what, when — readable
	// at GET {prefix}/orgs/{org_id}/events. Nil: nothing is recorded and
	// the endpoint answers an empty list. Recording failures are logged and
	// never fail the action.
	Events audit.Events
	// KeyPrefix is the prefix of issued keys (e.g. "joby"). Required.
	KeyPrefix string
	// Env of issued keys, "live" (default) or "test".
	Env string
	// Scopes are the scopes a key may be given (e.g. a resource
	// registry's Scopes()). Required, at least one.
	Scopes []scope.Scope
	// DefaultRateLimitPerMinute of a new key without one: default 60.
	DefaultRateLimitPerMinute int
	// MaxRateLimitPerMinute caps requested limits: default 300.
	MaxRateLimitPerMinute int
	// OrgIDType is the type of organization ids (the type of the
	// organization column of the service's tables): empty means
	// tenancy.OrgIDUUID. Every {prefix}/orgs/{org_id}… route answers an id
	// not of this type 400 "Invalid organization id" (before any store
	// read), and POST {prefix}/orgs accepts an "id" of this type.
	OrgIDType tenancy.OrgIDType
	// NewOrgID makes the id of an organization created without one. Nil
	// means a new UUID for the uuid and text types; integer organization
	// ids are the service's own (its tenants table's), so without NewOrgID
	// POST {prefix}/orgs requires "id" when OrgIDType is
	// tenancy.OrgIDInteger. An id it returns must be of OrgIDType.
	NewOrgID func(ctx context.Context) (string, error)
	// Prefix is the path the handler is mounted at: default "/admin".
	Prefix string
	// MaxBodyBytes bounds request bodies: default 1 MiB.
	MaxBodyBytes int64
	// OnKeyChange, when set, is called after a key was changed or revoked
	// or an organization's API switch was flipped (orgID and keyID; keyID
	// is "" for organization changes), so caches can be invalidated.
	OnKeyChange func(ctx context.Context, orgID, keyID string)
	// OnKeyCreated, when set, is called after a key was created (by the
	// API, [Handler.IssueKey] or a rotation's new key) with the stored key, so that every pod's
	// key cache learns its public id (keycache.Change{OrgID, KeyID,
	// PublicID} through the feed's Publish). A pod whose feed is healthy
	// answers an id it never heard of 401 without reading the store, so a
	// key whose creation is not announced works only after the next resync.
	// It runs with a context that survives the client hanging up.
	OnKeyCreated func(ctx context.Context, k auth.Key)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Handler serves the admin API. Create it with [New].
type Handler struct {
	opts  Options
	known atomic.Pointer[scope.Set]
	mux   *http.ServeMux
}

// New validates opts and returns the admin handler.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Keys == nil:
		return nil, errors.New("admin: Options.Keys is required")
	case opts.Orgs == nil:
		return nil, errors.New("admin: Options.Orgs is required")
	case opts.Authorize == nil:
		return nil, errors.New("admin: Options.Authorize is required")
	case len(opts.Scopes) == 0:
		return nil, errors.New("admin: Options.Scopes is required")
	}
	if err := opts.OrgIDType.Check(); err != nil {
		return nil, fmt.Errorf("admin: Options.OrgIDType: %w", err)
	}
	if opts.OrgIDType == "" {
		opts.OrgIDType = tenancy.OrgIDUUID
	}
	if err := auth.ValidatePrefix(opts.KeyPrefix); err != nil {
		return nil, fmt.Errorf("admin: Options.KeyPrefix: %w", err)
	}
	if opts.Env == "" {
		opts.Env = "live"
	}
	if opts.Env != "live" && opts.Env != "test" {
		return nil, fmt.Errorf("admin: Options.Env must be live or test, not %q", opts.Env)
	}
	if opts.DefaultRateLimitPerMinute == 0 {
		opts.DefaultRateLimitPerMinute = DefaultRateLimitPerMinute
	}
	if opts.MaxRateLimitPerMinute == 0 {
		opts.MaxRateLimitPerMinute = MaxRateLimitPerMinute
	}
	if opts.DefaultRateLimitPerMinute < 1 || opts.MaxRateLimitPerMinute < opts.DefaultRateLimitPerMinute {
		return nil, errors.New("admin: rate limits must satisfy 1 <= default <= max")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("admin: Options.Prefix %q must start and not end with /", opts.Prefix)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = gatehouse.DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, s := range opts.Scopes {
		if _, err := scope.Parse(string(s)); err != nil {
			return nil, fmt.Errorf("admin: Options.Scopes: %w", err)
		}
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	known := scope.NewSet(opts.Scopes...)
	h.known.Store(&known)
	h.routes()
	return h, nil
}

// AddScopes adds scopes that keys may be given from now on, for example
// those of the host's own handlers protected with gatehouse.dev/stack's
// Protect. It is safe to call while the handler serves requests.
func (h *Handler) AddScopes(scopes ...scope.Scope) error {
	for _, s := range scopes {
		if _, err := scope.Parse(string(s)); err != nil {
			return fmt.Errorf("admin: AddScopes: %w", err)
		}
	}
	for {
		old := h.known.Load()
		next := scope.NewSet(append(old.Scopes(), scopes...)...)
		if h.known.CompareAndSwap(old, &next) {
			return nil
		}
	}
}

type route struct {
	method  string
	handler http.HandlerFunc
}

func (h *Handler) routes() {
	p := h.opts.Prefix
	table := []struct {
		path   string
		routes []route
	}{
		{"/orgs", []route{{http.MethodGet, h.listOrgs}, {http.MethodPost, h.createOrg}}},
		{"/orgs/{org_id}", []route{{http.MethodGet, h.getOrg}, {http.MethodPatch, h.patchOrg}}},
		{"/orgs/{org_id}/api-keys", []route{{http.MethodGet, h.listKeys}, {http.MethodPost, h.createKey}}},
		{"/orgs/{org_id}/api-keys/{key_id}", []route{{http.MethodGet, h.getKey}, {http.MethodPatch, h.patchKey}}},
		{"/orgs/{org_id}/api-keys/{key_id}/revoke", []route{{http.MethodPost, h.revokeKey}}},
		{"/orgs/{org_id}/api-keys/{key_id}/rotate", []route{{http.MethodPost, h.rotateKey}}},
		{"/orgs/{org_id}/api-keys/{key_id}/audit", []route{{http.MethodGet, h.keyAudit}}},
		{"/orgs/{org_id}/events", []route{{http.MethodGet, h.orgEvents}}},
	}
	for _, e := range table {
		allow := make([]string, 0, len(e.routes)+1)
		for _, rt := range e.routes {
			h.mux.HandleFunc(rt.method+" "+p+e.path, rt.handler)
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		slices.Sort(allow)
		notAllowed := gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).
			WithHeader("Allow", strings.Join(allow, ", "))
		h.mux.HandleFunc(p+e.path, func(w http.ResponseWriter, r *http.Request) {
			h.fail(w, r, notAllowed)
		})
	}
	notFound := gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) { h.fail(w, r, notFound) })
	h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { h.fail(w, r, notFound) })
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.fail(w, r, notFound) })
}

// ServeHTTP authorizes the request and routes it. A path that is not
// clean ([gatehouse.CleanPath]: "//", "." or ".." segments, an encoded '/')
// or matches no route is 404 "Not found" in the JSON error shape, never a
// redirect or plain text.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.opts.Authorize(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if !gatehouse.CleanPath(r.URL.EscapedPath()) {
		h.fail(w, r, gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound))
		return
	}
	gatehouse.RecordRoute(h.mux).ServeHTTP(w, r)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	gatehouse.WriteError(w, r, h.opts.Logger, err)
}

// record appends an entry to the actions trail, by the request's admin.
func (h *Handler) record(r *http.Request, orgID, action, target string, details map[string]string) {
	h.recordAs(r.Context(), h.actor(r), orgID, action, target, details)
}

// actor names the admin behind r: Options.Principal, or "admin".
func (h *Handler) actor(r *http.Request) string {
	if h.opts.Principal != nil {
		if p := h.opts.Principal(r); p != "" {
			return p
		}
	}
	return "admin"
}

// recordAs appends an entry to the actions trail; an empty actor is
// "admin".
func (h *Handler) recordAs(ctx context.Context, actor, orgID, action, target string, details map[string]string) {
	if h.opts.Events == nil {
		return
	}
	if actor == "" {
		actor = "admin"
	}
	err := h.opts.Events.Append(ctx, audit.Event{
		Time: h.opts.Now(), OrganizationID: orgID, Actor: actor, Action: action, Target: target, Details: details,
	})
	if err != nil {
		h.opts.Logger.ErrorContext(ctx, "admin: recording an admin action failed",
			"request_id", gatehouse.RequestIDFromContext(ctx), "action", action, "err", err)
	}
}

func (h *Handler) changed(ctx context.Context, orgID, keyID string) {
	if h.opts.OnKeyChange != nil {
		h.opts.OnKeyChange(ctx, orgID, keyID)
	}
}
