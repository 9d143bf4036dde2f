package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Defaults of [DispatcherOptions].
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxAttempts      = 8
	DefaultRetryBase        = 2 * time.Minute
	DefaultRetryMax         = 12 * time.Hour
	DefaultJitter           = 0.2
	DefaultConcurrency      = 8
	DefaultBatch            = 100
	DefaultPollInterval     = 500 * time.Millisecond
	DefaultMaxResponseBytes = 64 << 10
	DefaultRetention        = 7 * 24 * time.Hour
	DefaultCleanupInterval  = 10 * time.Minute
	DefaultUserAgent        = "gatehouse-webhooks/1"
	DefaultNotifyChannel    = "gatehouse_webhooks"
	// notifyGap is the least time between two NOTIFYs of a dispatcher:
	// the commits in between are announced by one.
	notifyGap = 5 * time.Millisecond
	// maxListenRetry bounds the wait before a lost LISTEN connection is
	// opened again.
	maxListenRetry = 30 * time.Second
	// retryFactor multiplies the delay after each failed attempt.
	retryFactor = 3
	// keyCheckRetry delays a delivery whose key check failed (the key
	// store was unreachable); it does not count as an attempt.
	keyCheckRetry = 30 * time.Second
	// pausedRetry delays a delivery of an organization whose API module
	// is off; it does not count as an attempt.
	pausedRetry = time.Minute
	// successResolution is how stale an endpoint's last_success_at may be.
	successResolution = time.Minute
	// statsRefresh is how often Run recounts the backlog.
	statsRefresh = 5 * time.Second
)

// Outcomes of an [Attempt].
const (
	// OutcomeSucceeded: the receiver answered 2xx.
	OutcomeSucceeded = "succeeded"
	// OutcomeRetrying: the attempt failed and another is scheduled.
	OutcomeRetrying = "retrying"
	// OutcomeFailed: the last allowed attempt failed; the delivery is
	// abandoned (and the endpoint disabled if nothing reached it since).
	OutcomeFailed = "failed"
	// OutcomeSkipped: not sent, because the API key that owns the
	// endpoint may not read the event or is no longer active.
	OutcomeSkipped = "skipped"
)

// DispatcherOptions configures [NewDispatcher]. The zero value of every
// optional field means the default named in its comment.
type DispatcherOptions struct {
	// Service whose outbox is delivered. Required.
	Service *Service
	// Timeout of each POST, connection included: default 10 s.
	Timeout time.Duration
	// MaxAttempts per delivery: default 8. The delay after failed attempt
	// n is RetryBase·3^(n-1), at most RetryMax, ± Jitter: by default 2 m,
	// 6 m, 18 m, 54 m, 2.7 h, 8.1 h, 12 h, about a day in all.
	MaxAttempts int
	// RetryBase is the delay after the first failure: default 2 min.
	RetryBase time.Duration
	// RetryMax caps the delay: default 12 h.
	RetryMax time.Duration
	// Jitter spreads each delay by ±Jitter (a fraction): default 0.2;
	// negative means none.
	Jitter float64
	// Concurrency is the number of POSTs in flight: default 8.
	Concurrency int
	// OrganizationConcurrency bounds the deliveries of one organization
	// the dispatcher holds at once (claimed, waiting or in flight), so
	// that one organization's slow or stalled receivers cannot take every
	// worker: default max(1, Concurrency/2). Claims also go round-robin
	// across organizations (each organization's oldest due delivery, then
	// each one's second, …), so a backlog of one organization does not
	// delay the others' deliveries. The bound is per dispatcher: with
	// several pods, an organization may have this many in flight on each.
	OrganizationConcurrency int
	// Batch is the most deliveries [Dispatcher.Dispatch] claims at once:
	// default 100.
	Batch int
	// PollInterval is how long Run waits when nothing is due: default
	// 500 ms. It is the safety net: Run is woken at once by
	// [Service.Notify] (after every registry write that emitted
	// deliveries) and, on PostgreSQL, by the other pods' NOTIFY.
	PollInterval time.Duration
	// DisableNotify turns off LISTEN/NOTIFY on PostgreSQL: Run then neither
	// tells the other pods about this process's commits nor hears theirs,
	// and finds their deliveries by polling. By default Run holds one
	// connection of the pool for LISTEN (when the database is PostgreSQL
	// through pgx, whose connection it finds through Unwrap() driver.Conn
	// wrappers) and sends at most one NOTIFY per 5 ms.
	DisableNotify bool
	// NotifyChannel is the PostgreSQL channel of LISTEN/NOTIFY: default
	// "gatehouse_webhooks". Dispatchers sharing a database must share it.
	NotifyChannel string
	// Lease is how long a claimed delivery is reserved for its
	// dispatcher; a dispatcher that dies mid-delivery loses its claims
	// when the lease ends, and another dispatcher sends them again. A
	// delivery whose lease would end before its POST could time out is
	// given back unsent. Default 2·Timeout + 1 min; it must exceed
	// 2·Timeout.
	Lease time.Duration
	// MaxResponseBytes of a response body are read (then discarded):
	// default 64 KiB.
	MaxResponseBytes int64
	// Retention of finished deliveries, the delivery log and delivered
	// events: default 7 days.
	Retention time.Duration
	// CleanupInterval between Run's deletions of expired rows: default
	// 10 min.
	CleanupInterval time.Duration
	// UserAgent of the POSTs: default "gatehouse-webhooks/1".
	UserAgent string
	// TLSConfig for the POSTs (e.g. RootCAs in tests); default the
	// system roots.
	TLSConfig *tls.Config
	// OnAttempt, when set, is called after every attempt (for metrics and
	// traces): it must not block.
	OnAttempt func(ctx context.Context, a Attempt)
	// Rand returns a number in [0, 1) for jitter: default math/rand/v2.
	Rand func() float64
	// Logger defaults to the service's logger.
	Logger *slog.Logger
	// Now defaults to the service's clock. Due times and leases are
	// computed from it and passed to the database as parameters.
	Now func() time.Time
}

// Attempt is one try to deliver an event to an endpoint: a line of the
// delivery log ([Service.Attempts]) and the argument of
// DispatcherOptions.OnAttempt. It never holds the secret, the payload or the
// response body.
type Attempt struct {
	OrganizationID string
	EndpointID     string
	DeliveryID     string
	EventID        string
	EventType      string
	// Number counts the delivery's attempts from 1.
	Number int
	// Outcome is OutcomeSucceeded, OutcomeRetrying, OutcomeFailed or
	// OutcomeSkipped.
	Outcome string
	// StatusCode of the response, 0 when there was none.
	StatusCode int
	// Duration of the POST.
	Duration time.Duration
	// Error describes a failure or a skip ("" on success).
	Error string
	// NextAttemptAt is set when another attempt is scheduled.
	NextAttemptAt *time.Time
	// CreatedAt is when the attempt ended.
	CreatedAt time.Time
	// Lag is the time from the event to the end of this attempt (set for
	// OnAttempt only).
	Lag time.Duration
}

// Stats are a dispatcher's counters since it was created.
type Stats struct {
	// Attempts made (POSTs sent, or refused before connecting).
	Attempts int64
	// Successes: attempts answered 2xx.
	Successes int64
	// Failures: attempts that failed, whether retried or not.
	Failures int64
	// Exhausted: deliveries abandoned after their last attempt.
	Exhausted int64
	// Skipped: deliveries not sent because the owning key may not read the
	// event or is inactive.
	Skipped int64
	// EndpointsDisabled by this dispatcher (failures, inactive keys).
	EndpointsDisabled int64
	// Paused: claims given back unsent because the organization's API
	// module was off (Options.APIEnabled).
	Paused int64
	// InFlight POSTs now.
	InFlight int64
	// Backlog is the number of pending deliveries (due or scheduled for a
	// retry) at the latest count, by Run every few seconds or by
	// [Dispatcher.Backlog].
	Backlog int64
}

// Dispatcher delivers the outbox: it claims due deliveries, round-robin
// across organizations and at most OrganizationConcurrency of one
// organization at a time, signs and POSTs them, and records the outcome.
// Several dispatchers may share a PostgreSQL database (each delivery is
// claimed by one, with FOR UPDATE SKIP LOCKED and a lease); on SQLite run
// one. Create it with [NewDispatcher] and run it
// with [Dispatcher.Run].
type Dispatcher struct {
	s           *Service
	client      *http.Client
	transport   *http.Transport
	timeout     time.Duration
	maxAttempts int
	retryBase   time.Duration
	retryMax    time.Duration
	jitter      float64
	concurrency int
	orgConc     int
	batch       int
	poll        time.Duration
	notify      bool
	channel     string
	lease       time.Duration
	maxResp     int64
	retention   time.Duration
	cleanup     time.Duration
	userAgent   string
	onAttempt   func(ctx context.Context, a Attempt)
	rand        func() float64
	logger      *slog.Logger
	now         func() time.Time
	running     atomic.Bool

	attempts, successes, failures, exhausted, skipped, disabled, paused, inFlight, backlog atomic.Int64
}

// NewDispatcher validates opts and returns a dispatcher. It starts nothing.
func NewDispatcher(opts DispatcherOptions) (*Dispatcher, error) {
	if opts.Service == nil {
		return nil, errors.New("webhook: DispatcherOptions.Service is required")
	}
	d := &Dispatcher{
		s:           opts.Service,
		timeout:     opts.Timeout,
		maxAttempts: opts.MaxAttempts,
		retryBase:   opts.RetryBase,
		retryMax:    opts.RetryMax,
		jitter:      opts.Jitter,
		concurrency: opts.Concurrency,
		orgConc:     opts.OrganizationConcurrency,
		batch:       opts.Batch,
		poll:        opts.PollInterval,
		notify:      !opts.DisableNotify,
		channel:     opts.NotifyChannel,
		lease:       opts.Lease,
		maxResp:     opts.MaxResponseBytes,
		retention:   opts.Retention,
		cleanup:     opts.CleanupInterval,
		userAgent:   opts.UserAgent,
		onAttempt:   opts.OnAttempt,
		rand:        opts.Rand,
		logger:      opts.Logger,
		now:         opts.Now,
	}
	def := func(v *time.Duration, dflt time.Duration, name string) error {
		if *v == 0 {
			*v = dflt
		}
		if *v < 0 {
			return fmt.Errorf("webhook: DispatcherOptions.%s must not be negative", name)
		}
		return nil
	}
	for _, c := range []struct {
		v    *time.Duration
		dflt time.Duration
		name string
	}{
		{&d.timeout, DefaultTimeout, "Timeout"},
		{&d.retryBase, DefaultRetryBase, "RetryBase"},
		{&d.retryMax, DefaultRetryMax, "RetryMax"},
		{&d.poll, DefaultPollInterval, "PollInterval"},
		{&d.retention, DefaultRetention, "Retention"},
		{&d.cleanup, DefaultCleanupInterval, "CleanupInterval"},
	} {
		if err := def(c.v, c.dflt, c.name); err != nil {
			return nil, err
		}
	}
	if d.lease == 0 {
		d.lease = 2*d.timeout + time.Minute
	}
	if d.lease <= 2*d.timeout {
		return nil, fmt.Errorf("webhook: DispatcherOptions.Lease (%s) must exceed twice the Timeout (%s)", d.lease, d.timeout)
	}
	if d.retryMax < d.retryBase {
		return nil, errors.New("webhook: DispatcherOptions.RetryMax must not be below RetryBase")
	}
	ints := []struct {
		v    *int
		dflt int
		name string
	}{
		{&d.maxAttempts, DefaultMaxAttempts, "MaxAttempts"},
		{&d.concurrency, DefaultConcurrency, "Concurrency"},
		{&d.batch, DefaultBatch, "Batch"},
	}
	for _, c := range ints {
		if *c.v == 0 {
			*c.v = c.dflt
		}
		if *c.v < 0 {
			return nil, fmt.Errorf("webhook: DispatcherOptions.%s must not be negative", c.name)
		}
	}
	switch {
	case d.orgConc == 0:
		d.orgConc = max(1, d.concurrency/2)
	case d.orgConc < 0:
		return nil, errors.New("webhook: DispatcherOptions.OrganizationConcurrency must not be negative")
	}
	switch {
	case d.jitter == 0:
		d.jitter = DefaultJitter
	case d.jitter < 0:
		d.jitter = 0
	case d.jitter >= 1:
		return nil, errors.New("webhook: DispatcherOptions.Jitter must be below 1")
	}
	if d.maxResp == 0 {
		d.maxResp = DefaultMaxResponseBytes
	}
	if d.maxResp < 0 {
		return nil, errors.New("webhook: DispatcherOptions.MaxResponseBytes must not be negative")
	}
	if d.userAgent == "" {
		d.userAgent = DefaultUserAgent
	}
	if d.channel == "" {
		d.channel = DefaultNotifyChannel
	}
	if !validChannel(d.channel) {
		return nil, fmt.Errorf("webhook: DispatcherOptions.NotifyChannel %q: want 1 to 63 lower-case letters, digits and underscores, starting with a letter", d.channel)
	}
	if d.rand == nil {
		d.rand = rand.Float64
	}
	if d.logger == nil {
		d.logger = d.s.logger
	}
	if d.now == nil {
		d.now = d.s.now
	}
	var tlsConf *tls.Config
	if opts.TLSConfig != nil {
		tlsConf = opts.TLSConfig.Clone()
	}
	// No proxy: a proxy would connect on our behalf, past the address
	// checks of the dialer.
	d.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            d.s.dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    d.timeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    d.concurrency,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	}
	d.client = &http.Client{
		Transport: d.transport,
		Timeout:   d.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return d, nil
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{
		Attempts:          d.attempts.Load(),
		Successes:         d.successes.Load(),
		Failures:          d.failures.Load(),
		Exhausted:         d.exhausted.Load(),
		Skipped:           d.skipped.Load(),
		EndpointsDisabled: d.disabled.Load(),
		Paused:            d.paused.Load(),
		InFlight:          d.inFlight.Load(),
		Backlog:           d.backlog.Load(),
	}
}

// Backlog counts the pending deliveries (due now or waiting for a retry)
// of all organizations, and updates Stats().Backlog.
func (d *Dispatcher) Backlog(ctx context.Context) (int64, error) {
	var n int64
	if err := d.s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM gatehouse_webhook_deliveries WHERE state = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("webhook: backlog: %w", err)
	}
	d.backlog.Store(n)
	return n, nil
}

// Run delivers until ctx ends. Concurrency workers send; a claimer keeps
// up to Concurrency more deliveries claimed ahead of them, claiming as many
// at once as there is room for, so a busy dispatcher claims in batches. It
// waits PollInterval when nothing is due and deletes expired rows every
// CleanupInterval. When ctx ends it claims nothing more, gives back the
// deliveries it had claimed but not started, lets the POSTs in flight
// finish (each within Timeout), records them and returns nil. A dispatcher
// runs once at a time.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("webhook: dispatcher is already running")
	}
	defer d.running.Store(false)
	defer d.transport.CloseIdleConnections()
	work := context.WithoutCancel(ctx)
	// A token is a claimed delivery, queued or in flight.
	tokens := make(chan struct{}, 2*d.concurrency)
	queue := make(chan job, cap(tokens))
	// held counts the tokens of each organization, bounded by
	// OrganizationConcurrency. wake starts the claimer before its poll:
	// a commit (Service.Notify), another pod's NOTIFY, or a token coming
	// back (an organization held at its bound may have work again).
	held := &heldCounts{n: map[string]int{}}
	wake := make(chan struct{}, 1)
	w := &waker{wake: wake}
	var bg sync.WaitGroup
	if d.notify && d.s.dialect == tenancy.Postgres {
		w.announce = make(chan struct{}, 1)
		self := uuid.New()
		bgCtx, stop := context.WithCancel(ctx)
		bg.Add(2)
		go func() {
			defer bg.Done()
			d.listen(bgCtx, self, wake)
		}()
		go func() {
			defer bg.Done()
			d.announce(bgCtx, self, w.announce)
		}()
		defer bg.Wait()
		defer stop()
	}
	d.s.addWaker(w)
	defer d.s.removeWaker(w)
	var wg sync.WaitGroup
	for range d.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if ctx.Err() != nil {
					d.unclaim(work, j)
				} else {
					d.process(work, j)
				}
				held.done(j.orgID)
				<-tokens
				signal(wake)
			}
		}()
	}
	defer wg.Wait()
	defer close(queue)
	var lastCleanup, lastCount time.Time
	timer := time.NewTimer(d.poll)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	fill:
		for n < min(cap(tokens), d.batch) {
			select {
			case tokens <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		jobs, err := d.claim(ctx, n, held.json(), d.orgConc)
		for range n - len(jobs) {
			<-tokens
		}
		if err != nil && ctx.Err() == nil {
			d.logger.ErrorContext(ctx, "webhook: claim deliveries", "err", err)
		}
		for _, j := range jobs {
			held.add(j.orgID)
			queue <- j // never blocks: tokens bound the queue
		}
		if time.Since(lastCount) >= statsRefresh {
			lastCount = time.Now()
			if _, err := d.Backlog(ctx); err != nil && ctx.Err() == nil {
				d.logger.WarnContext(ctx, "webhook: count backlog", "err", err)
			}
		}
		if time.Since(lastCleanup) >= d.cleanup {
			lastCleanup = time.Now()
			if err := d.Cleanup(ctx); err != nil && ctx.Err() == nil {
				d.logger.ErrorContext(ctx, "webhook: cleanup", "err", err)
			}
		}
		if len(jobs) > 0 {
			continue
		}
		timer.Reset(d.poll)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			timer.Stop()
		}
	}
}

// heldCounts counts the deliveries a running dispatcher holds per
// organization.
type heldCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *heldCounts) add(org string) {
	h.mu.Lock()
	h.n[org]++
	h.mu.Unlock()
}

func (h *heldCounts) done(org string) {
	h.mu.Lock()
	if h.n[org]--; h.n[org] <= 0 {
		delete(h.n, org)
	}
	h.mu.Unlock()
}

// errNoListen: the pool's connections are not pgx's.
var errNoListen = errors.New("webhook: the database connection does not support LISTEN")

// listen LISTENs on the channel on a connection of its own and wakes the
// claimer on every notification of another dispatcher, until ctx ends. A
// lost connection is opened again (after 1 s, doubling up to 30 s;
// polling covers the gap), and the claimer is woken once listening again.
func (d *Dispatcher) listen(ctx context.Context, self string, wake chan struct{}) {
	retry := time.Second
	for {
		listened, err := d.listenOnce(ctx, self, wake)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errNoListen) {
			d.logger.InfoContext(ctx, "webhook: no LISTEN on this database connection; other pods' deliveries are found by polling")
			return
		}
		if listened {
			retry = time.Second
		}
		d.logger.WarnContext(ctx, "webhook: LISTEN connection lost; polling until it is back", "err", err, "retry_in", retry)
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		retry = min(2*retry, maxListenRetry)
	}
}

// listenOnce holds one connection in LISTEN until it fails or ctx ends;
// the connection is then discarded, never returned to the pool.
func (d *Dispatcher) listenOnce(ctx context.Context, self string, wake chan struct{}) (listened bool, err error) {
	conn, err := d.s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var werr error
	rerr := conn.Raw(func(dc any) error {
		pc := pgxConn(dc)
		if pc == nil {
			werr = errNoListen
			return nil
		}
		if _, err := pc.Exec(ctx, "LISTEN "+pgx.Identifier{d.channel}.Sanitize()); err != nil {
			werr = err
			return driver.ErrBadConn
		}
		listened = true
		signal(wake) // what committed before LISTEN took effect
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				werr = err
				return driver.ErrBadConn
			}
			if n.Payload != self {
				signal(wake)
			}
		}
	})
	if werr == nil {
		werr = rerr
	}
	return listened, werr
}

// pgxConn returns the pgx connection under a database/sql driver
// connection, unwrapping wrappers with Unwrap() driver.Conn (such as
// telemetry's), or nil.
func pgxConn(dc any) *pgx.Conn {
	for range 8 {
		switch c := dc.(type) {
		case interface{ Conn() *pgx.Conn }:
			return c.Conn()
		case interface{ Unwrap() driver.Conn }:
			dc = c.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// announce sends a NOTIFY after each local commit signalled on sig, at
// most one per notifyGap (the commits in between share it), from its own
// statement on the pool: never inside a writer's transaction, where NOTIFY
// would serialize every committing writer.
func (d *Dispatcher) announce(ctx context.Context, self string, sig <-chan struct{}) {
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		if _, err := d.s.db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, d.channel, self); err != nil && ctx.Err() == nil {
			d.logger.DebugContext(ctx, "webhook: NOTIFY failed; other pods will poll", "err", err)
		}
		t.Reset(notifyGap)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// validChannel reports whether c is a plain lower-case identifier.
func validChannel(c string) bool {
	if len(c) == 0 || len(c) > 63 || c[0] < 'a' || c[0] > 'z' {
		return false
	}
	for i := 0; i < len(c); i++ {
		if ch := c[i]; !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

// json returns the counts as a JSON object, for the claim query.
func (h *heldCounts) json() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.n) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(h.n)
	return string(b)
}

// Dispatch claims the deliveries due now (at most Batch, round-robin across
// organizations), sends them (Concurrency at a time, at most
// OrganizationConcurrency of one organization), records the outcomes and
// returns how many it handled. Run is the usual way to deliver; Dispatch
// suits tests and cron-style hosts.
func (d *Dispatcher) Dispatch(ctx context.Context) (int, error) {
	jobs, err := d.claim(ctx, d.batch, "{}", d.batch)
	if err != nil {
		return 0, err
	}
	// Start jobs in claim order, skipping those of an organization at its
	// bound until one of its POSTs ends.
	pending := jobs
	inFlight := map[string]int{}
	done := make(chan string)
	running := 0
	for len(pending) > 0 || running > 0 {
		for i := 0; i < len(pending) && running < d.concurrency; {
			j := pending[i]
			if inFlight[j.orgID] >= d.orgConc {
				i++
				continue
			}
			pending = slices.Delete(pending, i, i+1)
			inFlight[j.orgID]++
			running++
			go func() {
				d.process(ctx, j)
				done <- j.orgID
			}()
		}
		org := <-done
		inFlight[org]--
		running--
	}
	if _, err := d.Backlog(ctx); err != nil {
		return len(jobs), err
	}
	return len(jobs), nil
}

// job is a claimed delivery with what sending it needs.
type job struct {
	id, token      string
	leaseUntil     time.Time
	attempts       int
	rank           int
	due            time.Time
	created        time.Time
	eventID        string
	eventType      string
	eventScope     string
	eventAt        time.Time
	payload        []byte
	orgID          string
	endpointFound  bool
	endpointID     string
	keyID          string
	url            string
	enabled        bool
	secret         string
	oldSecret      string
	oldSecretUntil tenancy.Time
}

// claim reserves up to n due deliveries for this dispatcher until
// now+Lease and loads them. Due means next_attempt_at <= now, with now from
// the dispatcher's clock, and no live lease.
//
// Claims are fair across organizations: due deliveries are ranked within
// their organization by due time and taken by rank, then due time, so
// every organization's oldest due delivery comes before any
// organization's second. An organization holding held[org] deliveries
// (held is a JSON object of counts) gets at most perOrg-held[org] more.
//
// The candidates come from a skip scan of the index of pending deliveries
// by organization and due time (gatehouse_webhook_deliveries_org_due_idx):
// one probe per organization with pending deliveries, then at most
// min(perOrg, n) of its due ones, so the cost grows with the number of
// such organizations, not with the backlog. On PostgreSQL one statement
// ranks the candidates (no lock: window functions take no locking
// clause), then locks up to n of them in rank order with FOR UPDATE SKIP
// LOCKED, re-checking that each is still due and unleased, and leases
// them: a candidate another dispatcher claimed meanwhile is skipped, or
// fails the re-check once that claim committed; never claimed twice. On
// SQLite the candidates are read first, outside the write lock, and the
// lease is an UPDATE of those ids that re-checks the same conditions.
//
// On PostgreSQL the claim commits without waiting for its WAL flush
// (synchronous_commit off for that statement alone): a claim lost in a
// crash only makes the delivery claimable again, which at-least-once
// delivery allows, and the outcome's transaction, synchronous as before,
// flushes it anyway. It saves one fsync between a commit and its POST.
func (d *Dispatcher) claim(ctx context.Context, n int, held string, perOrg int) ([]job, error) {
	if n <= 0 {
		return nil, nil
	}
	s := d.s
	now := d.now()
	token := uuid.New()
	per := min(perOrg, n)
	var ids []string
	var err error
	if s.dialect == tenancy.Postgres {
		ids, err = queryIDs(ctx, s.db, `WITH RECURSIVE orgs AS (
			(SELECT organization_id AS org FROM gatehouse_webhook_deliveries WHERE state = 'pending' ORDER BY organization_id LIMIT 1)
			UNION ALL
			SELECT (SELECT organization_id FROM gatehouse_webhook_deliveries WHERE state = 'pending' AND organization_id > o.org ORDER BY organization_id LIMIT 1)
			FROM orgs o WHERE o.org IS NOT NULL
		), ranked AS (
			SELECT c.id, c.next_attempt_at, c.rn FROM orgs o
			LEFT JOIN jsonb_each_text($5::jsonb) h ON h.key = o.org
			CROSS JOIN LATERAL (
				SELECT id, next_attempt_at, ROW_NUMBER() OVER (ORDER BY next_attempt_at) AS rn FROM (
					SELECT id, next_attempt_at FROM gatehouse_webhook_deliveries
					WHERE organization_id = o.org AND state = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
					ORDER BY next_attempt_at
					LIMIT GREATEST(0, $6 - COALESCE(h.value::int, 0))) due
			) c
			WHERE o.org IS NOT NULL
		), picked AS (
			SELECT id, rn, next_attempt_at FROM ranked ORDER BY rn, next_attempt_at LIMIT $7
		), locked AS (
			SELECT dl.id FROM gatehouse_webhook_deliveries dl JOIN picked p ON p.id = dl.id
			WHERE dl.state = 'pending' AND dl.next_attempt_at <= $1 AND (dl.locked_until IS NULL OR dl.locked_until <= $1)
			ORDER BY p.rn, p.next_attempt_at
			LIMIT $2
			FOR UPDATE OF dl SKIP LOCKED
		)
		UPDATE gatehouse_webhook_deliveries AS d SET locked_until = $3, lock_token = $4
		FROM locked WHERE d.id = locked.id AND set_config('synchronous_commit', 'off', true) IS NOT NULL
		RETURNING d.id`, s.t(now), n, s.t(now.Add(d.lease)), token, held, per, 2*n)
	} else {
		var cand []string
		cand, err = queryIDs(ctx, s.db, `WITH RECURSIVE orgs(org) AS (
			SELECT MIN(organization_id) FROM gatehouse_webhook_deliveries WHERE state = 'pending'
			UNION ALL
			SELECT (SELECT MIN(organization_id) FROM gatehouse_webhook_deliveries WHERE state = 'pending' AND organization_id > orgs.org)
			FROM orgs WHERE orgs.org IS NOT NULL
		), ranked AS (
			SELECT dl.id, dl.organization_id, dl.next_attempt_at,
				ROW_NUMBER() OVER (PARTITION BY dl.organization_id ORDER BY dl.next_attempt_at) AS rn
			FROM orgs JOIN gatehouse_webhook_deliveries dl ON dl.id IN (
				SELECT id FROM gatehouse_webhook_deliveries
				WHERE organization_id = orgs.org AND state = 'pending' AND next_attempt_at <= ?1 AND (locked_until IS NULL OR locked_until <= ?1)
				ORDER BY next_attempt_at LIMIT ?2)
		)
		SELECT r.id FROM ranked r LEFT JOIN json_each(?3) h ON h.key = r.organization_id
		WHERE r.rn <= ?2 - COALESCE(h.value, 0)
		ORDER BY r.rn, r.next_attempt_at
		LIMIT ?4`, s.t(now), per, held, n)
		if err == nil && len(cand) > 0 {
			args := make([]any, 0, len(cand)+3)
			args = append(args, s.t(now.Add(d.lease)), token, s.t(now))
			for _, id := range cand {
				args = append(args, id)
			}
			ids, err = queryIDs(ctx, s.db, `UPDATE gatehouse_webhook_deliveries SET locked_until = ?1, lock_token = ?2
				WHERE state = 'pending' AND next_attempt_at <= ?3 AND (locked_until IS NULL OR locked_until <= ?3)
				AND id IN (?4`+strings.Repeat(", ?", len(cand)-1)+`)
				RETURNING id`, args...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: claim: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return d.load(ctx, ids, token, now.Add(d.lease))
}

// queryIDs runs a query returning one text column.
func queryIDs(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// load reads the claimed deliveries with their events and endpoints.
func (d *Dispatcher) load(ctx context.Context, ids []string, token string, leaseUntil time.Time) ([]job, error) {
	s := d.s
	args := make([]any, 0, len(ids)+1)
	args = append(args, token)
	for _, id := range ids {
		args = append(args, id)
	}
	q := s.q(`SELECT dl.id, dl.attempts, dl.created_at, dl.next_attempt_at, dl.organization_id, dl.endpoint_id,
		ev.id, ev.type, ev.scope, ev.payload, ev.created_at,
		ep.id, ep.key_id, ep.url, ep.enabled, ep.secret, ep.old_secret, ep.old_secret_until
		FROM gatehouse_webhook_deliveries dl
		JOIN gatehouse_webhook_events ev ON ev.id = dl.event_id
		LEFT JOIN gatehouse_webhook_endpoints ep ON ep.id = dl.endpoint_id
		WHERE dl.lock_token = ? AND dl.id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("webhook: load claimed: %w", err)
	}
	defer rows.Close()
	jobs := make([]job, 0, len(ids))
	for rows.Next() {
		var (
			j                           job
			created, eventAt, due       tenancy.Time
			payload                     string
			epID, keyID, u, secret, old sql.NullString
			enabled                     sql.NullBool
		)
		if err := rows.Scan(&j.id, &j.attempts, &created, &due, &j.orgID, &j.endpointID,
			&j.eventID, &j.eventType, &j.eventScope, &payload, &eventAt,
			&epID, &keyID, &u, &enabled, &secret, &old, &j.oldSecretUntil); err != nil {
			return nil, fmt.Errorf("webhook: load claimed: %w", err)
		}
		j.token, j.leaseUntil = token, leaseUntil
		j.created, j.eventAt, j.due = created.Time, eventAt.Time, due.Time
		j.payload = []byte(payload)
		j.endpointFound = epID.Valid
		j.keyID, j.url, j.enabled, j.secret, j.oldSecret = keyID.String, u.String, enabled.Bool, secret.String, old.String
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook: load claimed: %w", err)
	}
	roundRobin(jobs)
	return jobs, nil
}

// roundRobin orders jobs as claim ranks them: by rank within the
// organization, then by due time.
func roundRobin(jobs []job) {
	slices.SortStableFunc(jobs, func(a, b job) int { return a.due.Compare(b.due) })
	rank := make(map[string]int, 8)
	for i := range jobs {
		rank[jobs[i].orgID]++
		jobs[i].rank = rank[jobs[i].orgID]
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(a.rank, b.rank) })
}

// backoff returns the delay after failed attempt n (from 1), with jitter.
func (d *Dispatcher) backoff(n int) time.Duration {
	delay := float64(d.retryBase) * math.Pow(retryFactor, float64(n-1))
	delay = min(delay, float64(d.retryMax))
	if d.jitter > 0 {
		delay *= 1 + d.jitter*(2*d.rand()-1)
	}
	return time.Duration(delay)
}

// result is the outcome of one attempt, before it is recorded.
type result struct {
	status   int
	duration time.Duration
	err      string
	ok       bool
}

// process handles one claimed delivery to the end.
func (d *Dispatcher) process(ctx context.Context, j job) {
	if !d.now().Before(j.leaseUntil.Add(-d.timeout)) {
		// Too late to send within the lease: another dispatcher may
		// claim it any moment. Give it back instead.
		d.unclaim(ctx, j)
		return
	}
	if !j.endpointFound || !j.enabled {
		// Deleted or disabled since the event: nothing to send.
		d.finish(ctx, j, "cancelled", nil)
		return
	}
	if d.s.apiOn != nil && !d.checkOrg(ctx, j) {
		return
	}
	if j.keyID != "" {
		reason, ok := d.checkKey(ctx, j)
		if !ok {
			return
		}
		if reason != "" {
			d.skip(ctx, j, reason)
			return
		}
	}
	d.inFlight.Add(1)
	res := d.send(ctx, j)
	d.inFlight.Add(-1)
	if !res.ok && ctx.Err() != nil {
		// Our caller gave up (Dispatch's context ended): not the
		// receiver's failure, so it does not count as an attempt.
		d.unclaim(context.WithoutCancel(ctx), j)
		return
	}
	// Record what happened even if our caller gives up now.
	d.record(context.WithoutCancel(ctx), j, res)
}

// ReasonAPIDisabled is the skip reason of a delivery dropped because its
// organization's API module stayed off for longer than the retention.
const ReasonAPIDisabled = "the organization's Developer API was switched off for longer than the retention"

// checkOrg pauses the deliveries of an organization whose API module is
// off: false means the delivery was given back (due again in a minute,
// not counted as an attempt) or, paused for longer than Retention,
// dropped.
func (d *Dispatcher) checkOrg(ctx context.Context, j job) bool {
	on, err := d.s.apiOn(ctx, j.orgID)
	if err != nil {
		d.logger.WarnContext(ctx, "webhook: organization check failed; delivery postponed", "organization_id", j.orgID, "err", err)
		d.release(ctx, j, d.now().Add(keyCheckRetry))
		return false
	}
	if on {
		return true
	}
	if d.now().Sub(j.created) >= d.retention {
		d.skip(ctx, j, ReasonAPIDisabled)
		return false
	}
	d.paused.Add(1)
	d.release(ctx, j, d.now().Add(pausedRetry))
	return false
}

// checkKey applies the owning key's current state: ok false means the
// delivery was released or the endpoint disabled (nothing more to do); a
// reason means skip the event.
func (d *Dispatcher) checkKey(ctx context.Context, j job) (reason string, ok bool) {
	s := d.s
	if s.keyCheck == nil {
		return "Options.KeyCheck is not configured; events of key-owned endpoints are not sent", true
	}
	granted, active, err := s.keyCheck(ctx, j.orgID, j.keyID)
	if err != nil {
		d.logger.WarnContext(ctx, "webhook: key check failed; delivery postponed", "endpoint_id", j.endpointID, "key_id", j.keyID, "err", err)
		d.release(ctx, j, d.now().Add(keyCheckRetry))
		return "", false
	}
	if !active {
		now := d.now().UTC()
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if err := d.logAttempt(ctx, tx, j, Attempt{Number: j.attempts, Outcome: OutcomeSkipped, Error: ReasonKeyInactive, CreatedAt: now}); err != nil {
				return err
			}
			return s.disable(ctx, tx, j.orgID, j.endpointID, ReasonKeyInactive, now)
		})
		if err != nil {
			d.logger.ErrorContext(ctx, "webhook: disable endpoint of inactive key", "endpoint_id", j.endpointID, "err", err)
			return "", false
		}
		d.skipped.Add(1)
		d.disabled.Add(1)
		return "", false
	}
	if !granted.Has(scope.Scope(j.eventScope)) {
		return "the API key that created this endpoint lacks the scope " + j.eventScope, true
	}
	return "", true
}

// send signs and POSTs the payload.
func (d *Dispatcher) send(ctx context.Context, j job) result {
	start := time.Now()
	sigs, err := d.signatures(j)
	if err != nil {
		d.logger.ErrorContext(ctx, "webhook: signing secret unavailable", "endpoint_id", j.endpointID, "err", err)
		return result{err: "signing secret unavailable"}
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.payload))
	if err != nil {
		return result{err: "invalid target URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.userAgent)
	req.Header[HeaderID] = []string{j.eventID}
	ts := d.now().Unix()
	req.Header[HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	req.Header[HeaderSignature] = []string{sigs(ts)}
	resp, err := d.client.Do(req)
	if err != nil {
		return result{duration: time.Since(start), err: describe(err, d.timeout)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, d.maxResp))
	_ = resp.Body.Close()
	res := result{status: resp.StatusCode, duration: time.Since(start)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.ok = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.err = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	default:
		res.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return res
}

// signatures opens the endpoint's secrets and returns a function of the
// timestamp giving the webhook-signature value: one v1 signature per live
// secret, the current one first.
func (d *Dispatcher) signatures(j job) (func(ts int64) string, error) {
	kr := d.s.keyring
	cur, err := kr.Open(j.secret, []byte(j.endpointID))
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, 0, 2)
	k, err := secretKey(string(cur))
	if err != nil {
		return nil, err
	}
	keys = append(keys, k)
	if j.oldSecret != "" && j.oldSecretUntil.Valid && d.now().Before(j.oldSecretUntil.Time) {
		old, err := kr.Open(j.oldSecret, []byte(j.endpointID))
		if err != nil {
			return nil, err
		}
		k, err := secretKey(string(old))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return func(ts int64) string {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "v1," + sign(k, j.eventID, ts, j.payload)
		}
		return strings.Join(parts, " ")
	}, nil
}

// describe turns a client error into a short log text: never the URL (it
// may carry credentials in its query), never the secret.
func describe(err error, timeout time.Duration) string {
	var re *refusedError
	if errors.As(err, &re) {
		return strings.TrimPrefix(re.Error(), "webhook: ")
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout after " + timeout.String()
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection refused"
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return "connection reset"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "DNS lookup failed: " + dnsErr.Err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// record stores the outcome of an attempt: success, a retry, or the end of
// the budget (which disables the endpoint when nothing reached it since the
// delivery began).
func (d *Dispatcher) record(ctx context.Context, j job, res result) {
	s := d.s
	now := d.now().UTC()
	n := j.attempts + 1
	a := Attempt{Number: n, StatusCode: res.status, Duration: res.duration, Error: res.err, CreatedAt: now}
	state := "pending"
	var next time.Time
	switch {
	case res.ok:
		state, a.Outcome = "succeeded", OutcomeSucceeded
	case n < d.maxAttempts:
		a.Outcome = OutcomeRetrying
		next = now.Add(d.backoff(n))
		a.NextAttemptAt = &next
	default:
		state, a.Outcome = "failed", OutcomeFailed
	}
	disabled := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		nextArg := s.t(now)
		if !next.IsZero() {
			nextArg = s.t(next)
		}
		r, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_deliveries
			SET state = ?, attempts = ?, next_attempt_at = ?, locked_until = NULL, lock_token = NULL, updated_at = ?
			WHERE id = ? AND lock_token = ?`), state, n, nextArg, s.t(now), j.id, j.token)
		if err != nil {
			return err
		}
		if c, _ := r.RowsAffected(); c == 0 {
			return errLeaseLost
		}
		if err := d.logAttempt(ctx, tx, j, a); err != nil {
			return err
		}
		if res.ok {
			// At most one write a minute per endpoint: a busy endpoint's
			// row is not a point of contention between dispatchers.
			_, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_endpoints SET last_success_at = ?
				WHERE id = ? AND (last_success_at IS NULL OR last_success_at < ?)`), s.t(now), j.endpointID, s.t(now.Add(-successResolution)))
			return err
		}
		if state != "failed" {
			return nil
		}
		var last tenancy.Time
		if err := tx.QueryRowContext(ctx, s.q(`SELECT last_success_at FROM gatehouse_webhook_endpoints WHERE id = ?`), j.endpointID).Scan(&last); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		if last.Valid && !last.Time.Before(j.created) {
			return nil
		}
		disabled = true
		reason := fmt.Sprintf("delivery of %s (%s) failed %d times; last error: %s", j.eventID, j.eventType, n, res.err)
		return s.disable(ctx, tx, j.orgID, j.endpointID, reason, now)
	})
	if errors.Is(err, errLeaseLost) {
		d.logger.WarnContext(ctx, "webhook: delivery lease lost before its outcome was recorded; it may be sent twice",
			"delivery_id", j.id, "event_id", j.eventID)
		return
	}
	if err != nil {
		d.logger.ErrorContext(ctx, "webhook: record delivery", "delivery_id", j.id, "err", err)
		return
	}
	d.attempts.Add(1)
	switch a.Outcome {
	case OutcomeSucceeded:
		d.successes.Add(1)
	case OutcomeFailed:
		d.failures.Add(1)
		d.exhausted.Add(1)
	default:
		d.failures.Add(1)
	}
	if disabled {
		d.disabled.Add(1)
		d.logger.WarnContext(ctx, "webhook: endpoint disabled after repeated failures", "endpoint_id", j.endpointID, "organization_id", j.orgID)
	}
	d.observe(ctx, j, a)
}

var errLeaseLost = errors.New("webhook: lease lost")

// skip records a delivery that is not sent because the owning key may not
// read the event.
func (d *Dispatcher) skip(ctx context.Context, j job, reason string) {
	now := d.now().UTC()
	a := Attempt{Number: j.attempts, Outcome: OutcomeSkipped, Error: reason, CreatedAt: now}
	if d.finish(ctx, j, "skipped", &a) {
		d.skipped.Add(1)
		d.observe(ctx, j, a)
	}
}

// finish ends a delivery without sending it, logging a when set.
func (d *Dispatcher) finish(ctx context.Context, j job, state string, a *Attempt) bool {
	s := d.s
	now := d.now().UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_deliveries SET state = ?, locked_until = NULL, lock_token = NULL, updated_at = ?
			WHERE id = ? AND lock_token = ?`), state, s.t(now), j.id, j.token)
		if err != nil {
			return err
		}
		if c, _ := r.RowsAffected(); c == 0 {
			return errLeaseLost
		}
		if a != nil {
			return d.logAttempt(ctx, tx, j, *a)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLeaseLost) {
		d.logger.ErrorContext(ctx, "webhook: finish delivery", "delivery_id", j.id, "err", err)
	}
	return err == nil
}

// release gives a claimed delivery back, due at next, without counting an
// attempt.
func (d *Dispatcher) release(ctx context.Context, j job, next time.Time) {
	s := d.s
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_deliveries SET next_attempt_at = ?, locked_until = NULL, lock_token = NULL, updated_at = ?
		WHERE id = ? AND lock_token = ?`), s.t(next), s.t(d.now()), j.id, j.token)
	if err != nil {
		d.logger.ErrorContext(ctx, "webhook: release delivery", "delivery_id", j.id, "err", err)
	}
}

// unclaim gives a claimed delivery back as it was, for any dispatcher to
// claim again.
func (d *Dispatcher) unclaim(ctx context.Context, j job) {
	s := d.s
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_deliveries SET locked_until = NULL, lock_token = NULL
		WHERE id = ? AND lock_token = ?`), j.id, j.token)
	if err != nil {
		d.logger.ErrorContext(ctx, "webhook: unclaim delivery", "delivery_id", j.id, "err", err)
	}
}

// logAttempt inserts a line of the delivery log.
func (d *Dispatcher) logAttempt(ctx context.Context, tx *sql.Tx, j job, a Attempt) error {
	s := d.s
	var next any
	if a.NextAttemptAt != nil {
		next = s.t(*a.NextAttemptAt)
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gatehouse_webhook_attempts
		(organization_id, endpoint_id, delivery_id, event_id, event_type, attempt, outcome, status_code, duration_ms, error, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		j.orgID, j.endpointID, j.id, j.eventID, j.eventType, a.Number, a.Outcome, a.StatusCode, a.Duration.Milliseconds(), a.Error, next, s.t(a.CreatedAt))
	return err
}

func (d *Dispatcher) observe(ctx context.Context, j job, a Attempt) {
	if d.onAttempt == nil {
		return
	}
	a.OrganizationID, a.EndpointID, a.DeliveryID, a.EventID, a.EventType = j.orgID, j.endpointID, j.id, j.eventID, j.eventType
	a.Lag = a.CreatedAt.Sub(j.eventAt)
	d.onAttempt(ctx, a)
}

// Cleanup deletes what is older than Retention: the delivery log, finished
// deliveries, and events with no delivery left.
func (d *Dispatcher) Cleanup(ctx context.Context) error {
	s := d.s
	cutoff := s.t(d.now().Add(-d.retention))
	stmts := []string{
		`DELETE FROM gatehouse_webhook_attempts WHERE created_at < ?`,
		`DELETE FROM gatehouse_webhook_deliveries WHERE state <> 'pending' AND updated_at < ?`,
		`DELETE FROM gatehouse_webhook_events WHERE created_at < ? AND NOT EXISTS
			(SELECT 1 FROM gatehouse_webhook_deliveries dl WHERE dl.event_id = gatehouse_webhook_events.id)`,
	}
	for _, st := range stmts {
		if _, err := s.db.ExecContext(ctx, s.q(st), cutoff); err != nil {
			return fmt.Errorf("webhook: cleanup: %w", err)
		}
	}
	return nil
}

// Attempts returns the delivery log of an endpoint of the organization,
// newest first, at most limit lines (1–100; default 50 when limit <= 0).
func (s *Service) Attempts(ctx context.Context, orgID, endpointID string, limit int) ([]Attempt, error) {
	if limit <= 0 {
		limit = defaultLogLimit
	}
	limit = min(limit, maxLogLimit)
	ep, err := s.Endpoint(ctx, orgID, endpointID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT delivery_id, event_id, event_type, attempt, outcome, status_code, duration_ms, error, next_attempt_at, created_at
		FROM gatehouse_webhook_attempts WHERE organization_id = ? AND endpoint_id = ? ORDER BY seq DESC LIMIT ?`), orgID, ep.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhook: delivery log: %w", err)
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var (
			a             Attempt
			ms            int64
			next, created tenancy.Time
		)
		if err := rows.Scan(&a.DeliveryID, &a.EventID, &a.EventType, &a.Number, &a.Outcome, &a.StatusCode, &ms, &a.Error, &next, &created); err != nil {
			return nil, fmt.Errorf("webhook: delivery log: %w", err)
		}
		a.OrganizationID, a.EndpointID = orgID, ep.ID
		a.Duration = time.Duration(ms) * time.Millisecond
		a.NextAttemptAt, a.CreatedAt = next.Ptr(), created.Time
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook: delivery log: %w", err)
	}
	return out, nil
}
