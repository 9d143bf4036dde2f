package ratelimit

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse.dev"
)

// Canonical names of the headers the middleware writes.
const (
	headerPolicy     = "Ratelimit-Policy" // RateLimit-Policy
	headerRateLimit  = "Ratelimit"        // RateLimit
	headerXLimit     = "X-Ratelimit-Limit"
	headerXRemaining = "X-Ratelimit-Remaining"
	headerXReset     = "X-Ratelimit-Reset"
	headerRetryAfter = "Retry-After"
)

// Options configures [New].
type Options struct {
	// Key names the bucket of a request and its limit; ok=false skips
	// limiting for the request (no headers either). Nil means the
	// request's gatehouse.Caller: the bucket is its lineage
	// (Caller.LineageID, shared by a key and the keys rotated from it) and
	// the limit [PerMinute] of its RateLimitPerMinute; a request without a
	// caller is not limited, so the middleware must run inside the
	// authentication middleware.
	Key func(r *http.Request) (id string, l Limit, ok bool)
	// Limiter makes the decisions. Nil means a new [Memory] with default
	// options: exact for one process, per pod when there are several.
	Limiter Limiter
	// Logger receives limiter failures. Nil means slog.Default().
	Logger *slog.Logger
	// DisableDraftHeaders turns off RateLimit-Policy and RateLimit (IETF
	// httpapi RateLimit header fields draft).
	DisableDraftHeaders bool
	// DisableXHeaders turns off X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset.
	DisableXHeaders bool
	// Now is the clock for X-RateLimit-Reset. Nil means time.Now.
	Now func() time.Time
	// OnError decides what happens when the limiter fails with an error that
	// is not a *gatehouse.Error: it returns nil to let the request through,
	// or an error to write with gatehouse.WriteError (a *gatehouse.Error as
	// it is, anything else as a 500). Nil means: log the error at warn level
	// and let the request through (fail open). A *gatehouse.Error from the
	// limiter, such as the 503 "Rate limiter unavailable" of the Redis
	// limiter's fail-closed policy, is always written as it is. A limit
	// the limiter cannot enforce ([ErrInvalidLimit], e.g. a key stored with
	// rate_limit_per_minute 0) always fails closed: 500, logged once per
	// key, never a request let through unlimited.
	OnError func(r *http.Request, err error) error
}

// Middleware limits requests per key. Build it with [New].
type Middleware struct {
	key     func(r *http.Request) (string, Limit, bool)
	limiter Limiter
	logger  *slog.Logger
	draft   bool
	x       bool
	now     func() time.Time
	onError func(r *http.Request, err error) error
	limited *gatehouse.Error
	policy  atomic.Pointer[policyHeader]
	// invalid remembers the keys whose invalid limit has been logged (up to
	// maxInvalidLogged), so a misconfigured key logs once, not per request.
	invalid     sync.Map
	invalidSeen atomic.Int64
}

// maxInvalidLogged bounds the keys remembered as logged for an invalid
// limit; past it, each further such key logs on every request.
const maxInvalidLogged = 4096

// policyHeader caches the RateLimit-Policy value of the last limit seen:
// most services have few distinct limits.
type policyHeader struct {
	l Limit
	v string
}

// CallerKey is the default Options.Key: the lineage of the request's
// gatehouse.Caller and [PerMinute] of its RateLimitPerMinute.
func CallerKey(r *http.Request) (string, Limit, bool) {
	c, ok := gatehouse.CallerFromContext(r.Context())
	if !ok {
		return "", Limit{}, false
	}
	return c.LineageID(), PerMinute(c.RateLimitPerMinute), true
}

// New returns the rate-limit middleware.
func New(opts Options) (*Middleware, error) {
	m := &Middleware{
		key:     opts.Key,
		limiter: opts.Limiter,
		logger:  opts.Logger,
		draft:   !opts.DisableDraftHeaders,
		x:       !opts.DisableXHeaders,
		now:     opts.Now,
		onError: opts.OnError,
		limited: gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited),
	}
	if m.key == nil {
		m.key = CallerKey
	}
	if m.limiter == nil {
		mem, err := NewMemory(MemoryOptions{})
		if err != nil {
			return nil, err
		}
		m.limiter = mem
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// Wrap returns next behind the limiter. Every limited response carries the
// enabled header families; a denied request gets 429 "Rate limit exceeded"
// with Retry-After in whole seconds (rounded up, at least 1) and next is not
// called.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, l, ok := m.key(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		res, err := m.limiter.Allow(r.Context(), id, l)
		if err != nil {
			if m.failed(w, r, id, err) {
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		m.setHeaders(w.Header(), l, res)
		if !res.Allowed {
			w.Header()[headerRetryAfter] = []string{strconv.FormatInt(RetryAfterSeconds(res.RetryAfter), 10)}
			gatehouse.WriteError(w, r, m.logger, m.limited)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// failed handles a limiter error and reports whether the response has been
// written.
func (m *Middleware) failed(w http.ResponseWriter, r *http.Request, id string, err error) bool {
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		gatehouse.WriteError(w, r, m.logger, err)
		return true
	}
	if errors.Is(err, ErrInvalidLimit) {
		// Fail closed. WriteError would log the cause on every request of
		// the key; the answer is the same 500 without it.
		if _, seen := m.invalid.Load(id); !seen {
			if m.invalidSeen.Add(1) <= maxInvalidLogged {
				m.invalid.Store(id, struct{}{})
			}
			m.logger.ErrorContext(r.Context(), "ratelimit: the key's limit cannot be enforced; its requests are refused with 500 until it is fixed",
				"key", id, "request_id", gatehouse.RequestIDFromContext(r.Context()), "err", err)
		}
		gatehouse.WriteError(w, r, m.logger, gatehouse.NewError(http.StatusInternalServerError, gatehouse.MsgInternal))
		return true
	}
	if m.onError != nil {
		if werr := m.onError(r, err); werr != nil {
			gatehouse.WriteError(w, r, m.logger, werr)
			return true
		}
		return false
	}
	m.logger.WarnContext(r.Context(), "ratelimit: limiter failed, request allowed",
		"request_id", gatehouse.RequestIDFromContext(r.Context()), "err", err)
	return false
}

// setHeaders writes the enabled header families for a decision with limit
// l. The values share one string and one slice backing array.
func (m *Middleware) setHeaders(h http.Header, l Limit, res Result) {
	if !m.draft && !m.x {
		return
	}
	var buf [128]byte
	b := buf[:0]
	var ends [5]int
	remaining := int64(max(res.Remaining, 0))
	reset := ceilSeconds(res.ResetAfter)
	if m.draft {
		b = append(b, `"default";r=`...)
		b = strconv.AppendInt(b, remaining, 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, reset, 10)
	}
	ends[0] = len(b)
	if m.x {
		b = strconv.AppendInt(b, int64(l.Rate), 10)
		ends[1] = len(b)
		b = strconv.AppendInt(b, remaining, 10)
		ends[2] = len(b)
		b = strconv.AppendInt(b, ceilSeconds(time.Duration(m.now().UnixNano())+res.ResetAfter), 10)
		ends[3] = len(b)
	}
	s := string(b)
	vals := make([]string, 0, 5)
	add := func(name, v string) {
		vals = append(vals, v)
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if m.draft {
		add(headerPolicy, m.policyValue(l))
		add(headerRateLimit, s[:ends[0]])
	}
	if m.x {
		add(headerXLimit, s[ends[0]:ends[1]])
		add(headerXRemaining, s[ends[1]:ends[2]])
		add(headerXReset, s[ends[2]:ends[3]])
	}
}

// policyValue returns the RateLimit-Policy value of l.
func (m *Middleware) policyValue(l Limit) string {
	if p := m.policy.Load(); p != nil && p.l == l {
		return p.v
	}
	v := PolicyHeader(l)
	m.policy.Store(&policyHeader{l: l, v: v})
	return v
}

// PolicyHeader returns the RateLimit-Policy header value of l:
// "default";q=<rate>;w=<period in seconds, rounded up>.
func PolicyHeader(l Limit) string {
	b := make([]byte, 0, 40)
	b = append(b, `"default";q=`...)
	b = strconv.AppendInt(b, int64(l.Rate), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, max(ceilSeconds(l.Period), 1), 10)
	return string(b)
}

// RetryAfterSeconds returns d in whole seconds for a Retry-After header:
// rounded up and never below 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(ceilSeconds(d), 1)
}

// ceilSeconds returns d in seconds rounded up (0 for d <= 0).
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
