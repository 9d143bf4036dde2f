package scope_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/scope"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in string
		ok bool
	}{
		{"leads:read", true},
		{"webhooks:manage", true},
		{"job_types:read", true},
		{"a1-b:c_2", true},
		{"leads", false},
		{"leads:", false},
		{":read", false},
		{"Leads:read", false},
		{"leads:read:x", false},
		{"1leads:read", false},
		{"leads :read", false},
		{"", false},
		{strings.Repeat("a", 65) + ":read", false},
		{"lé:read", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			s, err := scope.Parse(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("Parse(%q) err = %v", tc.in, err)
			}
			if tc.ok && (string(s) != tc.in || scope.Of(s.Resource(), s.Action()) != s) {
				t.Fatalf("round trip %q -> %q", tc.in, s)
			}
		})
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	s := scope.NewSet("leads:read", "clients:read", "leads:read")
	if s.Len() != 2 || !s.Has("leads:read") || s.Has("leads:create") {
		t.Fatalf("set %v", s.Strings())
	}
	if got := s.Strings(); got[0] != "clients:read" {
		t.Fatalf("not sorted: %v", got)
	}
	if m := s.Missing("leads:read", "tasks:read"); len(m) != 1 || m[0] != "tasks:read" {
		t.Fatalf("missing %v", m)
	}
	if _, err := scope.ParseSet([]string{"ok:read", "bad", "Bad:x"}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("ParseSet error %v", err)
	}
	var zero scope.Set
	if zero.Has("leads:read") || zero.Len() != 0 {
		t.Fatal("zero set not empty")
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := scope.Require("leads:create")(ok)
	cases := []struct {
		name    string
		granted *scope.Set
		want    int
	}{
		{"granted", ptr(scope.NewSet("leads:create", "leads:read")), 204},
		{"missing", ptr(scope.NewSet("leads:read")), 403},
		{"no scopes in context fails closed", nil, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", "/v1/leads", nil)
			req = req.WithContext(gatehouse.NewRequestContext(req.Context(), "req-1"))
			if tc.granted != nil {
				req = req.WithContext(gatehouse.NewCallerContext(req.Context(), gatehouse.Caller{Scopes: tc.granted.Strings()}))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want == 403 {
				var body map[string]string
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				if body["error"] != "Missing scope" || body["required_scope"] != "leads:create" || body["request_id"] == "" {
					t.Fatalf("body %v", body)
				}
				if err := scope.Check(req.Context(), "leads:create"); gatehouse.StatusOf(err) != 403 {
					t.Fatalf("Check = %v", err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"leads:read", "a:b", ":", "x", "leads:read:x", "Ä:b", strings.Repeat("a", 70) + ":b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := scope.Parse(s)
		if err != nil {
			return
		}
		if string(sc) != s || scope.Of(sc.Resource(), sc.Action()) != sc {
			t.Fatalf("round trip %q", s)
		}
		if !scope.NewSet(sc).Has(sc) {
			t.Fatal("set membership")
		}
	})
}

func BenchmarkSetHas(b *testing.B) {
	s := scope.NewSet("leads:read", "leads:create", "leads:update", "clients:read", "clients:create", "clients:update",
		"appointments:read", "appointments:create", "appointments:update", "tasks:read", "tasks:create", "tasks:update")
	b.ReportAllocs()
	for b.Loop() {
		if !s.Has("tasks:update") {
			b.Fatal("missing")
		}
	}
}
