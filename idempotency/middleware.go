package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
)

// Header names.
const (
	// Header is the request header carrying the key (IETF httpapi draft
	// "The Idempotency-Key HTTP Header Field").
	Header = "Idempotency-Key"
	// ReplayedHeader is set to "true" on replayed responses.
	ReplayedHeader = "Idempotent-Replayed"
)

// Defaults of [Options].
const (
	// MaxKeyLength is the longest accepted key, in characters.
	MaxKeyLength = 255
	// DefaultTTL is how long a completed response is kept.
	DefaultTTL = 24 * time.Hour
	// DefaultLockTimeout is how long an unfinished request holds its key.
	DefaultLockTimeout = time.Minute
	// DefaultStoreTimeout bounds the store calls made after the handler.
	DefaultStoreTimeout = 5 * time.Second
)

// keptHeaders are the response headers stored and replayed. Cache-Control
// keeps "no-store" on a replayed answer that carries a secret.
var keptHeaders = []string{"Content-Type", "Location", "Cache-Control"}

// Options configures [New].
type Options struct {
	// Store keeps the records. Required. A [TxStore] (package sqlidem)
	// records the responses of registry writes inside their transaction.
	Store Store
	// Keyring seals every stored response body (AES-256-GCM, bound to the
	// API key id and the Idempotency-Key), so that a secret a response
	// carries (a webhook signing secret, a new API key) never rests in the
	// store in plain text. Required. A body sealed under a secret that has
	// left the keyring cannot be replayed (500), so keep a rotated-out
	// secret in the keyring for at least TTL.
	Keyring *gatehouse.Keyring
	// Key returns the scope of the request's idempotency keys (two API
	// keys may use the same Idempotency-Key independently). Nil means the
	// lineage of the request's gatehouse.Caller (Caller.LineageID: the key
	// and the keys rotated from it share their stored responses), so the
	// middleware must run inside the authentication middleware. A request
	// for which it returns ok == false or "" (no caller) is served without
	// idempotency.
	Key func(r *http.Request) (scope string, ok bool)
	// TTL is how long a completed response is replayed: default 24 h.
	TTL time.Duration
	// LockTimeout is how long an unfinished request holds its key, so that
	// a crashed request frees it: default one minute. It should exceed the
	// longest request (e.g. the server's WriteTimeout). See the package
	// documentation for what happens to a request that outlives it.
	LockTimeout time.Duration
	// MaxBodyBytes bounds request bodies, which the middleware reads to
	// fingerprint them: default 1 MiB (as the registry's).
	MaxBodyBytes int64
	// MaxResponseBytes bounds responses stored after the handler: default
	// 1 MiB. A larger response is sent but not stored; its key then stays
	// claimed until LockTimeout. Responses stored inside a registry
	// transaction are not bounded here (the registry bounds its bodies).
	MaxResponseBytes int
	// StoreTimeout bounds the store calls after the handler returned
	// (complete, release), which run even if the client has gone: default
	// 5 s.
	StoreTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Middleware implements Idempotency-Key for POST and PATCH. Create it with
// [New]; it is safe for concurrent use.
type Middleware struct {
	store        Store
	keyring      *gatehouse.Keyring
	txStore      TxStore
	key          func(r *http.Request) (string, bool)
	ttl          time.Duration
	lock         time.Duration
	maxBody      int64
	maxResp      int
	storeTimeout time.Duration
	logger       *slog.Logger
}

// New returns the middleware. Store and Keyring are required; durations
// and sizes must not be negative.
func New(opts Options) (*Middleware, error) {
	if opts.Store == nil {
		return nil, errors.New("idempotency: Options.Store is required")
	}
	if opts.Keyring == nil {
		return nil, errors.New("idempotency: Options.Keyring is required (stored responses are sealed)")
	}
	if opts.TTL < 0 || opts.LockTimeout < 0 || opts.MaxBodyBytes < 0 || opts.MaxResponseBytes < 0 || opts.StoreTimeout < 0 {
		return nil, errors.New("idempotency: negative duration or size in Options")
	}
	m := &Middleware{
		store:        opts.Store,
		keyring:      opts.Keyring,
		key:          opts.Key,
		ttl:          opts.TTL,
		lock:         opts.LockTimeout,
		maxBody:      opts.MaxBodyBytes,
		maxResp:      opts.MaxResponseBytes,
		storeTimeout: opts.StoreTimeout,
		logger:       opts.Logger,
	}
	m.txStore, _ = opts.Store.(TxStore)
	if m.key == nil {
		m.key = callerScope
	}
	if m.ttl == 0 {
		m.ttl = DefaultTTL
	}
	if m.lock == 0 {
		m.lock = DefaultLockTimeout
	}
	if m.maxBody == 0 {
		m.maxBody = gatehouse.DefaultMaxBodyBytes
	}
	if m.maxResp == 0 {
		m.maxResp = gatehouse.DefaultMaxBodyBytes
	}
	if m.storeTimeout == 0 {
		m.storeTimeout = DefaultStoreTimeout
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	return m, nil
}

var (
	errInProgress = gatehouse.NewError(http.StatusConflict, gatehouse.MsgIdempotencyInProgress).WithHeader("Retry-After", "1")
	errMismatch   = gatehouse.NewError(http.StatusUnprocessableEntity, gatehouse.MsgIdempotencyMismatch)
	errBadKey     = gatehouse.FieldsError(gatehouse.MsgInvalidHeaders, Header).
			With("details", []gatehouse.FieldError{{Field: Header, Message: "must be 1 to 255 printable ASCII characters"}})
	errRepeatedKey = gatehouse.FieldsError(gatehouse.MsgInvalidHeaders, Header).
			With("details", []gatehouse.FieldError{{Field: Header, Message: "must not be repeated"}})
)

// ValidKey reports whether s is an acceptable Idempotency-Key: 1 to 255
// printable ASCII characters (space through '~').
func ValidKey(s string) bool {
	if len(s) == 0 || len(s) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Storable reports whether a response with the status is stored for
// replay: 2xx, 400 and 404, the outcomes the handler decided. Anything else
// (409, 413, 5xx, a panic) releases the key so that a retry can proceed.
func Storable(status int) bool {
	return status >= 200 && status < 300 || status == http.StatusBadRequest || status == http.StatusNotFound
}

// fingerprint is the hex SHA-256 of the API key id, the method, the
// concrete path and the SHA-256 of the body, each length-prefixed.
func fingerprint(scope, method, path string, body []byte) string {
	bh := sha256.Sum256(body)
	h := sha256.New()
	for _, p := range [][]byte{[]byte(scope), []byte(method), []byte(path), bh[:]} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// callerScope is the default Options.Key: the lineage of the request's
// caller.
func callerScope(r *http.Request) (string, bool) {
	c, ok := gatehouse.CallerFromContext(r.Context())
	return c.LineageID(), ok
}

// Wrap returns next behind Idempotency-Key handling. Requests other than
// POST and PATCH, requests without the header and requests for which
// Options.Key reports no caller pass through untouched. Otherwise:
//
//   - a malformed or repeated header is 400 "Invalid request headers"
//     naming Idempotency-Key;
//   - the body is read (413 above MaxBodyBytes) and fingerprinted;
//   - a key completed by the same request replays the stored status,
//     Content-Type, Location, Cache-Control and body unchanged (the original request_id
//     inside the body; the X-Request-Id header is this request's) with
//     Idempotent-Replayed: true, without calling next;
//   - a key held by another request is 422 "Idempotency key reused with a
//     different request";
//   - a key whose first request is still running is 409 "A request with
//     this idempotency key is in progress" with Retry-After: 1;
//   - a free key is claimed and next serves the request. A 2xx, 400 or 404
//     answer is stored for TTL (inside the registry's transaction with a
//     [TxStore]); any other answer, or a panic, releases the key.
//
// A store failure while claiming is a 500 (the request is not served
// without protection).
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		vals, present := r.Header[Header]
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case len(vals) != 1:
			m.fail(w, r, errRepeatedKey)
			return
		case !ValidKey(vals[0]):
			m.fail(w, r, errBadKey)
			return
		}
		scope, ok := m.key(r)
		if !ok || scope == "" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := gatehouse.ReadBody(w, r, m.maxBody)
		if err != nil {
			m.fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		ref := Ref{Scope: scope, Key: vals[0], Token: uuid.New()}
		res, err := m.store.Claim(r.Context(), Claim{
			Ref:         ref,
			Fingerprint: fingerprint(scope, r.Method, r.URL.EscapedPath(), body),
			Lock:        m.lock,
		})
		if err != nil {
			m.fail(w, r, fmt.Errorf("idempotency: claim: %w", err))
			return
		}
		switch res.State {
		case Claimed:
			m.serve(w, r, next, ref)
		case Completed:
			resp, err := m.open(ref, res.Response)
			if err != nil {
				m.fail(w, r, err)
				return
			}
			replay(w, resp)
		case InFlight:
			m.fail(w, r, errInProgress)
		case Mismatch:
			m.fail(w, r, errMismatch)
		default:
			m.fail(w, r, fmt.Errorf("idempotency: claim: unknown state %d", res.State))
		}
	})
}

// sealPurpose separates the additional data of sealed bodies from any
// other use of the keyring.
const sealPurpose = "gatehouse.idempotency.body.v1"

// aad binds a sealed body to the API key and the Idempotency-Key it
// answers, so a body cannot be moved to another record.
func aad(ref Ref) []byte {
	b := make([]byte, 0, len(sealPurpose)+len(ref.Scope)+len(ref.Key)+24)
	for _, p := range []string{sealPurpose, ref.Scope, ref.Key} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// seal returns resp with its body sealed by the keyring.
func (m *Middleware) seal(ref Ref, resp Response) Response {
	resp.Body = []byte(m.keyring.Seal(resp.Body, aad(ref)))
	return resp
}

// open returns the stored resp with its body opened.
func (m *Middleware) open(ref Ref, resp Response) (Response, error) {
	body, err := m.keyring.Open(string(resp.Body), aad(ref))
	if err != nil {
		return Response{}, fmt.Errorf("idempotency: open stored response (was its secret removed from the keyring within the TTL?): %w", err)
	}
	resp.Body = body
	return resp, nil
}

func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, err error) {
	gatehouse.WriteError(w, r, m.logger, err)
}

// replay writes a stored response.
func replay(w http.ResponseWriter, resp Response) {
	h := w.Header()
	for _, k := range keptHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	h.Set(ReplayedHeader, "true")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// kept returns the headers of h worth replaying.
func kept(h http.Header) http.Header {
	out := make(http.Header, len(keptHeaders))
	for _, k := range keptHeaders {
		if v := h.Values(k); len(v) > 0 {
			out[k] = append([]string(nil), v...)
		}
	}
	return out
}

// serve runs next under the claim ref and stores or releases the key.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, ref Ref) {
	ctx := r.Context()
	var inTx atomic.Bool
	if m.txStore != nil {
		ctx = resource.WithCommitHook(ctx, func(ctx context.Context, tx *sql.Tx, resp resource.Response) error {
			err := m.txStore.CompleteTx(ctx, tx, ref, m.seal(ref, Response{Status: resp.Status, Header: kept(resp.Header), Body: resp.Body}), m.ttl)
			if errors.Is(err, ErrClaimLost) {
				// The lock ran out and another request holds the key now:
				// roll this write back rather than risk a duplicate.
				return errInProgress.Wrap(err)
			}
			if err != nil {
				return fmt.Errorf("idempotency: complete in transaction: %w", err)
			}
			inTx.Store(true)
			return nil
		})
	}
	cw := &capture{ResponseWriter: w, limit: m.maxResp}
	done := false
	defer func() {
		if !done { // next panicked: free the key, let the panic go on
			m.release(r, ref)
		}
	}()
	next.ServeHTTP(cw, r.WithContext(ctx))
	done = true
	status := cw.Status()
	switch {
	case !Storable(status):
		m.release(r, ref)
	case inTx.Load():
		// Committed with the write.
	case cw.overflow:
		m.logger.ErrorContext(r.Context(), "idempotency: response too large to store; key stays claimed until its lock expires",
			"request_id", gatehouse.RequestIDFromContext(r.Context()), "api_key_id", ref.Scope, "limit", m.maxResp)
	default:
		ctx, cancel := m.afterCtx(r)
		defer cancel()
		resp := m.seal(ref, Response{Status: status, Header: kept(w.Header()), Body: cw.body})
		if err := m.store.Complete(ctx, ref, resp, m.ttl); err != nil {
			m.logger.ErrorContext(r.Context(), "idempotency: store response; key stays claimed until its lock expires",
				"request_id", gatehouse.RequestIDFromContext(r.Context()), "api_key_id", ref.Scope, "err", err)
		}
	}
}

func (m *Middleware) afterCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), m.storeTimeout)
}

func (m *Middleware) release(r *http.Request, ref Ref) {
	ctx, cancel := m.afterCtx(r)
	defer cancel()
	if err := m.store.Release(ctx, ref); err != nil {
		m.logger.ErrorContext(r.Context(), "idempotency: release; key stays claimed until its lock expires",
			"request_id", gatehouse.RequestIDFromContext(r.Context()), "api_key_id", ref.Scope, "err", err)
	}
}

// capture passes a response through and keeps a copy of its status and up
// to limit bytes of its body.
type capture struct {
	http.ResponseWriter
	status   int
	body     []byte
	limit    int
	overflow bool
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.overflow {
		if len(c.body)+len(b) > c.limit {
			c.overflow, c.body = true, nil
		} else {
			c.body = append(c.body, b...)
		}
	}
	return c.ResponseWriter.Write(b)
}

// Status returns the status written, 200 if the handler wrote nothing.
func (c *capture) Status() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// Unwrap returns the wrapped writer for http.ResponseController.
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Flush forwards to the wrapped writer when it can flush.
func (c *capture) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
