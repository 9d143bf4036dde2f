package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/auth"
)

// MinTokenLength is the shortest admin token [BearerToken] accepts.
const MinTokenLength = 32

// Throttle limits failed admin-token attempts per client address; the
// method set of gatehouse.dev/ratelimit's FailedAuth. Allow returns a
// non-nil error (a 429 *gatehouse.Error with Retry-After) once the
// address's failures used up its budget; Failed counts one failure, even if
// the client hung up.
type Throttle interface {
	Allow(r *http.Request) error
	Failed(r *http.Request)
}

// TokenOptions configures [NewBearerToken].
type TokenOptions struct {
	// Token is the admin token, at least [MinTokenLength] characters and
	// not an API key. Required.
	Token string
	// Throttle, when set, counts wrong tokens per client address and,
	// once an address used up its budget, answers its wrong tokens with
	// the throttle's 429 instead of 401. The right token is never refused.
	// Use ratelimit.NewFailedAuth with Warn "admin token" to log the first
	// failure of each address per period. Nil: no throttle.
	Throttle Throttle
}

// BearerToken is [NewBearerToken] without a throttle.
func BearerToken(token string) (func(*http.Request) error, error) {
	return NewBearerToken(TokenOptions{Token: token})
}

// NewBearerToken returns an Authorize func for [Options] that accepts
// requests carrying "Authorization: Bearer <token>". It compares SHA-256
// digests in constant time, so neither the token nor its length leaks
// through timing. It refuses tokens shorter than [MinTokenLength] and
// tokens that are well-formed API keys: the admin token is never an API key,
// and an API key (which the authentication middleware accepts elsewhere)
// never opens the admin API.
//
// A wrong or missing token is 401 (WWW-Authenticate: Bearer realm="admin"),
// or the Throttle's 429 once the address is over its budget. Checking a
// token costs no I/O, so the throttle cannot slow a guesser who keeps
// sending (a right token is always served); what bounds guessing is the
// token's length, and what the throttle adds is a logged, counted signal and
// a cheap answer.
func NewBearerToken(opts TokenOptions) (func(*http.Request) error, error) {
	token := opts.Token
	if len(token) < MinTokenLength {
		return nil, errors.New("admin: the admin token must have at least 32 characters")
	}
	if _, err := auth.Parse(token); err == nil {
		return nil, errors.New("admin: the admin token must not be an API key")
	}
	want := sha256.Sum256([]byte(token))
	unauthorized := gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgUnauthorized).
		WithHeader("WWW-Authenticate", `Bearer realm="admin"`)
	check := func(r *http.Request) bool {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	}
	th := opts.Throttle
	return func(r *http.Request) error {
		if check(r) {
			return nil
		}
		if th == nil {
			return unauthorized
		}
		if err := th.Allow(r); err != nil {
			return err
		}
		th.Failed(r)
		return unauthorized
	}, nil
}
