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

// BearerToken returns an Authorize func for [Options] that accepts requests
// carrying "Authorization: Bearer <token>". It compares SHA-256 digests in
// constant time, so neither the token nor its length leaks through timing.
// It refuses tokens shorter than [MinTokenLength] and tokens that are
// well-formed API keys: the admin token is never an API key, and an API key
// (which the authentication middleware accepts elsewhere) never opens the
// admin API.
func BearerToken(token string) (func(*http.Request) error, error) {
	if len(token) < MinTokenLength {
		return nil, errors.New("admin: the admin token must have at least 32 characters")
	}
	if _, err := auth.Parse(token); err == nil {
		return nil, errors.New("admin: the admin token must not be an API key")
	}
	want := sha256.Sum256([]byte(token))
	unauthorized := gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgUnauthorized).
		WithHeader("WWW-Authenticate", `Bearer realm="admin"`)
	return func(r *http.Request) error {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return unauthorized
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			return unauthorized
		}
		return nil
	}, nil
}
