package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

// throttle is the method set the authentication middleware expects.
type throttle interface {
	Allow(r *http.Request) error
	Failed(r *http.Request)
}

var _ throttle = (*ratelimit.FailedAuth)(nil)

func newFailedAuth(t *testing.T, opts ratelimit.FailedAuthOptions) *ratelimit.FailedAuth {
	t.Helper()
	f, err := ratelimit.NewFailedAuth(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func requestFrom(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestFailedAuthDefaultLimit(t *testing.T) {
	t.Parallel()
	c := newClock()
	mem := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: mem})
	r := requestFrom("192.0.2.1:4000")
	// Successful requests only ask: they never use up the allowance.
	for range 100 {
		if err := f.Allow(r); err != nil {
			t.Fatalf("Allow before any failure: %v", err)
		}
	}
	for i := range 20 {
		if err := f.Allow(r); err != nil {
			t.Fatalf("Allow after %d failures: %v", i, err)
		}
		f.Failed(r)
	}
	err := f.Allow(r)
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Status != http.StatusTooManyRequests || ge.Msg != gatehouse.MsgRateLimited || ge.Header.Get("Retry-After") != "3" {
		t.Fatalf("Allow after 20 failures: %#v, want 429 Rate limit exceeded with Retry-After 3", err)
	}
	// Another address is not affected; the same address via another port is.
	if err := f.Allow(requestFrom("192.0.2.2:4000")); err != nil {
		t.Fatalf("other IP: %v", err)
	}
	if err := f.Allow(requestFrom("192.0.2.1:5000")); err == nil {
		t.Fatal("same IP, other port: allowed")
	}
	// 20 a minute: one more attempt every 3 s.
	c.Advance(3 * time.Second)
	if err := f.Allow(r); err != nil {
		t.Fatalf("3 s later: %v", err)
	}
	f.Failed(r)
	if err := f.Allow(r); err == nil {
		t.Fatal("after the refilled attempt failed: allowed")
	}
}

func TestFailedAuthTrustedProxy(t *testing.T) {
	t.Parallel()
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{
		Limit:    ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Hour},
		ClientIP: gatehouse.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	})
	for range 2 {
		f.Failed(requestFrom("10.0.0.5:1", "198.51.100.7"))
	}
	if err := f.Allow(requestFrom("10.0.0.9:1", "198.51.100.7, 10.0.0.5")); err == nil {
		t.Fatal("client behind the proxies: allowed after 2 failures")
	}
	if err := f.Allow(requestFrom("10.0.0.5:1", "198.51.100.8")); err != nil {
		t.Fatalf("another client behind the same proxy: %v", err)
	}
	// An untrusted peer's X-Forwarded-For is ignored: it cannot dodge the
	// limit by inventing addresses.
	for _, fake := range []string{"1.1.1.1", "2.2.2.2"} {
		f.Failed(requestFrom("203.0.113.1:1", fake))
	}
	if err := f.Allow(requestFrom("203.0.113.1:1", "3.3.3.3")); err == nil {
		t.Fatal("untrusted peer with invented X-Forwarded-For: allowed")
	}
}

func TestNewFailedAuthErrors(t *testing.T) {
	t.Parallel()
	noPeek := ratelimit.LimiterFunc(func(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
		return ratelimit.Result{Allowed: true}, nil
	})
	cases := []struct {
		name string
		opts ratelimit.FailedAuthOptions
	}{
		{"limiter without Peek", ratelimit.FailedAuthOptions{Limiter: noPeek}},
		{"invalid limit", ratelimit.FailedAuthOptions{Limit: ratelimit.Limit{Rate: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ratelimit.NewFailedAuth(tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// peekFunc is a limiter whose Allow and Peek both fail with err.
type peekFunc struct{ err error }

func (p peekFunc) Allow(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{}, p.err
}

func (p peekFunc) Peek(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{}, p.err
}

func TestFailedAuthLimiterErrors(t *testing.T) {
	t.Parallel()
	t.Run("fail open", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: peekFunc{errors.New("redis down")}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		r := requestFrom("192.0.2.1:1")
		f.Failed(r) // makes the IP a suspect, so Allow asks the limiter
		if err := f.Allow(r); err != nil {
			t.Fatalf("Allow: %v, want nil (fail open)", err)
		}
		if !bytes.Contains(logs.Bytes(), []byte("redis down")) || bytes.Count(logs.Bytes(), []byte("\n")) != 2 {
			t.Fatalf("logs: %s", logs.String())
		}
	})
	t.Run("gatehouse error", func(t *testing.T) {
		t.Parallel()
		closed := gatehouse.NewError(http.StatusServiceUnavailable, "Rate limiter unavailable")
		f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: peekFunc{closed}, Logger: slog.New(slog.DiscardHandler)})
		f.Failed(requestFrom("192.0.2.1:1"))
		if err := f.Allow(requestFrom("192.0.2.1:1")); gatehouse.StatusOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("Allow: %v, want the 503", err)
		}
	})
}

func TestFailedAuthAsksOnlyAboutSuspects(t *testing.T) {
	t.Parallel()
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var peeks atomic.Int64
	lim := peekCounter{mem: mem, peeks: &peeks}
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: lim, Limit: ratelimit.PerMinute(2)})
	good, bad := requestFrom("192.0.2.1:1"), requestFrom("192.0.2.2:1")
	for range 100 {
		if err := f.Allow(good); err != nil {
			t.Fatal(err)
		}
	}
	if peeks.Load() != 0 {
		t.Fatalf("%d limiter calls for an IP that never failed", peeks.Load())
	}
	f.Failed(bad)
	f.Failed(bad)
	if err := f.Allow(bad); gatehouse.StatusOf(err) != http.StatusTooManyRequests || peeks.Load() != 1 {
		t.Fatalf("Allow after the limit: %v (%d peeks)", err, peeks.Load())
	}
	if err := f.Allow(good); err != nil || peeks.Load() != 1 {
		t.Fatalf("good IP: %v (%d peeks)", err, peeks.Load())
	}
}

type peekCounter struct {
	mem   *ratelimit.Memory
	peeks *atomic.Int64
}

func (p peekCounter) Allow(ctx context.Context, k string, l ratelimit.Limit) (ratelimit.Result, error) {
	return p.mem.Allow(ctx, k, l)
}

func (p peekCounter) Peek(ctx context.Context, k string, l ratelimit.Limit) (ratelimit.Result, error) {
	p.peeks.Add(1)
	return p.mem.Peek(ctx, k, l)
}

// TestFailedAuthAllowAllocatesNothing: the check that runs before every
// key lookup costs no allocation for a client that never failed.
func TestFailedAuthAllowAllocatesNothing(t *testing.T) {
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{})
	r := requestFrom("192.0.2.7:1")
	if n := testing.AllocsPerRun(100, func() {
		if err := f.Allow(r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Allow allocates %v times", n)
	}
}

// TestFailedAuthIPv6CountsPerSlash64: addresses of one IPv6 /64 share a
// budget (hopping within it gains nothing); the next /64 and IPv4 do not.
func TestFailedAuthIPv6CountsPerSlash64(t *testing.T) {
	t.Parallel()
	mem := newMemory(t, ratelimit.MemoryOptions{})
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: mem, Limit: ratelimit.PerMinute(3)})
	for i, remote := range []string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::ffff:1:2:3]:1"} {
		if err := f.Allow(requestFrom(remote)); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		f.Failed(requestFrom(remote))
	}
	for _, tc := range []struct {
		remote  string
		blocked bool
	}{
		{"[2001:db8::99]:1", true},            // same /64
		{"[2001:db8:0:0:ab::1%eth0]:1", true}, // same /64, with a zone
		{"[2001:db8:0:1::1]:1", false},        // the next /64
		{"192.0.2.1:1", false},
		{"[::ffff:192.0.2.1]:1", false}, // IPv4-mapped: the IPv4 address
	} {
		if err := f.Allow(requestFrom(tc.remote)); (err != nil) != tc.blocked {
			t.Errorf("%s: Allow = %v, want blocked %v", tc.remote, err, tc.blocked)
		}
	}
}

// TestFailedAuthCountsAfterClientHangsUp: Failed counts with a request
// whose context is already cancelled.
func TestFailedAuthCountsAfterClientHangsUp(t *testing.T) {
	t.Parallel()
	mem := newMemory(t, ratelimit.MemoryOptions{})
	lim := &ctxLimiter{Memory: mem}
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{Limiter: lim, Limit: ratelimit.PerMinute(1)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := requestFrom("192.0.2.7:1").WithContext(ctx)
	f.Failed(r)
	if lim.calls.Load() != 1 {
		t.Fatalf("limiter calls with a hung-up client: %d, want 1", lim.calls.Load())
	}
	if err := f.Allow(requestFrom("192.0.2.7:1")); err == nil {
		t.Fatal("the failure of a client that hung up was not counted")
	}
}

// TestAdminTokenFailuresLoggedOncePerAddress: with Warn set, the first
// failure of each address in a period is logged at warn, and only that one.
func TestAdminTokenFailuresLoggedOncePerAddress(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	f := newFailedAuth(t, ratelimit.FailedAuthOptions{Logger: logger, Warn: "admin token"})
	for range 50 {
		f.Failed(requestFrom("192.0.2.8:1"))
	}
	f.Failed(requestFrom("192.0.2.9:1"))
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Fatalf("%d warn lines, want 2 (one per address):\n%s", n, out)
	}
	if !strings.Contains(out, "admin token") || !strings.Contains(out, "client_ip=192.0.2.8") || !strings.Contains(out, "client_ip=192.0.2.9") {
		t.Fatalf("log lines lack the name or address:\n%s", out)
	}
}

// ctxLimiter is a Memory that fails, like a network limiter, once ctx is
// done.
type ctxLimiter struct {
	*ratelimit.Memory
	calls atomic.Int64
}

func (c *ctxLimiter) Allow(ctx context.Context, k string, l ratelimit.Limit) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, err
	}
	c.calls.Add(1)
	return c.Memory.Allow(ctx, k, l)
}
