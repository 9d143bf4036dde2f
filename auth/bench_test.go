package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/auth"
)

// BenchmarkParseVerify is the per-request key work: parse and checksum,
// one SHA-256, constant-time comparison with the stored hash.
func BenchmarkParseVerify(b *testing.B) {
	raw, _, err := auth.Generate("joby", auth.EnvLive)
	if err != nil {
		b.Fatal(err)
	}
	s := raw.Reveal()
	hash := auth.Hash(s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.Parse(s); err != nil {
			b.Fatal(err)
		}
		if !auth.DigestOf(s).Matches(hash) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := auth.Generate("joby", auth.EnvLive); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// the middleware rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware authenticates a valid key against the memory store.
func BenchmarkMiddleware(b *testing.B) {
	f := newFixture(b)
	u, err := auth.NewUsage(auth.UsageOptions{Store: f.store})
	if err != nil {
		b.Fatal(err)
	}
	m := newMiddleware(b, auth.Options{Store: f.store, Orgs: f.store, Prefix: "joby", Header: "X-Joby-API-Key", Usage: u})
	var served int
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))
	for _, tc := range []struct {
		name, key string
		state     bool
	}{
		// Without gatehouse.RequestID the middleware makes the
		// per-request state itself (a request id, a context, a request).
		{"valid", f.raw["valid"], false},
		// With the per-request state of gatehouse.RequestID (made once
		// here, as RequestID makes it once per request), the key is
		// recorded as the request's gatehouse.Caller: no context value, no
		// request copy.
		{"valid/request-state", f.raw["valid"], true},
		{"malformed", "joby_live_nope", false},
		{"unknown", f.raw["unknown"], false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
			if tc.state {
				r = r.WithContext(gatehouse.NewRequestContext(r.Context(), "bench"))
			}
			r.Header.Set("Authorization", "Bearer "+tc.key)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
	if served == 0 {
		b.Fatal("the valid key was never served")
	}
}

func BenchmarkUsageMark(b *testing.B) {
	u, err := auth.NewUsage(auth.UsageOptions{Store: auth.NewMemory(auth.MemoryOptions{})})
	if err != nil {
		b.Fatal(err)
	}
	u.Mark("k")
	b.ReportAllocs()
	for b.Loop() {
		u.Mark("k")
	}
}
