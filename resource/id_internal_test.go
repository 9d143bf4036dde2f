package resource

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse.dev/internal/uuid"
)

var idCases = []struct {
	t    IDType
	in   string
	want any // nil: malformed
}{
	{IDInteger, "1", int64(1)},
	{IDInteger, "0", int64(0)},
	{IDInteger, "-7", int64(-7)},
	{IDInteger, "9223372036854775807", int64(9223372036854775807)},
	{IDInteger, "-9223372036854775808", int64(-9223372036854775808)},
	{IDInteger, "9223372036854775808", nil},
	{IDInteger, "01", nil},
	{IDInteger, "-0", nil},
	{IDInteger, "+1", nil},
	{IDInteger, "1.0", nil},
	{IDInteger, "1e3", nil},
	{IDInteger, " 1", nil},
	{IDInteger, "", nil},
	{IDInteger, "-", nil},
	{IDInteger, "１", nil}, // fullwidth digit
	{IDText, "sup_1", "sup_1"},
	{IDText, "a.b:c-D_9", "a.b:c-D_9"},
	{IDText, strings.Repeat("x", 64), strings.Repeat("x", 64)},
	{IDText, strings.Repeat("x", 65), nil},
	{IDText, "", nil},
	{IDText, "a b", nil},
	{IDText, "a/b", nil},
	{IDText, "é", nil},
	{IDUUID, "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
	{IDUUID, "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa", nil},
	{IDUUID, "1", nil},
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, tc := range idCases {
		t.Run(string(tc.t)+"/"+tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseID(tc.t, tc.in)
			if tc.want == nil {
				if ok {
					t.Fatalf("parseID(%s, %q) = %#v, want malformed", tc.t, tc.in, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("parseID(%s, %q) = %#v, %v; want %#v", tc.t, tc.in, got, ok, tc.want)
			}
		})
	}
}

// FuzzParseID: never panics; an accepted id round-trips through its key
// (the path segment, Change.ID, the cursor position) to the same value, and
// that key is its only spelling (UUIDs aside, which fold case).
func FuzzParseID(f *testing.F) {
	for _, tc := range idCases {
		f.Add(string(tc.t), tc.in)
	}
	f.Add(string(IDUUID), uuid.New())
	f.Fuzz(func(t *testing.T, typ, s string) {
		for _, it := range []IDType{IDInteger, IDText, IDUUID, IDType(typ)} {
			v, ok := parseID(it, s)
			if !ok {
				continue
			}
			key := idKey(v)
			back, ok := parseID(it, key)
			if !ok || back != v {
				t.Fatalf("%s %q: key %q parses to %#v, %v; want %#v", it, s, key, back, ok, v)
			}
			if key != s && !strings.EqualFold(key, s) {
				t.Fatalf("%s %q is accepted under the other spelling %q", it, s, key)
			}
			if len(key) > maxCursorIDLen || !utf8.ValidString(key) {
				t.Fatalf("%s %q: key %q does not fit a cursor", it, s, key)
			}
			if n, isInt := v.(int64); isInt && strconv.FormatInt(n, 10) != s {
				t.Fatalf("integer %q is not canonical", s)
			}
		}
	})
}
