package ratelimit

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse.dev"
)

// DefaultFailedAuthPerMinute is the failed-authentication limit per client
// IP when [FailedAuthOptions].Limit is zero: PerMinute(20).
const DefaultFailedAuthPerMinute = 20

// failedAuthPrefix starts the limiter key of a client IP, so that the
// failure buckets never meet API key buckets in a shared limiter.
const failedAuthPrefix = "failed-auth:"

// FailedAuthOptions configures [NewFailedAuth].
type FailedAuthOptions struct {
	// Limiter holds the failure counts. It must implement [Peeker] ([Memory]
	// and the Redis limiter do). Nil means a new [Memory]. Share the Redis
	// limiter here so the limit holds across pods.
	Limiter Limiter
	// Limit is the number of failed authentications allowed per client IP.
	// The zero Limit means PerMinute([DefaultFailedAuthPerMinute]).
	Limit Limit
	// ClientIP finds the client address. The zero value uses the
	// connection's peer address and trusts no X-Forwarded-For.
	ClientIP gatehouse.ClientIP
	// Logger receives limiter failures. Nil means slog.Default().
	Logger *slog.Logger
}

// FailedAuth limits failed authentication attempts per client IP, so that
// nobody can guess keys at full speed. It has the method set of the
// authentication middleware's throttle (Allow before the key lookup, Failed
// after a failed one) without this package knowing that middleware.
//
// Allow only peeks, so successful requests never use up the allowance: the
// limit counts failures alone. Allow asks the limiter only about IPs that
// failed on this process within the last limit period, so clients that
// never fail cost no limiter call at all; with the Redis limiter a suspect
// IP costs one read round trip per request (none while the limiter's local
// deny cache knows it is blocked) and each failure one write. An IP whose
// failures are spread over many pods is refused by each pod from its first
// failure there on: across n pods, at most n−1 failures beyond the limit.
type FailedAuth struct {
	peeker  Peeker
	limiter Limiter
	limit   Limit
	ip      gatehouse.ClientIP
	logger  *slog.Logger
	limited *gatehouse.Error

	// suspects holds the client IPs that failed on this process within the
	// last limit period (netip.Addr → unix nanoseconds until which the IP
	// is suspect); looking one up allocates nothing. Allow asks the limiter only about them, so
	// the request path of clients that never fail costs no limiter call
	// (with the Redis limiter: no round trip). suspectN bounds its size.
	suspects sync.Map
	suspectN atomic.Int64
}

// maxSuspects bounds the suspect set; beyond it the set is cleared, which
// costs each listed IP at most one more counted failure on this process.
const maxSuspects = 1 << 16

// NewFailedAuth returns a failed-authentication limiter. It fails if the
// limiter cannot peek or the limit is invalid.
func NewFailedAuth(opts FailedAuthOptions) (*FailedAuth, error) {
	f := &FailedAuth{
		limiter: opts.Limiter,
		limit:   opts.Limit,
		ip:      opts.ClientIP,
		logger:  opts.Logger,
		limited: gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited),
	}
	if f.limiter == nil {
		mem, err := NewMemory(MemoryOptions{})
		if err != nil {
			return nil, err
		}
		f.limiter = mem
	}
	p, ok := f.limiter.(Peeker)
	if !ok {
		return nil, errors.New("ratelimit: FailedAuthOptions.Limiter must implement ratelimit.Peeker")
	}
	f.peeker = p
	if f.limit.IsZero() {
		f.limit = PerMinute(DefaultFailedAuthPerMinute)
	}
	if err := f.limit.Validate(); err != nil {
		return nil, err
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	return f, nil
}

// Allow returns nil while the client IP of r may still try to
// authenticate, and a *gatehouse.Error 429 "Rate limit exceeded" with
// Retry-After once its failures have used up the limit. It consumes
// nothing. A limiter failure that is a *gatehouse.Error (the Redis
// limiter's fail-closed 503) is returned as it is; any other is logged and
// the request allowed.
func (f *FailedAuth) Allow(r *http.Request) error {
	addr := f.ip.Addr(r)
	until, ok := f.suspects.Load(addr)
	if !ok {
		return nil // no failure from this IP here lately: nothing to ask
	}
	if time.Now().UnixNano() > until.(int64) {
		if f.suspects.CompareAndDelete(addr, until) {
			f.suspectN.Add(-1)
		}
		return nil
	}
	res, err := f.peeker.Peek(r.Context(), key(addr), f.limit)
	if err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			return err
		}
		f.logger.WarnContext(r.Context(), "ratelimit: failed-auth limiter failed, request allowed",
			"request_id", gatehouse.RequestIDFromContext(r.Context()), "err", err)
		return nil
	}
	if res.Allowed {
		return nil
	}
	return f.limited.WithHeader(headerRetryAfter, strconv.FormatInt(RetryAfterSeconds(res.RetryAfter), 10))
}

// Failed records one failed authentication from the client IP of r.
// Limiter failures are logged.
func (f *FailedAuth) Failed(r *http.Request) {
	addr := f.ip.Addr(r)
	until := time.Now().Add(f.limit.Period).UnixNano()
	if _, loaded := f.suspects.Swap(addr, until); !loaded {
		if f.suspectN.Add(1) > maxSuspects {
			f.suspects.Clear()
			f.suspectN.Store(0)
			f.suspects.Store(addr, until)
			f.suspectN.Add(1)
		}
	}
	if _, err := f.limiter.Allow(r.Context(), key(addr), f.limit); err != nil {
		f.logger.WarnContext(r.Context(), "ratelimit: failed-auth limiter failed, failure not counted",
			"request_id", gatehouse.RequestIDFromContext(r.Context()), "err", err)
	}
}

// key is the limiter key of a client IP ("failed-auth:" alone when the
// address is unknown, so such requests share one budget, as before).
func key(addr netip.Addr) string {
	if !addr.IsValid() {
		return failedAuthPrefix
	}
	return failedAuthPrefix + addr.String()
}
