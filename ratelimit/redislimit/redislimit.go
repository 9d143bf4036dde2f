package redislimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

// Defaults of [Options].
const (
	DefaultPrefix          = "gatehouse:rl:"
	DefaultTimeout         = 50 * time.Millisecond
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 5 * time.Second
	DefaultMaxBatch        = 128
	DefaultMaxInflight     = 2
	DefaultDenyCacheSize   = 16384
)

// MsgUnavailable is the public message of the fail-closed policy's 503.
const MsgUnavailable = "Rate limiter unavailable"

// Policy says what the limiter decides when Redis cannot: when a call fails
// or times out, or while the circuit breaker is open.
type Policy int

const (
	// Fallback (the default) decides with an in-process GCRA limiter whose
	// limit is the key's limit divided among the pods: Rate and Burst of
	// max(1, ceil(n / pods)), pods being Options.Replicas when set and
	// otherwise the live pods counted by [Limiter.Run]'s heartbeats.
	// Requests keep being limited, the pods together admitting about one
	// burst plus refill when the load balancer spreads them evenly.
	Fallback Policy = iota
	// FailOpen allows every request, as if its bucket were full.
	FailOpen
	// FailClosed refuses every request with a *gatehouse.Error 503 "Rate
	// limiter unavailable" whose Retry-After is the rest of the breaker's
	// cool-down (at least 1 second).
	FailClosed
)

// String returns "fallback", "fail-open" or "fail-closed".
func (p Policy) String() string {
	switch p {
	case Fallback:
		return "fallback"
	case FailOpen:
		return "fail-open"
	case FailClosed:
		return "fail-closed"
	}
	return "unknown"
}

// MarshalText writes the policy as [Policy.String].
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Options configures [New]. Only Client is required.
type Options struct {
	// Client is the Redis client: a single node, a Sentinel failover
	// client, a Cluster or a Ring, owned by the caller. For Options.Timeout
	// to bound each call on the caller's goroutine, create it with
	// ContextTimeoutEnabled: true; otherwise (or for a client type the
	// limiter cannot inspect) the I/O runs on a goroutine of its own so
	// callers can still leave at the timeout.
	Client redis.UniversalClient
	// Prefix starts every Redis key of this limiter, after redis_rate's own
	// "rate:". It must not contain '{' or '}' (the key's hash tag). Empty
	// means [DefaultPrefix].
	Prefix string
	// Policy decides when Redis cannot. The zero value is [Fallback].
	Policy Policy
	// Replicas fixes the number of pods sharing the limit, for the
	// Fallback policy's per-pod share. Zero (the default) means the live
	// pods counted by [Limiter.Run] (1 if Run is not running); set it only
	// to override the count.
	Replicas int
	// Heartbeat is how often [Limiter.Run] announces the pod and counts
	// the live ones. Zero means [DefaultHeartbeat] (2 s); a pod drops out
	// of the count 3 heartbeats after its last.
	Heartbeat time.Duration
	// Timeout bounds each Redis call. Zero means [DefaultTimeout] (50 ms).
	Timeout time.Duration
	// BreakerFailures is the number of consecutive failed calls that opens
	// the circuit breaker. Zero means [DefaultBreakerFailures].
	BreakerFailures int
	// BreakerCooldown is how long the open breaker keeps calls away from
	// Redis before one probe. Zero means [DefaultBreakerCooldown].
	BreakerCooldown time.Duration
	// DisableBatching sends each decision as its own command instead of
	// combining concurrent decisions into one round trip (one script call
	// over all their keys on a single node, a pipeline on a Cluster or
	// Ring). Use it with a client that batches by itself, such as a
	// go-redis AutoPipeliner, or behind a proxy that shards keys without
	// Cluster semantics.
	DisableBatching bool
	// MaxBatch bounds the decisions of one round trip. Zero means
	// [DefaultMaxBatch].
	MaxBatch int
	// MaxInflight bounds the round trips in flight at once. Zero means
	// [DefaultMaxInflight].
	MaxInflight int
	// DenyCacheSize bounds the keys of the local deny cache, which answers
	// a key Redis has limited until its RetryAfter without calling Redis.
	// Zero means [DefaultDenyCacheSize]; negative disables the cache.
	DenyCacheSize int
	// Logger receives breaker state changes. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the local clock (deny cache, breaker, fallback limiter); the
	// limits themselves run on Redis's clock. Nil means time.Now.
	Now func() time.Time
}

// Limiter is the Redis rate limiter: the GCRA of
// github.com/go-redis/redis_rate in one Lua script, so a decision is atomic,
// costs at most one round trip (shared with the concurrent decisions of the
// pod) and uses Redis's clock for every pod. It implements
// [ratelimit.Limiter], [ratelimit.Peeker] and [ratelimit.NLimiter] and is
// safe for concurrent use.
type Limiter struct {
	client   redis.UniversalClient
	dispatch *dispatcher
	prefix   string
	policy   Policy
	replicas int // Options.Replicas; 0: the heartbeat count
	timeout  time.Duration

	heartbeat time.Duration
	podID     string
	pods      atomic.Int64 // live pods at the last heartbeat (at least 1)
	running   atomic.Bool

	logger   *slog.Logger
	now      func() time.Time
	base     time.Time
	breaker  *breaker
	deny     *denyCache
	fallback *ratelimit.Memory
	closed   *gatehouse.Error

	allowed, limited, redisErrors, fallbacks, denyHits, heartbeatErrors atomic.Uint64
}

var (
	_ ratelimit.Limiter  = (*Limiter)(nil)
	_ ratelimit.Peeker   = (*Limiter)(nil)
	_ ratelimit.NLimiter = (*Limiter)(nil)
)

// New returns a Redis limiter. It does no I/O and starts no goroutine; it
// fails for a nil client, a prefix with a brace or a negative option.
func New(opts Options) (*Limiter, error) {
	if opts.Client == nil {
		return nil, errors.New("redislimit: Options.Client is required")
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redislimit: Options.Prefix %q must not contain '{' or '}'", opts.Prefix)
	}
	if opts.Policy < Fallback || opts.Policy > FailClosed {
		return nil, fmt.Errorf("redislimit: unknown Options.Policy %d", opts.Policy)
	}
	if opts.Replicas < 0 || opts.Timeout < 0 || opts.BreakerFailures < 0 || opts.BreakerCooldown < 0 ||
		opts.MaxBatch < 0 || opts.MaxInflight < 0 || opts.Heartbeat < 0 {
		return nil, errors.New("redislimit: Options must not be negative (except DenyCacheSize)")
	}
	l := &Limiter{
		client:   opts.Client,
		prefix:   orDefault(opts.Prefix, DefaultPrefix),
		policy:   opts.Policy,
		replicas: opts.Replicas,
		timeout:  orDefault(opts.Timeout, DefaultTimeout),
		logger:   opts.Logger,
		now:      opts.Now,
		closed:   gatehouse.NewError(http.StatusServiceUnavailable, MsgUnavailable),

		heartbeat: orDefault(opts.Heartbeat, DefaultHeartbeat),
		podID:     newPodID(),
	}
	l.pods.Store(1)
	if l.logger == nil {
		l.logger = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.base = l.now()
	l.breaker = &breaker{
		threshold: int64(orDefault(opts.BreakerFailures, DefaultBreakerFailures)),
		cooldown:  orDefault(opts.BreakerCooldown, DefaultBreakerCooldown),
		logger:    l.logger,
		clock:     l.mono,
	}
	if opts.DenyCacheSize >= 0 {
		l.deny = newDenyCache(orDefault(opts.DenyCacheSize, DefaultDenyCacheSize))
	}
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: l.now})
	if err != nil {
		return nil, err
	}
	l.fallback = mem
	l.dispatch = &dispatcher{
		client:   opts.Client,
		detach:   !honoursContext(opts.Client),
		batch:    !opts.DisableBatching,
		maxBatch: orDefault(opts.MaxBatch, DefaultMaxBatch),
		timeout:  l.timeout,
		sem:      make(chan struct{}, orDefault(opts.MaxInflight, DefaultMaxInflight)),
	}
	if _, single := opts.Client.(*redis.Client); !single {
		l.dispatch.perKey.Store(true)
	}
	return l, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// honoursContext reports whether client bounds its I/O by context
// deadlines.
func honoursContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// mono returns the local monotonic time in nanoseconds.
func (l *Limiter) mono() int64 { return int64(l.now().Sub(l.base)) }

// RedisKey returns the Redis key that holds id's bucket, without redis_rate's
// "rate:" in front: Prefix, then the first 128 bits of id's SHA-256 in hex
// as a hash tag. Any id, whatever its bytes or length, gives a short key
// whose Cluster slot depends on the id alone.
func (l *Limiter) RedisKey(id string) string { return l.redisKey("", id) }

// redisKey returns before + [Limiter.RedisKey](id) in one allocation.
func (l *Limiter) redisKey(before, id string) string {
	sum := sha256.Sum256([]byte(id))
	n := len(before) + len(l.prefix)
	var stack [128]byte
	var b []byte
	if n+34 <= len(stack) {
		b = stack[:0]
	} else {
		b = make([]byte, 0, n+34)
	}
	b = append(b, before...)
	b = append(b, l.prefix...)
	b = append(b, '{')
	b = hex.AppendEncode(b, sum[:16])
	b = append(b, '}')
	return string(b)
}

// Allow records one event of key if it fits in lim, on Redis; see [Policy]
// for what happens when Redis cannot answer. Its only errors are one
// wrapping [ratelimit.ErrInvalidLimit] and, under [FailClosed], the 503
// *gatehouse.Error.
func (l *Limiter) Allow(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.decide(ctx, key, lim, 1)
}

// AllowN records n events of key at once if all n fit in lim, on Redis
// (see [ratelimit.NLimiter]): redis_rate's AllowN, so a denied cost takes
// nothing. A cost above lim.Burst is refused after a peek, without
// consuming. The deny cache answers a cost locally only while a denial of
// that cost or a smaller one is in force: a denied cost of 50 does not
// refuse a cost of 1. Under the [Fallback] policy the pod's share of the
// burst is at least min(n, lim.Burst), so that a cost the bucket could pay
// still passes during an outage (one such cost per pod and refill). Its
// only errors are one wrapping [ratelimit.ErrInvalidLimit] and, under
// [FailClosed], the 503 *gatehouse.Error.
func (l *Limiter) AllowN(ctx context.Context, key string, lim ratelimit.Limit, n int) (ratelimit.Result, error) {
	if err := lim.Validate(); err != nil {
		return ratelimit.Result{}, err
	}
	if n < 1 {
		return ratelimit.Result{}, fmt.Errorf("%w: cost %d < 1", ratelimit.ErrInvalidLimit, n)
	}
	if n <= lim.Burst {
		return l.decide(ctx, key, lim, n)
	}
	p, err := l.decide(ctx, key, lim, 0)
	if err != nil {
		return ratelimit.Result{}, err
	}
	l.limited.Add(1)
	return ratelimit.Result{
		Limit:      lim,
		RetryAfter: max(time.Duration(lim.Burst)*lim.Emission(), time.Nanosecond),
		ResetAfter: p.ResetAfter,
	}, nil
}

// Peek reports what Allow would answer for key now without recording
// anything (see [ratelimit.Peeker]). Peeks are not counted in [Stats]'
// Allowed and Limited.
func (l *Limiter) Peek(ctx context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.decide(ctx, key, lim, 0)
}

// decide runs one decision: cost 1 for Allow, n for AllowN, 0 for Peek.
func (l *Limiter) decide(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	if err := lim.Validate(); err != nil {
		return ratelimit.Result{}, err
	}
	rkey := l.redisKey("rate:", key)
	if l.deny != nil {
		now := l.mono()
		if d, ok := l.deny.get(rkey, lim, max(cost, 1), now); ok {
			l.denyHits.Add(1)
			if cost > 0 {
				l.limited.Add(1)
			}
			return ratelimit.Result{
				Limit:      lim,
				RetryAfter: time.Duration(d.until - now),
				ResetAfter: time.Duration(max(d.resetAt-now, 0)),
			}, nil
		}
	}
	ok, probe := l.breaker.acquire()
	if !ok {
		return l.policyDecision(ctx, key, lim, cost, errBreakerOpen)
	}
	c := l.dispatch.newCall(rkey, lim, cost)
	var rr reply
	err := l.dispatch.run(ctx, c)
	if err == nil {
		rr, err = c.res, c.err
		l.dispatch.release(c)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The caller went away: no verdict on Redis.
			l.breaker.release(probe)
		} else {
			l.redisErrors.Add(1)
			l.breaker.failure(ctx, probe, err)
		}
		return l.policyDecision(ctx, key, lim, cost, err)
	}
	l.breaker.success(ctx, probe)
	res := convert(lim, rr, cost)
	if cost > 0 {
		if res.Allowed {
			l.allowed.Add(1)
		} else {
			l.limited.Add(1)
		}
	}
	if l.deny != nil && !res.Allowed {
		now := l.mono()
		l.deny.put(rkey, denial{limit: lim, cost: max(cost, 1), until: now + int64(res.RetryAfter), resetAt: now + int64(res.ResetAfter)}, now)
	}
	return res, nil
}

var errBreakerOpen = errors.New("redislimit: circuit breaker open")

// convert turns the script's answer into a ratelimit.Result.
func convert(lim ratelimit.Limit, rr reply, cost int) ratelimit.Result {
	res := ratelimit.Result{
		Limit:      lim,
		Remaining:  int(max(rr.remaining, 0)),
		ResetAfter: max(rr.resetAfter, 0),
	}
	if cost > 0 {
		res.Allowed = rr.allowed > 0
		if !res.Allowed {
			res.Remaining = 0
			res.RetryAfter = max(rr.retryAfter, time.Nanosecond)
		}
		return res
	}
	// A peek (cost 0) reports the events that would pass now; the next one
	// would wait until the TAT, ResetAfter from now, is within the burst
	// window again.
	res.Allowed = res.Remaining >= 1
	if !res.Allowed {
		res.Remaining = 0
		res.RetryAfter = max(res.ResetAfter-time.Duration(lim.Burst-1)*lim.Emission(), time.Nanosecond)
	}
	return res
}

// policyDecision decides without Redis, per the failure policy.
func (l *Limiter) policyDecision(ctx context.Context, key string, lim ratelimit.Limit, cost int, cause error) (ratelimit.Result, error) {
	l.fallbacks.Add(1)
	switch l.policy {
	case FailOpen:
		res := ratelimit.Result{Limit: lim, Allowed: true, Remaining: max(lim.Burst-cost, 0)}
		if cost > 0 {
			l.allowed.Add(1)
			res.ResetAfter = lim.Emission()
		}
		return res, nil
	case FailClosed:
		if cost > 0 {
			l.limited.Add(1)
		}
		retry := ratelimit.RetryAfterSeconds(l.breaker.retryIn())
		return ratelimit.Result{}, l.closed.WithHeader("Retry-After", strconv.FormatInt(retry, 10)).Wrap(cause)
	}
	local := l.localLimit(lim, cost)
	var (
		res ratelimit.Result
		err error
	)
	if cost > 0 {
		res, err = l.fallback.AllowN(ctx, key, local, cost)
		if err == nil {
			if res.Allowed {
				l.allowed.Add(1)
			} else {
				l.limited.Add(1)
			}
		}
	} else {
		res, err = l.fallback.Peek(ctx, key, local)
	}
	return res, err
}

// localLimit is the Fallback policy's per-pod share of lim, for a cost:
// Rate and Burst divided by the pods (rounded up), the burst no smaller
// than the cost (at most lim.Burst), so that a cost the bucket could pay
// is not refused for good during an outage.
func (l *Limiter) localLimit(lim ratelimit.Limit, cost int) ratelimit.Limit {
	pods := l.Pods()
	if pods <= 1 {
		return lim
	}
	share := func(n int) int { return max(1, (n+pods-1)/pods) }
	return ratelimit.Limit{Rate: share(lim.Rate), Burst: max(share(lim.Burst), min(cost, lim.Burst)), Period: lim.Period}
}

// Stats is a snapshot of a limiter's counters since New, for metrics.
type Stats struct {
	// Allowed and Limited count Allow decisions, whoever made them (Redis,
	// the deny cache or the failure policy).
	Allowed uint64 `json:"allowed"`
	Limited uint64 `json:"limited"`
	// RedisErrors counts failed or timed-out Redis calls.
	RedisErrors uint64 `json:"redis_errors"`
	// FallbackDecisions counts decisions made by the failure policy
	// because Redis failed or the breaker was open.
	FallbackDecisions uint64 `json:"fallback_decisions"`
	// DenyCacheHits counts decisions answered by the local deny cache.
	DenyCacheHits uint64 `json:"deny_cache_hits"`
	// BreakerOpens counts the times the breaker opened after failures.
	BreakerOpens uint64 `json:"breaker_opens"`
	// Breaker is the breaker's current state.
	Breaker BreakerState `json:"breaker"`
	// RoundTrips and Commands count what was sent to Redis: round trips,
	// and the decisions they carried (Commands/RoundTrips is the mean
	// batch).
	RoundTrips uint64 `json:"round_trips"`
	Commands   uint64 `json:"commands"`
	// Pods is what the Fallback policy divides limits by now (see
	// [Limiter.Pods]); HeartbeatErrors counts failed heartbeats of Run.
	Pods            int    `json:"pods"`
	HeartbeatErrors uint64 `json:"heartbeat_errors"`
}

// Stats returns a snapshot of the counters. It is cheap: atomic loads.
func (l *Limiter) Stats() Stats {
	return Stats{
		Allowed:           l.allowed.Load(),
		Limited:           l.limited.Load(),
		RedisErrors:       l.redisErrors.Load(),
		FallbackDecisions: l.fallbacks.Load(),
		DenyCacheHits:     l.denyHits.Load(),
		BreakerOpens:      l.breaker.opens.Load(),
		Breaker:           l.breaker.State(),
		RoundTrips:        l.dispatch.batchesSent.Load(),
		Commands:          l.dispatch.cmdsSent.Load(),
		Pods:              l.Pods(),
		HeartbeatErrors:   l.heartbeatErrors.Load(),
	}
}

// Status is what a readiness endpoint shows of the limiter.
type Status struct {
	// Backend is "redis" while decisions are made on Redis (breaker
	// closed), otherwise the failure policy that makes them: "fallback",
	// "fail-open" or "fail-closed".
	Backend string `json:"backend"`
	// Breaker is the circuit breaker's state.
	Breaker BreakerState `json:"breaker"`
}

// OnRedis reports whether decisions are made on Redis.
func (s Status) OnRedis() bool { return s.Breaker == BreakerClosed }

// Status reports whether the limiter is on Redis or on its failure policy.
// It does no I/O: it reads the breaker, which the traffic keeps current.
func (l *Limiter) Status() Status {
	st := Status{Breaker: l.breaker.State(), Backend: "redis"}
	if st.Breaker != BreakerClosed {
		st.Backend = l.policy.String()
	}
	return st
}
