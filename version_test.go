package gatehouse_test

import (
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
