package ratelimit

import (
	"context"
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
	// Warn, when set, names what failed (for example "admin token"): the
	// first failure of an address in each Limit.Period is then logged at
	// warn on this process with the address and Warn, at most once per
	// address per period. Empty: failures are not logged.
	Warn string
}

// FailedAuth limits failed authentication attempts per client address. It
// has the method set of the authentication middleware's throttle (Allow
// before a store read for a key nobody vouched for, Failed after one that
// did not authenticate) and of the admin token's, without this package
// knowing either. An IPv4 address counts alone; IPv6 addresses count per
// /64, the block one subscriber usually gets, so hopping addresses within
// it gains nothing.
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
	warn    string
	limited *gatehouse.Error

	// suspects holds the client IPs that failed on this process within the
	// last limit period (netip.Addr → unix nanoseconds until which the IP
	// is suspect); looking one up allocates nothing. Allow asks the limiter only about them, so
	// the request path of clients that never fail costs no limiter call
	// (with the Redis limiter: no round trip). suspectN bounds its size.
	suspects sync.Map
	suspectN atomic.Int64
	// warned holds, with Warn set, when each address was last logged
	// (netip.Addr → unix nanoseconds); warnedN bounds its size.
	warned  sync.Map
	warnedN atomic.Int64
}

// loadedOrStore stores v under k unless k is present, and reports whether
// it was.
func loadedOrStore(m *sync.Map, k, v any) bool {
	_, loaded := m.LoadOrStore(k, v)
	return loaded
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
		warn:    opts.Warn,
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
	addr := bucketOf(f.ip.Addr(r))
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

// Failed records one failed authentication from the client address of r.
// It counts even when r's context is done (the client hung up): the
// limiter call runs under context.WithoutCancel (the Redis limiter bounds
// it with its own timeout). Limiter failures are logged.
func (f *FailedAuth) Failed(r *http.Request) {
	addr := bucketOf(f.ip.Addr(r))
	now := time.Now().UnixNano()
	until := now + int64(f.limit.Period)
	if _, loaded := f.suspects.Swap(addr, until); !loaded {
		if f.suspectN.Add(1) > maxSuspects {
			f.suspects.Clear()
			f.suspectN.Store(0)
			f.suspects.Store(addr, until)
			f.suspectN.Add(1)
		}
	}
	ctx := context.WithoutCancel(r.Context())
	if f.warn != "" {
		// Log when the address's last line is a period old (or none).
		last, seen := f.warned.Load(addr)
		if !seen || now-last.(int64) >= int64(f.limit.Period) {
			if !seen && f.warnedN.Add(1) > maxSuspects {
				f.warned.Clear() // bounded: at most one extra line per address
				f.warnedN.Store(1)
			}
			if seen && f.warned.CompareAndSwap(addr, last, now) || !seen && !loadedOrStore(&f.warned, addr, now) {
				f.logger.WarnContext(ctx, "ratelimit: failed "+f.warn+" (logged at most once per address per period)",
					"client_ip", addr.String(), "period", f.limit.Period,
					"request_id", gatehouse.RequestIDFromContext(ctx))
			}
		}
	}
	if _, err := f.limiter.Allow(ctx, key(addr), f.limit); err != nil {
		f.logger.WarnContext(ctx, "ratelimit: failed-auth limiter failed, failure not counted",
			"request_id", gatehouse.RequestIDFromContext(ctx), "err", err)
	}
}

// bucketOf returns the address whose budget a client address uses: an IPv4
// address itself, an IPv6 address's /64.
func bucketOf(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return a
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// key is the limiter key of a client address bucket ("failed-auth:" alone
// when the address is unknown, so such requests share one budget; an IPv6
// /64 as its first address, "2001:db8::").
func key(addr netip.Addr) string {
	if !addr.IsValid() {
		return failedAuthPrefix
	}
	return failedAuthPrefix + addr.String()
}
