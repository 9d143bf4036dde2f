package ratelimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
})

// keyFromHeader limits by the X-Key header with the limit 3 per minute.
func keyFromHeader(r *http.Request) (string, ratelimit.Limit, bool) {
	k := r.Header.Get("X-Key")
	return k, ratelimit.PerMinute(3), k != ""
}

func newMiddleware(t *testing.T, opts ratelimit.Options) http.Handler {
	t.Helper()
	m, err := ratelimit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return gatehouse.RequestID(m.Wrap(okHandler))
}

func serve(h http.Handler, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	if key != "" {
		req.Header.Set("X-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestCallerKey: without Options.Key the bucket and limit are the
// request's gatehouse.Caller's; keys of one lineage share a bucket, and a
// request without a caller is not limited.
func TestCallerKey(t *testing.T) {
	t.Parallel()
	c := newClock()
	m, err := ratelimit.New(ratelimit.Options{Limiter: newMemory(t, ratelimit.MemoryOptions{Now: c.Now}), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap(okHandler)
	send := func(caller *gatehouse.Caller) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		if caller != nil {
			req = req.WithContext(gatehouse.NewCallerContext(req.Context(), *caller))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	old := &gatehouse.Caller{KeyID: "k1", OrgID: "o", RateLimitPerMinute: 2}
	rotated := &gatehouse.Caller{KeyID: "k2", Lineage: "k1", OrgID: "o", RateLimitPerMinute: 2}
	other := &gatehouse.Caller{KeyID: "k3", OrgID: "o", RateLimitPerMinute: 2}
	for i, tc := range []struct {
		caller *gatehouse.Caller
		code   int
		limit  string
	}{
		{old, 204, "2"}, {rotated, 204, "2"}, {old, 429, "2"}, {rotated, 429, "2"},
		{other, 204, "2"}, {nil, 204, ""}, {nil, 204, ""},
	} {
		rec := send(tc.caller)
		if rec.Code != tc.code || rec.Header().Get("X-RateLimit-Limit") != tc.limit {
			t.Fatalf("request %d: %d, limit %q", i, rec.Code, rec.Header().Get("X-RateLimit-Limit"))
		}
	}
}

func TestMiddlewareHeaders(t *testing.T) {
	t.Parallel()
	c := newClock()
	mem := newMemory(t, ratelimit.MemoryOptions{Now: c.Now})
	h := newMiddleware(t, ratelimit.Options{Key: keyFromHeader, Limiter: mem, Now: c.Now})
	reset := c.Now().Unix()
	type want struct {
		status                        int
		rateLimit, xRemaining, xReset string
		retryAfter                    string
	}
	steps := []struct {
		advance time.Duration
		want    want
	}{
		{0, want{204, `"default";r=2;t=20`, "2", fmtInt(reset + 20), ""}},
		{0, want{204, `"default";r=1;t=40`, "1", fmtInt(reset + 40), ""}},
		{0, want{204, `"default";r=0;t=60`, "0", fmtInt(reset + 60), ""}},
		{0, want{429, `"default";r=0;t=60`, "0", fmtInt(reset + 60), "20"}},
		{19500 * time.Millisecond, want{429, `"default";r=0;t=41`, "0", fmtInt(reset + 60), "1"}},
		{500 * time.Millisecond, want{204, `"default";r=0;t=60`, "0", fmtInt(reset + 80), ""}},
	}
	for i, s := range steps {
		c.Advance(s.advance)
		rec := serve(h, "k1")
		hdr := rec.Header()
		got := want{rec.Code, hdr.Get("RateLimit"), hdr.Get("X-RateLimit-Remaining"), hdr.Get("X-RateLimit-Reset"), hdr.Get("Retry-After")}
		if got != s.want {
			t.Fatalf("step %d: got %+v\nwant %+v", i, got, s.want)
		}
		if p := hdr.Get("RateLimit-Policy"); p != `"default";q=3;w=60` {
			t.Errorf("step %d: RateLimit-Policy = %q", i, p)
		}
		if l := hdr.Get("X-RateLimit-Limit"); l != "3" {
			t.Errorf("step %d: X-RateLimit-Limit = %q", i, l)
		}
		if rec.Code == http.StatusTooManyRequests {
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != "Rate limit exceeded" || body["request_id"] != hdr.Get("X-Request-Id") || len(body) != 2 {
				t.Errorf("429 body = %s", rec.Body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("429 Content-Type = %q", ct)
			}
		}
	}
	// Another key is untouched.
	if rec := serve(h, "k2"); rec.Code != 204 || rec.Header().Get("RateLimit") != `"default";r=2;t=20` {
		t.Fatalf("other key: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

func TestMiddlewareHeaderFamilies(t *testing.T) {
	t.Parallel()
	draft := []string{"RateLimit-Policy", "RateLimit"}
	x := []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
	cases := []struct {
		name          string
		noDraft, noX  bool
		present, gone []string
	}{
		{"both", false, false, append(append([]string{}, draft...), x...), nil},
		{"no draft", true, false, x, draft},
		{"no x", false, true, draft, x},
		{"none", true, true, nil, append(append([]string{}, draft...), x...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newMiddleware(t, ratelimit.Options{Key: keyFromHeader, DisableDraftHeaders: tc.noDraft, DisableXHeaders: tc.noX})
			for i := range 4 {
				rec := serve(h, "k")
				for _, name := range tc.present {
					if rec.Header().Get(name) == "" {
						t.Errorf("request %d: %s missing", i, name)
					}
				}
				for _, name := range tc.gone {
					if v := rec.Header().Get(name); v != "" {
						t.Errorf("request %d: %s = %q, want none", i, name, v)
					}
				}
				if i == 3 && (rec.Code != 429 || rec.Header().Get("Retry-After") == "") {
					t.Errorf("fourth request: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
				}
			}
		})
	}
}

func TestMiddlewareSkip(t *testing.T) {
	t.Parallel()
	called := false
	m, err := ratelimit.New(ratelimit.Options{
		Key: keyFromHeader,
		Limiter: ratelimit.LimiterFunc(func(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
			called = true
			return ratelimit.Result{}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := serve(m.Wrap(okHandler), "")
	if rec.Code != 204 || called || rec.Header().Get("RateLimit") != "" || rec.Header().Get("X-RateLimit-Limit") != "" {
		t.Fatalf("skipped request: %d, limiter called %v, headers %v", rec.Code, called, rec.Header())
	}
}

func TestMiddlewareRetryAfterRounding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		retry time.Duration
		want  string
	}{
		{time.Nanosecond, "1"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{59 * time.Second, "59"},
		{0, "1"},
	}
	for _, tc := range cases {
		t.Run(tc.retry.String(), func(t *testing.T) {
			t.Parallel()
			lim := ratelimit.LimiterFunc(func(_ context.Context, _ string, l ratelimit.Limit) (ratelimit.Result, error) {
				return ratelimit.Result{Limit: l, RetryAfter: tc.retry, ResetAfter: time.Minute}, nil
			})
			rec := serve(newMiddleware(t, ratelimit.Options{Key: keyFromHeader, Limiter: lim}), "k")
			if rec.Code != 429 || rec.Header().Get("Retry-After") != tc.want {
				t.Fatalf("RetryAfter %s: %d Retry-After %q, want 429 %q", tc.retry, rec.Code, rec.Header().Get("Retry-After"), tc.want)
			}
		})
	}
}

func TestMiddlewarePolicyWindow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		l    ratelimit.Limit
		want string
	}{
		{ratelimit.PerMinute(60), `"default";q=60;w=60`},
		{ratelimit.PerMinute(300), `"default";q=300;w=60`},
		{ratelimit.Limit{Rate: 5, Burst: 5, Period: 200 * time.Millisecond}, `"default";q=5;w=1`},
		{ratelimit.Limit{Rate: 100, Burst: 10, Period: time.Hour}, `"default";q=100;w=3600`},
		{ratelimit.Limit{Rate: 1, Burst: 1, Period: 1500 * time.Millisecond}, `"default";q=1;w=2`},
	}
	for _, tc := range cases {
		if got := ratelimit.PolicyHeader(tc.l); got != tc.want {
			t.Errorf("PolicyHeader(%+v) = %s, want %s", tc.l, got, tc.want)
		}
	}
	// Several limits through one middleware: the cached value follows.
	var lim ratelimit.Limit
	m, err := ratelimit.New(ratelimit.Options{Key: func(*http.Request) (string, ratelimit.Limit, bool) { return "k", lim, true }})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap(okHandler)
	for _, tc := range append(cases, cases...) {
		lim = tc.l
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := rec.Header().Get("RateLimit-Policy"); got != tc.want {
			t.Errorf("limit %+v: RateLimit-Policy %s, want %s", tc.l, got, tc.want)
		}
	}
}

func TestMiddlewareLimiterErrors(t *testing.T) {
	t.Parallel()
	unavailable := gatehouse.NewError(http.StatusServiceUnavailable, "Rate limiter unavailable").WithHeader("Retry-After", "5")
	failing := func(err error) ratelimit.Limiter {
		return ratelimit.LimiterFunc(func(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
			return ratelimit.Result{}, err
		})
	}
	cases := []struct {
		name       string
		err        error
		onError    func(*http.Request, error) error
		wantStatus int
		wantBody   string
		wantLog    bool
	}{
		{"fail open", errors.New("redis: connection refused"), nil, 204, "", true},
		{"gatehouse error", fmtWrap(unavailable), nil, 503, "Rate limiter unavailable", false},
		{"OnError allows", errors.New("boom"), func(*http.Request, error) error { return nil }, 204, "", false},
		{"OnError refuses", errors.New("boom"), func(_ *http.Request, err error) error {
			return gatehouse.NewError(http.StatusServiceUnavailable, "Try later").Wrap(err)
		}, 503, "Try later", false},
		{"OnError plain error", errors.New("boom"), func(_ *http.Request, err error) error { return err }, 500, "Internal server error", true},
		{"invalid limit fails closed", fmt.Errorf("memory: %w", ratelimit.ErrInvalidLimit), func(*http.Request, error) error { return nil }, 500, "Internal server error", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			h := newMiddleware(t, ratelimit.Options{
				Key:     keyFromHeader,
				Limiter: failing(tc.err),
				Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
				OnError: tc.onError,
			})
			rec := serve(h, "k")
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantBody != "" {
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tc.wantBody {
					t.Fatalf("body %s, want error %q", rec.Body, tc.wantBody)
				}
			}
			if tc.name == "gatehouse error" && rec.Header().Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q, want 5", rec.Header().Get("Retry-After"))
			}
			if got := logs.Len() > 0; got != tc.wantLog {
				t.Errorf("logged %v, want %v: %s", got, tc.wantLog, logs.String())
			}
			if rec.Header().Get("RateLimit") != "" {
				t.Errorf("RateLimit header without a decision: %q", rec.Header().Get("RateLimit"))
			}
		})
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("redislimit: fail closed"), err) }

func BenchmarkMiddleware(b *testing.B) {
	m, err := ratelimit.New(ratelimit.Options{
		Key: func(*http.Request) (string, ratelimit.Limit, bool) { return "key", ratelimit.PerMinute(1 << 30), true },
	})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Wrap(okHandler)
	req := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// discardWriter is a ResponseWriter that keeps nothing but its headers.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// TestInvalidLimitFailsClosedLoggedOncePerKey: a key whose limit cannot be
// enforced (stored with 0 requests a minute) is refused with 500 on every
// request, never let through unlimited, and logged once per key.
func TestInvalidLimitFailsClosedLoggedOncePerKey(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	h := newMiddleware(t, ratelimit.Options{
		Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
			return r.Header.Get("X-Key"), ratelimit.PerMinute(0), true
		},
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
	})
	for _, k := range []string{"a", "a", "a", "b", "b"} {
		if rec := serve(h, k); rec.Code != http.StatusInternalServerError {
			t.Fatalf("key %s: %d, want 500", k, rec.Code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "cannot be enforced"); n != 2 {
		t.Fatalf("%d log lines, want one per key:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
