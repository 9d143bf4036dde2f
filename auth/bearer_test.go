package auth

import (
	"strings"
	"testing"
)

// bearerCases are the table of TestParseBearer and the seeds of FuzzBearer.
var bearerCases = []struct {
	in   string
	tok  string
	okay bool
}{
	{"Bearer abc", "abc", true},
	{"bearer abc", "abc", true},
	{"BEARER abc", "abc", true},
	{"bEaReR abc", "abc", true},
	{"Bearer    abc", "abc", true},
	{"  Bearer abc  ", "abc", true},
	{"Bearer\tabc", "abc", true},
	{"Bearer \t abc\t", "abc", true},
	{"Bearer joby_live_0123456789ABCDEF_x", "joby_live_0123456789ABCDEF_x", true},
	{"", "", false},
	{"Bearer", "", false},
	{"Bearer ", "", false},
	{"Bearer \t ", "", false},
	{"Bearerabc", "", false},
	{"Bearer: abc", "", false},
	{"Basic abc", "", false},
	{"Token abc", "", false},
	{"abc", "", false},
	{" abc", "", false},
	{"Bearer abc def", "", false},
	{"Bearer abc\tdef", "", false},
	{"Beärer abc", "", false},
	{"Bearer\x00 abc", "", false},
}

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tc := range bearerCases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			tok, ok := parseBearer(tc.in)
			if tok != tc.tok || ok != tc.okay {
				t.Errorf("parseBearer(%q) = %q, %v; want %q, %v", tc.in, tok, ok, tc.tok, tc.okay)
			}
		})
	}
}

// FuzzBearer checks that parsing an Authorization value never panics, that
// an accepted token is a non-empty run of non-blank characters taken from
// the value after a case-insensitive "Bearer", and that it round-trips.
func FuzzBearer(f *testing.F) {
	for _, tc := range bearerCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := parseBearer(v)
		if rtok, rok := parseBearerStrings(v); tok != rtok || ok != rok {
			t.Fatalf("parseBearer(%q) = %q, %v; the strings version says %q, %v", v, tok, ok, rtok, rok)
		}
		if !ok {
			if tok != "" {
				t.Fatalf("parseBearer(%q) refused but returned %q", v, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("parseBearer(%q) = %q: empty or blank", v, tok)
		}
		trimmed := strings.Trim(v, " \t")
		if len(trimmed) < 7 || !strings.EqualFold(trimmed[:6], "Bearer") || !strings.HasSuffix(trimmed, tok) {
			t.Fatalf("parseBearer(%q) = %q: not the value's Bearer token", v, tok)
		}
		if back, ok := parseBearer("Bearer " + tok); !ok || back != tok {
			t.Fatalf("token %q does not round-trip: %q, %v", tok, back, ok)
		}
	})
}

// parseBearerStrings is parseBearer as first written, with the strings
// package: the reference for FuzzBearer.
func parseBearerStrings(v string) (string, bool) {
	v = strings.Trim(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 || !strings.EqualFold(v[:i], "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(v[i:], " \t")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
