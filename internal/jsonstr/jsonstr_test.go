package jsonstr

import (
	"encoding/json"
	"testing"
)

var seeds = []string{"", "plain", "a\"b\\c", "<&>", "\x00\x1f\n\r\t\b\f", "\u2028\u2029", "é😀", "\xff\xfe", "a\xc3"}

// FuzzAppend: with std the bytes are encoding/json's; without, the text
// decodes to the same string (TestAppendPlainBytes: it keeps '<', '>', '&' and \b, \f as before).
func FuzzAppend(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := Append(nil, s, true); string(got) != string(want) {
			t.Fatalf("std %q: %s, want %s", s, got, want)
		}
		plain := Append(nil, s, false)
		var got, wantS string
		if err := json.Unmarshal(plain, &got); err != nil {
			t.Fatalf("%q → %s: %v", s, plain, err)
		}
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("%q → %s → %q, want %q", s, plain, got, wantS)
		}
	})
}

func TestAppendPlainBytes(t *testing.T) {
	if got := string(Append([]byte("x"), "<a>&\b\f\"", false)); got != `x"<a>&\u0008\u000c\""` {
		t.Fatalf("got %s", got)
	}
}
