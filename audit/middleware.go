package audit

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/internal/respwriter"
	"gatehouse.dev/internal/uuid"
)

// Default bounds of the recorded request strings.
const (
	DefaultMaxUserAgent = 256
	DefaultMaxPath      = 2048
)

// Options configures [New].
type Options struct {
	// Key, when set, names the API key that authenticated r and its
	// organization; ok false means the request is not recorded. It runs on
	// the incoming request, before the handler, so whatever it reads must
	// be in place before this middleware runs. Nil means the request's
	// gatehouse.Caller (KeyID and OrgID), read once the handler has
	// returned, so the middleware may sit outside or inside the
	// authentication middleware; a request without a caller (refused by
	// authentication) is not recorded.
	Key func(r *http.Request) (keyID, orgID string, ok bool)
	// Sink receives the entries: a [*Recorder] in front of a shared backend,
	// or a [*Memory] in a single process. Required.
	Sink Sink
	// ClientIP finds the client address. The zero value never trusts
	// X-Forwarded-For; set TrustedProxies to the networks of the proxies in
	// front of the service.
	ClientIP gatehouse.ClientIP
	// MaxUserAgent bounds the recorded User-Agent in bytes (cut at a rune
	// boundary). Zero means [DefaultMaxUserAgent].
	MaxUserAgent int
	// MaxPath bounds the recorded path in bytes. Zero means
	// [DefaultMaxPath].
	MaxPath int
	// Now defaults to time.Now.
	Now func() time.Time
}

// Middleware records one [Entry] per request of a caller, after the
// handler returns.
type Middleware struct {
	key      func(r *http.Request) (keyID, orgID string, ok bool)
	sink     Sink
	clientIP gatehouse.ClientIP
	maxUA    int
	maxPath  int
	now      func() time.Time
	since    func(time.Time) time.Duration // time.Since, or the injected clock's
	ips      ipCache
}

// New returns the audit middleware, or an error when Sink is missing.
func New(opts Options) (*Middleware, error) {
	if opts.Sink == nil {
		return nil, errors.New("audit: Options.Sink is required")
	}
	if opts.MaxUserAgent < 0 || opts.MaxPath < 0 {
		return nil, errors.New("audit: Options.MaxUserAgent and MaxPath must not be negative")
	}
	m := &Middleware{
		ips:      ipCache{seed: rand.Uint64()},
		key:      opts.Key,
		sink:     opts.Sink,
		clientIP: opts.ClientIP,
		maxUA:    opts.MaxUserAgent,
		maxPath:  opts.MaxPath,
		now:      opts.Now,
	}
	if m.maxUA == 0 {
		m.maxUA = DefaultMaxUserAgent
	}
	if m.maxPath == 0 {
		m.maxPath = DefaultMaxPath
	}
	if m.now == nil {
		// time.Since reads only the monotonic clock, about half the cost
		// of time.Now.
		m.now, m.since = time.Now, time.Since
	} else {
		now := m.now
		m.since = func(t time.Time) time.Duration { return now().Sub(t) }
	}
	return m, nil
}

// Wrap returns next wrapped. For each request of a caller (see
// Options.Key) it records, once next has returned (or panicked, as status 500): the start
// time (UTC, milliseconds), the request id of [gatehouse.RequestID] (a fresh
// one without it), method, path without the query, the route pattern
// recorded by the router ([gatehouse.RouteFromContext]), status, duration,
// client IP, the truncated User-Agent and the operations the handler
// recorded ([gatehouse.OperationsFromContext], e.g. GraphQL root fields). Headers, query, bodies and the key
// are never recorded.
//
// Without Options.Key, a request without per-request state gets one first
// (gatehouse.WithRequestState), which the authentication middleware inside
// then records the caller in.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keyID, orgID string
		if m.key != nil {
			var ok bool
			if keyID, orgID, ok = m.key(r); !ok {
				next.ServeHTTP(w, r)
				return
			}
		} else {
			r = gatehouse.WithRequestState(w, r)
		}
		start := m.now()
		rw := respwriter.Wrap(w)
		completed := false
		defer func() {
			status := rw.Status()
			if !completed {
				status = http.StatusInternalServerError
			}
			if m.key == nil {
				c, ok := gatehouse.CallerFromContext(r.Context())
				if !ok {
					return
				}
				keyID, orgID = c.KeyID, c.OrgID
			}
			m.record(r, keyID, orgID, start, status)
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
}

func (m *Middleware) record(r *http.Request, keyID, orgID string, start time.Time, status int) {
	ctx := r.Context()
	id := gatehouse.RequestIDFromContext(ctx)
	if id == "" {
		id = uuid.New()
	}
	d := m.since(start)
	if d < 0 {
		d = 0
	}
	m.sink.Record(Entry{
		Time:           start.UTC().Truncate(time.Millisecond),
		RequestID:      id,
		KeyID:          keyID,
		OrganizationID: orgID,
		Method:         r.Method,
		Route:          gatehouse.RouteFromContext(ctx),
		Path:           truncate(r.URL.Path, m.maxPath),
		Status:         status,
		DurationMS:     d.Milliseconds(),
		IP:             m.ips.text(m.clientIP.Addr(r)),
		UserAgent:      truncate(r.UserAgent(), m.maxUA),
		Operations:     gatehouse.OperationsFromContext(ctx),
	})
}

// ipCache remembers the text form of recent client addresses, so that a
// returning client's address is not formatted again (an allocation per
// request). It is direct-mapped: each slot holds the last address that
// hashed to it, so it never grows; a miss costs what formatting always
// cost plus the slot's small record.
type ipCache struct {
	seed  uint64
	slots [256]atomic.Pointer[ipText]
}

type ipText struct {
	addr netip.Addr
	text string
}

// text returns addr.String(), or "" for the zero Addr.
func (c *ipCache) text(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	b := addr.As16()
	h := (binary.LittleEndian.Uint64(b[:8]) ^ c.seed) * 0x9e3779b97f4a7c15
	h ^= binary.LittleEndian.Uint64(b[8:])
	h *= 0xff51afd7ed558ccd
	slot := &c.slots[h>>56] // the top byte depends on every bit of the address
	if t := slot.Load(); t != nil && t.addr == addr {
		return t.text
	}
	s := addr.String()
	slot.Store(&ipText{addr: addr, text: s})
	return s
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
