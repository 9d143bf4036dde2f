package uuid

import (
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := New()
		if !Valid(u) || u[14] != '4' || seen[u] {
			t.Fatalf("bad or repeated %q", u)
		}
		seen[u] = true
	}
}

func TestNewV7Ordered(t *testing.T) {
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 2000 {
		u := NewV7(base.Add(time.Duration(i) * 250 * time.Nanosecond))
		if !Valid(u) || u[14] != '7' {
			t.Fatalf("bad %q", u)
		}
		if u[:18] < prev[:min(18, len(prev))] {
			t.Fatalf("not ordered at %d: %s < %s", i, u, prev)
		}
		prev = u
	}
}

func TestValid(t *testing.T) {
	for s, ok := range map[string]bool{
		"123e4567-e89b-12d3-a456-426614174000": true,
		"123E4567-E89B-12D3-A456-426614174000": true,
		"123e4567e89b12d3a456426614174000":     false,
		"123e4567-e89b-12d3-a456-42661417400g": false,
		"123e4567-e89b-12d3-a456_426614174000": false,
		"":                                     false,
	} {
		if Valid(s) != ok {
			t.Errorf("Valid(%q) != %v", s, ok)
		}
	}
}
