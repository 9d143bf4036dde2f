package gatehouse_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"gatehouse.dev"
)

func TestSetOperations(t *testing.T) {
	t.Parallel()
	if gatehouse.SetOperations(context.Background(), []string{"leads"}) {
		t.Error("recorded without per-request state")
	}
	if got := gatehouse.OperationsFromContext(context.Background()); got != nil {
		t.Errorf("no state: %q", got)
	}
	var got []string
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ops := gatehouse.OperationsFromContext(r.Context()); ops != nil {
			t.Errorf("before: %q", ops)
		}
		names := []string{"leads", "leads", "a b", "clients"}
		if !gatehouse.SetOperations(r.Context(), names) {
			t.Error("not recorded")
		}
		names[0] = "x"
		got = gatehouse.OperationsFromContext(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/graphql", nil))
	if !slices.Equal(got, []string{"leads", "clients"}) {
		t.Errorf("recorded %q", got)
	}
}

func TestCleanOperations(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{}, nil},
		{[]string{"leads", "leadCreate", "__schema", "_9"}, []string{"leads", "leadCreate", "__schema", "_9"}},
		{[]string{"leads", "leads"}, []string{"leads"}},
		{[]string{"", "9a", "a-b", "a.b", "é", "a\x00", strings.Repeat("a", 65), "ok"}, []string{"ok"}},
	} {
		if got := gatehouse.CleanOperations(tc.in); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("CleanOperations(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	clean := []string{"leads", "leadCreate"}
	if n := testing.AllocsPerRun(100, func() { _ = gatehouse.CleanOperations(clean) }); n != 0 {
		t.Errorf("%v allocations for clean names", n)
	}
}

// FuzzCleanOperations: whatever a handler passes, what is recorded is
// distinct valid names (no separators, so safe in every audit backend),
// at most MaxOperations.
func FuzzCleanOperations(f *testing.F) {
	f.Add("leads leadCreate leads")
	f.Add("a\x00b c-d __schema")
	f.Fuzz(func(t *testing.T, s string) {
		got := gatehouse.CleanOperations(strings.Split(s, " "))
		if len(got) > gatehouse.MaxOperations {
			t.Fatalf("%d names", len(got))
		}
		seen := map[string]bool{}
		for _, n := range got {
			if !gatehouse.ValidOperation(n) || seen[n] || strings.ContainsAny(n, " \x00:{}") {
				t.Fatalf("recorded %q", n)
			}
			seen[n] = true
		}
	})
}
