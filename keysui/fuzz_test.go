package keysui

import (
	"testing"
	"time"
)

// FuzzParseExpiry: the create form's expiry parser never panics, and what
// it accepts is UTC and formats back to a value it accepts again.
func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"2026-12-31", "2026-12-31T18:00", "2026-12-31T18:00:05", "2026-12-31 18:00", "2026-12-31T18:00:00Z",
		"2026-12-31T18:00:00+02:00", "tomorrow", "", "2026-02-30", "9999-12-31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseExpiry(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: not UTC: %v", s, got)
		}
		again, err := parseExpiry(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q: %v does not round-trip: %v %v", s, got, again, err)
		}
	})
}
