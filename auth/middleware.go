package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"time"

	"gatehouse.dev"
)

// Throttle limits, per client address, the store reads the middleware
// makes for keys it cannot vouch for, so that bad keys cannot make the store
// do unbounded work. It never refuses a key that verifies.
//
// With a store that implements [Hinter] (gatehouse.dev/auth/keycache), the
// middleware calls Allow only before a lookup whose public id the store does
// not know to exist ([KeyUnknown]): a non-nil error (usually a 429
// *gatehouse.Error with Retry-After) is written with [gatehouse.WriteError]
// instead of reading the store. Ids the store knows ([KeyPresent]) are
// looked up without asking, so a valid key is served whatever else came
// from its address; ids it knows to be absent ([KeyAbsent]) are refused
// without any I/O and without counting. Failed is called after each such
// unvouched lookup that did not authenticate (401, or a store error such as
// the client hanging up mid-read).
//
// With any other store every lookup is unvouched: the middleware reads the
// store first, serves a key that verifies, and for one that does not asks
// Allow (its error replaces the 401) and calls Failed.
//
// Failed must count the failure even when r's context is done (the client
// hung up): use context.WithoutCancel for its I/O. A Throttle whose backend
// is down should fail open: any error from Allow that is not a
// *gatehouse.Error becomes a 500.
type Throttle interface {
	Allow(r *http.Request) error
	Failed(r *http.Request)
}

// KeyHint is what a store knows about a public id without I/O; see
// [Hinter].
type KeyHint int

const (
	// KeyUnknown: the store cannot tell without reading; the read is
	// guarded by the [Throttle].
	KeyUnknown KeyHint = iota
	// KeyAbsent: no key has this public id; the middleware answers 401
	// "Invalid API key" without calling LookupKey.
	KeyAbsent
	// KeyPresent: a key with this public id exists (or probably exists:
	// a membership filter may err this way, rarely); LookupKey is called
	// without asking the Throttle.
	KeyPresent
)

// Hinter is implemented by stores that know, without I/O, which public ids
// exist: gatehouse.dev/auth/keycache's Cache, from a membership filter of
// every public id. KeyHint must be cheap and safe for concurrent use.
type Hinter interface {
	KeyHint(publicID string) KeyHint
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
	// Throttle, when set, limits per client address the store reads made
	// for keys that do not authenticate (see [Throttle]); it never refuses
	// a key that verifies.
	Throttle Throttle
	// DisabledMessage is the "error" of the 403 answered while the key's
	// organization has its API switched off: default
	// gatehouse.MsgModuleDisabled ("API access is not enabled for this
	// organization"). A service states its own product wording here.
	DisabledMessage string
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
	hinter   Hinter       // store as a Hinter, or nil
	keyOrg   KeyOrgLookup // store as a KeyOrgLookup when it is also orgs, or nil

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
	m.hinter, _ = opts.Store.(Hinter)
	if ko, ok := opts.Store.(KeyOrgLookup); ok && same(opts.Store, opts.Orgs) {
		m.keyOrg = ko
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
	disabled := opts.DisabledMessage
	if disabled == "" {
		disabled = gatehouse.MsgModuleDisabled
	}
	m.errDisabled = gatehouse.NewError(http.StatusForbidden, disabled)
	return m, nil
}

// same reports whether a and b are the same value (false, not a panic,
// for values of a type that cannot be compared).
func same(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && a == b
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
// Developer API module on; the key is then recorded as the request's
// gatehouse.Caller ([Key.Caller], gatehouse.SetCaller), where next and
// everything after it find it: gatehouse.CallerFromContext,
// tenancy.FromContext (the organization), scope.FromContext (the scopes),
// and the audit, rate-limit and idempotency middlewares. Otherwise the
// request ends with:
//
//   - 401 "Missing API key": neither Authorization nor the alternative
//     header is present;
//   - 401 "Invalid API key": anything else unusable (an empty or non-Bearer
//     Authorization, a malformed key, a bad checksum, another prefix, an
//     unknown public id, a wrong secret, two headers with different keys);
//   - 401 "API key expired" / "API key revoked": only once the secret
//     matched;
//   - 403 "API access is not enabled for this organization"
//     (Options.DisabledMessage);
//   - 429 "Rate limit exceeded" (from the [Throttle], with Retry-After)
//     when the client's address has used up its budget of store reads for
//     keys that did not authenticate, and this key would need another; a
//     key that verifies is never refused this way;
//   - 500 when the store fails (the cause is logged, never written).
//
// Every 401 carries "WWW-Authenticate: Bearer". The caller lives in the
// per-request state of gatehouse.RequestID; when the chain has none
// (RequestID missing or not outermost) the middleware creates it
// (gatehouse.WithRequestState), so there is exactly one place a caller is
// found. The middleware also records the outcome (authenticated,
// unauthenticated or module_disabled) with gatehouse.SetOutcome, for
// metrics taken outside it.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = gatehouse.WithRequestState(w, r)
		k, guarded, err := m.authenticate(r)
		if err != nil {
			m.refuse(w, r, guarded, err)
			return
		}
		if m.usage != nil {
			m.usage.Mark(k.ID)
		}
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeAuthenticated)
		if !gatehouse.SetCaller(r.Context(), k.Caller()) {
			// Unreachable after WithRequestState; never serve a request
			// whose caller nobody could find.
			gatehouse.WriteError(w, r, m.logger, errors.New("auth: no per-request state to record the caller in"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse writes the error of a request that did not authenticate. A failure
// after an unvouched store read (guarded) counts against the client's
// address; with a store that cannot vouch for ids (no [Hinter]), an address
// over its budget gets the throttle's 429 instead of the 401.
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, guarded bool, err error) {
	status := gatehouse.StatusOf(err)
	switch status {
	case http.StatusUnauthorized:
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeUnauthenticated)
	case http.StatusForbidden:
		gatehouse.SetOutcome(r.Context(), gatehouse.OutcomeModuleDisabled)
	}
	if guarded && status != http.StatusForbidden && status != http.StatusTooManyRequests {
		if m.hinter == nil && status == http.StatusUnauthorized {
			if terr := m.throttle.Allow(r); terr != nil {
				err = terr
			}
		}
		m.throttle.Failed(r)
	}
	gatehouse.WriteError(w, r, m.logger, err)
}

// authenticate returns the request's key, or the error to write. guarded
// reports that the store was read for a public id nobody vouched for (see
// [Throttle]): its failure counts against the client's address.
func (m *Middleware) authenticate(r *http.Request) (k Key, guarded bool, err error) {
	raw, err := m.credential(r.Header)
	if err != nil {
		return Key{}, false, err
	}
	p, err := Parse(raw)
	if err != nil {
		return Key{}, false, m.errInvalid.Wrap(err)
	}
	if m.prefix != "" && p.Prefix != m.prefix {
		return Key{}, false, m.errInvalid.Wrap(errors.New("auth: key prefix not accepted"))
	}
	hint := KeyUnknown
	if m.hinter != nil {
		hint = m.hinter.KeyHint(p.PublicID)
	}
	switch {
	case hint == KeyAbsent:
		return Key{}, false, m.errInvalid.Wrap(fmt.Errorf("auth: unknown public id %s (no lookup)", p.PublicID))
	case hint == KeyUnknown && m.throttle != nil:
		guarded = true
		if m.hinter != nil {
			if err := m.throttle.Allow(r); err != nil {
				return Key{}, true, err
			}
		}
	}
	k, err = m.verify(r.Context(), raw, p.PublicID)
	return k, guarded, err
}

// verify looks the key up and checks its secret, state and organization.
func (m *Middleware) verify(ctx context.Context, raw, publicID string) (Key, error) {
	// Hash before the lookup so that known and unknown public ids cost the
	// same work.
	d := DigestOf(raw)
	var (
		k            Key
		on, orgKnown bool
		err          error
	)
	if m.keyOrg != nil {
		k, on, orgKnown, err = m.keyOrg.LookupKeyOrg(ctx, publicID)
	} else {
		k, err = m.store.LookupKey(ctx, publicID)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Key{}, m.errInvalid.Wrap(fmt.Errorf("auth: unknown public id %s", publicID))
		}
		return Key{}, fmt.Errorf("auth: look up key %s: %w", publicID, err)
	}
	if !d.Matches(k.Hash) {
		return Key{}, m.errInvalid.Wrap(fmt.Errorf("auth: wrong secret for key %s", k.ID))
	}
	if k.Revoked() {
		return Key{}, m.errRevoked
	}
	if k.ExpiresAt != nil && k.Expired(m.now()) { // no clock read for a key without expiry
		return Key{}, m.errExpired
	}
	if !orgKnown {
		if on, err = m.orgs.APIEnabled(ctx, k.OrganizationID); err != nil {
			return Key{}, fmt.Errorf("auth: organization %s: API enabled: %w", k.OrganizationID, err)
		}
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
	// Byte loops and IndexByte rather than strings.Trim, IndexAny and
	// ContainsAny, which build a character set on every call.
	i, j := 0, len(v)
	for i < j && isBlank(v[i]) {
		i++
	}
	for j > i && isBlank(v[j-1]) {
		j--
	}
	v = v[i:j]
	sp := 0
	for sp < len(v) && !isBlank(v[sp]) {
		sp++
	}
	if sp == len(v) || !strings.EqualFold(v[:sp], "Bearer") {
		return "", false
	}
	tok := v[sp:]
	for tok != "" && isBlank(tok[0]) {
		tok = tok[1:]
	}
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return "", false
	}
	return tok, true
}

// isBlank reports whether c is a space or a tab.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }
