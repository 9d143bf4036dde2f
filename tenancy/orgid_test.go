package tenancy_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

func TestOrgIDType(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ  tenancy.OrgIDType
		id   string
		want bool
	}{
		{"", "0b3c9a52-4a4e-4c2b-9d65-1c1f1f7f6a10", true},
		{tenancy.OrgIDUUID, "0B3C9A52-4A4E-4C2B-9D65-1C1F1F7F6A10", true},
		{"", "1", false},
		{tenancy.OrgIDUUID, "acme", false},
		{tenancy.OrgIDText, "1", true},
		{tenancy.OrgIDText, "acme.eu:42", true},
		{tenancy.OrgIDText, "A_b-c.d:e", true},
		{tenancy.OrgIDText, strings.Repeat("x", 64), true},
		{tenancy.OrgIDText, strings.Repeat("x", 65), false},
		{tenancy.OrgIDText, "", false},
		{tenancy.OrgIDText, ".", false},
		{tenancy.OrgIDText, "..", false},
		{tenancy.OrgIDText, "...", true},
		{tenancy.OrgIDText, "a/b", false},
		{tenancy.OrgIDText, "a b", false},
		{tenancy.OrgIDText, "a{b}", false},
		{tenancy.OrgIDText, "a|b", false},
		{tenancy.OrgIDText, "a%2fb", false},
		{tenancy.OrgIDText, "é", false},
		{tenancy.OrgIDText, "a\x00", false},
		{tenancy.OrgIDInteger, "0", true},
		{tenancy.OrgIDInteger, "1", true},
		{tenancy.OrgIDInteger, "42", true},
		{tenancy.OrgIDInteger, "9223372036854775807", true},
		{tenancy.OrgIDInteger, "9223372036854775808", false},
		{tenancy.OrgIDInteger, "10000000000000000000", false},
		{tenancy.OrgIDInteger, "007", false},
		{tenancy.OrgIDInteger, "00", false},
		{tenancy.OrgIDInteger, "-1", false},
		{tenancy.OrgIDInteger, "+1", false},
		{tenancy.OrgIDInteger, "1e3", false},
		{tenancy.OrgIDInteger, "", false},
		{tenancy.OrgIDInteger, " 1", false},
		{"bigint", "1", false},
	}
	for _, c := range cases {
		if got := c.typ.Valid(c.id); got != c.want {
			t.Errorf("%q.Valid(%q) = %v, want %v", c.typ, c.id, got, c.want)
		}
	}
	for _, typ := range []tenancy.OrgIDType{"", tenancy.OrgIDUUID, tenancy.OrgIDText, tenancy.OrgIDInteger} {
		if err := typ.Check(); err != nil {
			t.Errorf("%q.Check: %v", typ, err)
		}
	}
	if err := tenancy.OrgIDType("bigint").Check(); err == nil {
		t.Error("bigint accepted")
	}
	_, err := tenancy.OrgIDInteger.Parse("x")
	if gatehouse.StatusOf(err) != http.StatusBadRequest || err.Error() != gatehouse.MsgInvalidOrgID {
		t.Errorf("Parse(x) = %v", err)
	}
	if id, err := tenancy.OrgIDInteger.Parse("12"); err != nil || id != "12" {
		t.Errorf("Parse(12) = %q, %v", id, err)
	}
}

// FuzzOrgIDType: a valid text id holds only the allowed bytes (so it is
// safe in a path segment, a Redis key and a cursor), and a valid integer
// id is exactly the canonical decimal form of a non-negative int64.
func FuzzOrgIDType(f *testing.F) {
	for _, s := range []string{"1", "acme.eu:42", "007", "9223372036854775808", "..", "a/b", "", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tenancy.OrgIDText.Valid(s) {
			if len(s) > tenancy.MaxOrgIDLength || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") != "" || s == "." || s == ".." {
				t.Fatalf("text id %q accepted", s)
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		canonical := err == nil && n >= 0 && strconv.FormatInt(n, 10) == s
		if got := tenancy.OrgIDInteger.Valid(s); got != canonical {
			t.Fatalf("integer %q: Valid = %v, canonical = %v", s, got, canonical)
		}
		if tenancy.OrgIDInteger.Valid(s) && !tenancy.OrgIDText.Valid(s) {
			t.Fatalf("integer id %q is no text id", s)
		}
	})
}
