package audit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// principal is what the fake authentication middleware puts in the context.
type principal struct{ keyID, orgID string }

type principalKey struct{}

// fakeAuth stands in for the auth middleware: a request with header
// "Authorization: Bearer good-<key>" is authenticated as key <key> of
// org-1 (recorded as the gatehouse.Caller, and as a context value of its
// own for the Options.Key override); anything else is answered 401 without
// reaching next.
func fakeAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = gatehouse.WithRequestState(w, r)
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer good-")
		if !ok {
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusUnauthorized, "Invalid API key"))
			return
		}
		gatehouse.SetCaller(r.Context(), gatehouse.Caller{KeyID: tok, OrgID: "org-1"})
		ctx := context.WithValue(r.Context(), principalKey{}, principal{keyID: tok, orgID: "org-1"})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func keyFromContext(r *http.Request) (string, string, bool) {
	p, ok := r.Context().Value(principalKey{}).(principal)
	return p.keyID, p.orgID, ok
}

// sinkFunc collects entries.
type collector struct {
	mu sync.Mutex
	es []audit.Entry
}

func (c *collector) Record(e audit.Entry) {
	c.mu.Lock()
	c.es = append(c.es, e)
	c.mu.Unlock()
}

func (c *collector) entries() []audit.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]audit.Entry(nil), c.es...)
}

// fakeClock advances by step on every call.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func newChain(t *testing.T, opts audit.Options, mux http.Handler) http.Handler {
	t.Helper()
	mw, err := audit.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return gatehouse.RequestID(fakeAuth(mw.Wrap(gatehouse.RecordRoute(mux))))
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/leads/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusNotFound, "Not found"))
			return
		}
		_, _ = w.Write([]byte(`{"data":{}}`))
	})
	mux.HandleFunc("POST /v1/leads", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /v1/quiet", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /v1/panic", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	return mux
}

func TestMiddlewareRecords(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, time.FixedZone("CEST", 7200)), step: 42 * time.Millisecond}
	col := &collector{}
	h := newChain(t, audit.Options{
		Sink:         col,
		Now:          clock.Now,
		MaxUserAgent: 10,
		ClientIP:     gatehouse.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}, testMux())

	type want struct {
		method, path, route, ip, ua string
		status                      int
	}
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		audit  bool
		expect want
	}{
		{
			name: "ok with query",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/v1/leads/abc?api_key=SECRET&q=x", nil)
				r.Header.Set("Authorization", "Bearer good-k1")
				r.Header.Set("User-Agent", "curl/8.5.0 extra words")
				r.RemoteAddr = "192.0.2.10:5555"
				return r
			},
			audit:  true,
			expect: want{"GET", "/v1/leads/abc", "/v1/leads/{id}", "192.0.2.10", "curl/8.5.0", 200},
		},
		{
			name: "404 behind trusted proxy",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/v1/leads/missing", nil)
				r.Header.Set("Authorization", "Bearer good-k1")
				r.Header.Set("X-Forwarded-For", "198.51.100.9, 10.1.1.1")
				r.Header.Set("User-Agent", "ééééééé") // 14 bytes, cut at a rune boundary
				r.RemoteAddr = "10.2.2.2:1"
				return r
			},
			audit:  true,
			expect: want{"GET", "/v1/leads/missing", "/v1/leads/{id}", "198.51.100.9", "ééééé", 404},
		},
		{
			name: "untrusted forwarded-for ignored",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/v1/leads", strings.NewReader(`{"secret":"body"}`))
				r.Header.Set("Authorization", "Bearer good-k2")
				r.Header.Set("X-Forwarded-For", "1.2.3.4")
				r.RemoteAddr = "192.0.2.99:1"
				return r
			},
			audit:  true,
			expect: want{"POST", "/v1/leads", "/v1/leads", "192.0.2.99", "", 201},
		},
		{
			name: "no route, 404 from mux",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/v1/nope", nil)
				r.Header.Set("Authorization", "Bearer good-k1")
				return r
			},
			audit:  true,
			expect: want{"GET", "/v1/nope", "", "192.0.2.1", "", 404},
		},
		{
			name: "405 from mux",
			req: func() *http.Request {
				r := httptest.NewRequest("DELETE", "/v1/leads/abc", nil)
				r.Header.Set("Authorization", "Bearer good-k1")
				return r
			},
			audit:  true,
			expect: want{"DELETE", "/v1/leads/abc", "", "192.0.2.1", "", 405},
		},
		{
			name: "nothing written is 200",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/v1/quiet", nil)
				r.Header.Set("Authorization", "Bearer good-k1")
				return r
			},
			audit:  true,
			expect: want{"GET", "/v1/quiet", "/v1/quiet", "192.0.2.1", "", 200},
		},
		{
			name: "failed auth not recorded",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/v1/leads/abc", nil)
				r.Header.Set("Authorization", "Bearer bad")
				return r
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(col.entries())
			rec := httptest.NewRecorder()
			req := tc.req()
			h.ServeHTTP(rec, req)
			es := col.entries()
			if !tc.audit {
				if len(es) != before {
					t.Fatalf("recorded %d entries for a request that did not authenticate", len(es)-before)
				}
				return
			}
			if len(es) != before+1 {
				t.Fatalf("recorded %d entries, want 1", len(es)-before)
			}
			e := es[len(es)-1]
			got := want{e.Method, e.Path, e.Route, e.IP, e.UserAgent, e.Status}
			if got != tc.expect {
				t.Fatalf("entry %+v\nwant %+v", got, tc.expect)
			}
			if e.Status != rec.Code {
				t.Fatalf("status %d, response %d", e.Status, rec.Code)
			}
			if e.RequestID == "" || e.RequestID != rec.Header().Get(gatehouse.RequestIDHeader) {
				t.Fatalf("request id %q, header %q", e.RequestID, rec.Header().Get(gatehouse.RequestIDHeader))
			}
			if e.OrganizationID != "org-1" || !strings.HasPrefix(req.Header.Get("Authorization"), "Bearer good-"+e.KeyID) {
				t.Fatalf("key %q org %q", e.KeyID, e.OrganizationID)
			}
			// The clock advances 42 ms per call: one call before, one after.
			if e.DurationMS != 42 {
				t.Fatalf("duration %d ms, want 42", e.DurationMS)
			}
			if e.Time.Location() != time.UTC || e.Time.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("time %v not UTC milliseconds", e.Time)
			}
		})
	}
	for _, e := range col.entries() {
		s := strings.Join([]string{e.RequestID, e.KeyID, e.OrganizationID, e.Method, e.Route, e.Path, e.IP, e.UserAgent}, "|")
		for _, secret := range []string{"SECRET", "api_key", "Bearer", "good-", "body"} {
			if strings.Contains(s, secret) {
				t.Errorf("entry holds %q: %s", secret, s)
			}
		}
	}
}

func TestMiddlewarePanicRecordedAs500(t *testing.T) {
	t.Parallel()
	col := &collector{}
	h := newChain(t, audit.Options{Key: keyFromContext, Sink: col}, testMux())
	r := httptest.NewRequest("GET", "/v1/panic", nil)
	r.Header.Set("Authorization", "Bearer good-k1")
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want the handler's panic to propagate", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	es := col.entries()
	if len(es) != 1 || es[0].Status != 500 {
		t.Fatalf("entries %+v; want one with status 500", es)
	}
}

func TestMiddlewareBoundsPath(t *testing.T) {
	t.Parallel()
	col := &collector{}
	h := newChain(t, audit.Options{Key: keyFromContext, Sink: col, MaxPath: 16}, testMux())
	r := httptest.NewRequest("GET", "/v1/leads/"+strings.Repeat("x", 100), nil)
	r.Header.Set("Authorization", "Bearer good-k1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if es := col.entries(); len(es) != 1 || es[0].Path != "/v1/leads/xxxxxx" {
		t.Fatalf("entries %+v", es)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	key := func(*http.Request) (string, string, bool) { return "", "", false }
	sink := audit.SinkFunc(func(audit.Entry) {})
	for _, tc := range []struct {
		name string
		opts audit.Options
		ok   bool
	}{
		{"default key", audit.Options{Sink: sink}, true},
		{"no sink", audit.Options{Key: key}, false},
		{"negative", audit.Options{Key: key, Sink: sink, MaxUserAgent: -1}, false},
		{"minimal", audit.Options{Key: key, Sink: sink}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := audit.New(tc.opts)
			if (err == nil) != tc.ok || (m != nil) != tc.ok {
				t.Fatalf("New: %v, %v", m, err)
			}
		})
	}
}

func TestMiddlewareWithoutRequestIDMiddleware(t *testing.T) {
	t.Parallel()
	col := &collector{}
	mw, err := audit.New(audit.Options{Key: func(*http.Request) (string, string, bool) { return "k", "o", true }, Sink: col})
	if err != nil {
		t.Fatal(err)
	}
	mw.Wrap(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	if es := col.entries(); len(es) != 1 || len(es[0].RequestID) != 36 {
		t.Fatalf("entries %+v; want a generated request id", es)
	}
}

// TestMiddlewareCallerAnyPosition: without Options.Key the middleware reads
// the request's gatehouse.Caller after the handler, so it records the same
// entries inside or outside the authentication middleware, with or without
// RequestID outermost; refused requests (no caller) are not recorded.
func TestMiddlewareCallerAnyPosition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		chain func(mw *audit.Middleware, h http.Handler) http.Handler
	}{
		{"inside auth", func(mw *audit.Middleware, h http.Handler) http.Handler {
			return gatehouse.RequestID(fakeAuth(mw.Wrap(h)))
		}},
		{"outside auth", func(mw *audit.Middleware, h http.Handler) http.Handler {
			return gatehouse.RequestID(mw.Wrap(fakeAuth(h)))
		}},
		{"outside auth, no RequestID", func(mw *audit.Middleware, h http.Handler) http.Handler { return mw.Wrap(fakeAuth(h)) }},
		{"inside auth, no RequestID", func(mw *audit.Middleware, h http.Handler) http.Handler { return fakeAuth(mw.Wrap(h)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			col := &collector{}
			mw, err := audit.New(audit.Options{Sink: col})
			if err != nil {
				t.Fatal(err)
			}
			h := tc.chain(mw, gatehouse.RecordRoute(testMux()))
			var ids []string
			for _, authz := range []string{"Bearer good-k1", "Bearer bad"} {
				req := httptest.NewRequest("GET", "/v1/leads/1", nil)
				req.Header.Set("Authorization", authz)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				ids = append(ids, rec.Header().Get(gatehouse.RequestIDHeader))
			}
			es := col.entries()
			if len(es) != 1 || es[0].KeyID != "k1" || es[0].OrganizationID != "org-1" || es[0].Status != 200 ||
				es[0].Route != "/v1/leads/{id}" || es[0].RequestID != ids[0] || ids[0] == "" {
				t.Fatalf("entries %+v, request ids %q", es, ids)
			}
		})
	}
}
