package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Throttle limits failed authentication attempts, typically per client IP,
// so that nobody can guess keys at full speed. The middleware calls Allow
// before it looks at the request's key; a non-nil error (usually a 429
// *gatehouse.Error with Retry-After) is written with [gatehouse.WriteError]
// and ends the request. It calls Failed after every 401 it writes. A
// Throttle whose backend is down should fail open: any error that is not a
// *gatehouse.Error becomes a 500.
type Throttle interface {
	Allow(r *http.Request) error
	Failed(r *http.Request)
}

// Options configures [New].
type Options struct {
	// Store looks keys up by public id. Required.
	Store Store
	// Orgs tells whether an organization's Developer API module is on.
	// Required.
	Orgs OrgChecker
	// Prefix, when set, is the only key prefix accepted (for example
	// "joby"); keys with another prefix are "Invalid API key". Empty
	// accepts any valid prefix.
	Prefix string
	// Header is an alternative request header carrying the bare key (for
	// example "X-Joby-API-Key"), accepted besides "Authorization: Bearer".
	// Empty means Authorization only.
	Header string
	// Now is the clock for expiry checks. Nil means time.Now.
	Now func() time.Time
	// Logger receives store errors and debug details of refusals (never the
	// key). Nil means slog.Default().
	Logger *slog.Logger
	// Usage, when set, records each authenticated key's use for the
	// batched last_used_at update.
	Usage *Usage
	// Throttle, when set, limits failed authentication attempts.
	Throttle Throttle
}

// Middleware authenticates requests by API key. See [New].
type Middleware struct {
	store    Store
	orgs     OrgChecker
	prefix   string
	header   string // canonical form, or ""
	now      func() time.Time
	logger   *slog.Logger
	usage    *Usage
	throttle Throttle

	errMissing, errInvalid, errExpired, errRevoked, errDisabled *gatehouse.Error
}

// New returns the authentication middleware. It is an error if Store or
// Orgs is nil, Prefix is not a valid key prefix, or Header is not a valid
// header name or is Authorization itself.
func New(opts Options) (*Middleware, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: Options.Store is required")
	}
	if opts.Orgs == nil {
		return nil, errors.New("auth: Options.Orgs is required")
	}
	if opts.Prefix != "" {
		if err := ValidatePrefix(opts.Prefix); err != nil {
			return nil, err
		}
	}
	header := ""
	if opts.Header != "" {
		if !validHeaderName(opts.Header) {
			return nil, fmt.Errorf("auth: Options.Header %q is not a valid header name", opts.Header)
		}
		header = textproto.CanonicalMIMEHeaderKey(opts.Header)
		if header == "Authorization" {
			return nil, errors.New("auth: Options.Header must not be Authorization")
		}
	}
	m := &Middleware{
		store:    opts.Store,
		orgs:     opts.Orgs,
		prefix:   opts.Prefix,
		header:   header,
		now:      opts.Now,
		logger:   opts.Logger,
		usage:    opts.Usage,
		throttle: opts.Throttle,
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	unauthorized := func(msg string) *gatehouse.Error {
		return gatehouse.NewError(http.StatusUnauthorized, msg).WithHeader("WWW-Authenticate", "Bearer")
	}
	m.errMissing = unauthorized(gatehouse.MsgMissingKey)
	m.errInvalid = unauthorized(gatehouse.MsgInvalidKey)
	m.errExpired = unauthorized(gatehouse.MsgKeyExpired)
	m.errRevoked = unauthorized(gatehouse.MsgKeyRevoked)
	m.errDisabled = gatehouse.NewError(http.StatusForbidden, gatehouse.MsgModuleDisabled)
	return m, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// Wrap returns next behind authentication. A request passes when it carries
// a well-formed, known, unexpired, unrevoked key whose organization has the
// Developer API module on; next then finds the key with [FromContext], the
// organization with tenancy.FromContext and the key's scopes with
// scope.FromContext. Otherwise the request ends with:
//
//   - 401 "Missing API key": neither Authorization nor the alternative
//     header is present;
//   - 401 "Invalid API key": anything else unusable (an empty or non-Bearer
//     Authorization, a malformed key, a bad checksum, another prefix, an
//     unknown public id, a wrong secret, two headers with different keys);
//   - 401 "API key expired" / "API key revoked": only once the secret
//     matched;
//   - 403 "Developer API is not enabled for this organization";
//   - 500 when the store fails (the cause is logged, never written).
//
// Every 401 carries "WWW-Authenticate: Bearer". The middleware records the
// outcome (authenticated, unauthenticated or module_disabled) and, once
// authenticated, the key id and organization with [gatehouse.SetOutcome]
// and [gatehouse.SetCaller], for metrics taken outside it.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.throttle != nil {
			if err := m.throttle.Allow(r); err != nil {
				gatehouse.WriteError(w, r, m.logger, err)
				return
			}
		}
		k, err := m.authenticate(r)
		if err != nil {
			switch gatehouse.StatusOf(err) {
			case http.StatusUnauthorized:
				gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeUnauthenticated)
			case http.StatusForbidden:
				gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeModuleDisabled)
			}
			gatehouse.WriteError(w, r, m.logger, err)
			if m.throttle != nil && gatehouse.StatusOf(err) == http.StatusUnauthorized {
				m.throttle.Failed(r)
			}
			return
		}
		if m.usage != nil {
			m.usage.Mark(k.ID)
		}
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeAuthenticated)
		gatehouse.SetCaller(r.Context(), k.ID, k.OrganizationID)
		// One pointer in the request's state carries the key, its
		// organization (tenancy.FromContext) and its scopes
		// (scope.FromContext): no new context or request. Without the
		// RequestID middleware there is no such state: context values.
		kp := &k
		if gatehouse.SetPrincipal(r.Context(), kp) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := context.WithValue(r.Context(), keyCtx{}, kp)
		ctx = tenancy.NewContext(ctx, k.OrganizationID)
		ctx = scope.NewContext(ctx, k.Scopes)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticate returns the request's key, or the error to write.
func (m *Middleware) authenticate(r *http.Request) (Key, error) {
	raw, err := m.credential(r.Header)
	if err != nil {
		return Key{}, err
	}
	p, err := Parse(raw)
	if err != nil {
		return Key{}, m.errInvalid.Wrap(err)
	}
	if m.prefix != "" && p.Prefix != m.prefix {
		return Key{}, m.errInvalid.Wrap(errors.New("auth: key prefix not accepted"))
	}
	// Hash before the lookup so that known and unknown public ids cost the
	// same work.
	d := DigestOf(raw)
	ctx := r.Context()
	k, err := m.store.LookupKey(ctx, p.PublicID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Key{}, m.errInvalid.Wrap(fmt.Errorf("auth: unknown public id %s", p.PublicID))
		}
		return Key{}, fmt.Errorf("auth: look up key %s: %w", p.PublicID, err)
	}
	if !d.Matches(k.Hash) {
		return Key{}, m.errInvalid.Wrap(fmt.Errorf("auth: wrong secret for key %s", k.ID))
	}
	if k.Revoked() {
		return Key{}, m.errRevoked
	}
	if k.Expired(m.now()) {
		return Key{}, m.errExpired
	}
	on, err := m.orgs.APIEnabled(ctx, k.OrganizationID)
	if err != nil {
		return Key{}, fmt.Errorf("auth: organization %s: API enabled: %w", k.OrganizationID, err)
	}
	if !on {
		return Key{}, m.errDisabled
	}
	return k, nil
}

// credential returns the key sent in the Authorization header
// ("Bearer <key>", scheme case-insensitive) and/or the alternative header.
// Both present must carry the same key.
func (m *Middleware) credential(h http.Header) (string, error) {
	authz, hasAuthz := h["Authorization"]
	var alt []string
	hasAlt := false
	if m.header != "" {
		alt, hasAlt = h[m.header]
	}
	if !hasAuthz && !hasAlt {
		return "", m.errMissing
	}
	var fromAuthz, fromAlt string
	if hasAuthz {
		if len(authz) != 1 {
			return "", m.errInvalid.Wrap(errors.New("auth: repeated Authorization header"))
		}
		tok, ok := parseBearer(authz[0])
		if !ok {
			return "", m.errInvalid.Wrap(errors.New("auth: Authorization is not a Bearer token"))
		}
		fromAuthz = tok
	}
	if hasAlt {
		if len(alt) != 1 {
			return "", m.errInvalid.Wrap(errors.New("auth: repeated " + m.header + " header"))
		}
		fromAlt = strings.Trim(alt[0], " \t")
		if fromAlt == "" {
			return "", m.errInvalid.Wrap(errors.New("auth: empty " + m.header + " header"))
		}
	}
	switch {
	case !hasAlt:
		return fromAuthz, nil
	case !hasAuthz:
		return fromAlt, nil
	case fromAuthz != fromAlt:
		return "", m.errInvalid.Wrap(errors.New("auth: Authorization and " + m.header + " carry different keys"))
	}
	return fromAuthz, nil
}

// parseBearer returns the token of an Authorization value "Bearer <token>":
// the scheme is case-insensitive, spaces and tabs around the token are
// ignored, and the token must be non-empty and contain no whitespace.
func parseBearer(v string) (string, bool) {
	v = strings.Trim(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(v[i:], " \t")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
