package gatehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse.dev"
)

func TestVersioner(t *testing.T) {
	t.Parallel()
	v, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "joby-version", Current: "v1", Supported: []string{"v1", "2026-07-01"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Header() != "Joby-Version" || v.Current() != "v1" || fmt.Sprint(v.Supported()) != "[v1 2026-07-01]" {
		t.Fatalf("accessors %q %q %v", v.Header(), v.Current(), v.Supported())
	}
	var served string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served, _ = gatehouse.VersionFromContext(r.Context())
		if r.URL.Path == "/fail" { // an error of a later middleware keeps the header
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(401, gatehouse.MsgMissingKey))
			return
		}
		gatehouse.WriteData(w, r, 200, "ok")
	})
	h := gatehouse.RequestID(v.Wrap(inner))
	tests := []struct {
		name   string
		path   string
		values []string
		code   int
		header string
		served string
	}{
		{"absent", "/", nil, 200, "v1", "v1"},
		{"current", "/", []string{"v1"}, 200, "v1", "v1"},
		{"case and spaces", "/", []string{" V1 "}, 200, "v1", "v1"},
		{"pinned older", "/", []string{"2026-07-01"}, 200, "2026-07-01", "2026-07-01"},
		{"empty is absent", "/", []string{""}, 200, "v1", "v1"},
		{"repeated same", "/", []string{"v1", "V1"}, 200, "v1", "v1"},
		{"error keeps header", "/fail", []string{"2026-07-01"}, 401, "2026-07-01", "2026-07-01"},
		{"unsupported", "/", []string{"v2"}, 400, "v1", ""},
		{"list", "/", []string{"v1, 2026-07-01"}, 400, "v1", ""},
		{"two versions", "/", []string{"v1", "2026-07-01"}, 400, "v1", ""},
		{"garbage", "/", []string{"\x01;DROP"}, 400, "v1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			served = ""
			req := httptest.NewRequest("GET", tc.path, nil)
			for _, val := range tc.values {
				req.Header.Add("Joby-Version", val)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || rec.Header().Get("Joby-Version") != tc.header || served != tc.served {
				t.Fatalf("%d header %q served %q: %s", rec.Code, rec.Header().Get("Joby-Version"), served, rec.Body)
			}
			if rec.Header().Get("Vary") != "Joby-Version" {
				t.Errorf("Vary %q", rec.Header().Get("Vary"))
			}
			if tc.code != 400 {
				return
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != "Unsupported API version" || fmt.Sprint(body["supported"]) != "[v1 2026-07-01]" || body["request_id"] == "" {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
}

func TestNewVersionerRefuses(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]gatehouse.VersionOptions{
		"header with space":     {Header: "Joby Version"},
		"current not supported": {Current: "v2", Supported: []string{"v1"}},
		"bad version":           {Current: "v 1"},
		"long version":          {Current: strings.Repeat("v", 65)},
		"duplicate":             {Supported: []string{"v1", "V1"}},
		"empty supported entry": {Supported: []string{"v1", ""}},
	} {
		if _, err := gatehouse.NewVersioner(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	v, err := gatehouse.NewVersioner(gatehouse.VersionOptions{})
	if err != nil || v.Header() != "Api-Version" || v.Current() != "v1" || fmt.Sprint(v.Supported()) != "[v1]" {
		t.Fatalf("defaults: %v %v", v, err)
	}
	if _, ok := gatehouse.VersionFromContext(httptest.NewRequest("GET", "/", nil).Context()); ok {
		t.Error("version without the middleware")
	}
}

func FuzzVersionResolve(f *testing.F) {
	v, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Supported: []string{"v1", "v2"}, Current: "v2"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "v1", "V2", " v1 ", "v3", "v1,v2", "\x00", "ü"} {
		f.Add(s, "")
		f.Add(s, "v1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, ok := v.Resolve([]string{a, b})
		if !ok {
			return
		}
		if got != "v1" && got != "v2" {
			t.Fatalf("Resolve(%q, %q) = %q", a, b, got)
		}
		for _, s := range []string{a, b} {
			if s = strings.TrimSpace(s); s != "" && !strings.EqualFold(s, got) {
				t.Fatalf("Resolve(%q, %q) = %q ignores %q", a, b, got, s)
			}
		}
	})
}

func ExampleVersioner() {
	v, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Joby-Version", Current: "v1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := v.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, _ := gatehouse.VersionFromContext(r.Context())
		gatehouse.WriteJSON(w, 200, map[string]string{"served": version})
	}))
	for _, pin := range []string{"", "v1", "v2"} {
		req := httptest.NewRequest("GET", "/v1/whoami", nil)
		if pin != "" {
			req.Header.Set("Joby-Version", pin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Joby-Version"), strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 v1 {"served":"v1"}
	// 200 v1 {"served":"v1"}
	// 400 v1 {"error":"Unsupported API version","request_id":"","supported":["v1"]}
}

// TestVersionerPaths checks that the Versioner answers the same whether it
// records into RequestID's state (directly inside RequestID) or makes a
// context of its own (without RequestID, behind another context, behind a
// Vary already set, or nested in a second Versioner), and that inside
// RequestID it adds no allocation.
func TestVersionerPaths(t *testing.T) {
	v1, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Joby-Version", Current: "v1", Supported: []string{"v1", "v2"}})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Other-Version", Current: "b", Supported: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var served, derived string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served, _ = gatehouse.VersionFromContext(r.Context())
		ctx, cancel := context.WithCancel(r.Context())
		derived, _ = gatehouse.VersionFromContext(ctx)
		cancel()
		w.WriteHeader(http.StatusNoContent)
	})
	withValue := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), otherKey{}, 1)))
		})
	}
	vary := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Origin")
			next.ServeHTTP(w, r)
		})
	}
	for _, tc := range []struct {
		name      string
		h         http.Handler
		vary      string
		served    string
		other     string // Other-Version header
		outerSeen bool   // the outer Versioner's header is Joby-Version
	}{
		{"state", gatehouse.RequestID(v1.Wrap(inner)), "Joby-Version", "v2", "", true},
		{"no RequestID", v1.Wrap(inner), "Joby-Version", "v2", "", true},
		{"behind a context", gatehouse.RequestID(withValue(v1.Wrap(inner))), "Joby-Version", "v2", "", true},
		{"behind Vary", gatehouse.RequestID(vary(v1.Wrap(inner))), "Origin, Joby-Version", "v2", "", true},
		{"nested", gatehouse.RequestID(v1.Wrap(v2.Wrap(inner))), "Joby-Version, Other-Version", "b", "b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served, derived = "", ""
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Joby-Version", "V2")
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent || served != tc.served || derived != tc.served {
				t.Fatalf("%d, served %q, derived context %q; want %q", rec.Code, served, derived, tc.served)
			}
			if got := strings.Join(rec.Header().Values("Vary"), ", "); got != tc.vary {
				t.Errorf("Vary %q, want %q", got, tc.vary)
			}
			if got := rec.Header().Get("Joby-Version"); got != "v2" {
				t.Errorf("Joby-Version %q, want v2", got)
			}
			if got := rec.Header().Get("Other-Version"); got != tc.other {
				t.Errorf("Other-Version %q, want %q", got, tc.other)
			}
		})
	}
	if raceEnabled {
		return
	}
	req := httptest.NewRequest("GET", "/", nil)
	w := &discardWriter{h: http.Header{}}
	hAlone, hWith := gatehouse.RequestID(noop), gatehouse.RequestID(v1.Wrap(noop))
	alone := testing.AllocsPerRun(100, func() { clear(w.h); hAlone.ServeHTTP(w, req) })
	with := testing.AllocsPerRun(100, func() { clear(w.h); hWith.ServeHTTP(w, req) })
	if with != alone {
		t.Errorf("RequestID and the Versioner: %v allocations, RequestID alone %v", with, alone)
	}
}

var noop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
