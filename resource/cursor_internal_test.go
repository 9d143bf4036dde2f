package resource

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
)

func internalKeyring(t testing.TB) *gatehouse.Keyring {
	t.Helper()
	k, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("k1"), gatehouse.GenerateSecret("k0"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	k := internalKeyring(t)
	scope := []byte("scope")
	for _, p := range []position{
		{createdAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), id: "0194b1f2-0000-7000-8000-000000000001"},
		{createdAt: time.Unix(0, 0).UTC(), id: "x"},
		{createdAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Microsecond), id: strings.Repeat("z", maxCursorIDLen)},
		{createdAt: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), id: "ü"},
	} {
		c, err := encodeCursor(k, "org", scope, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) > maxCursorLength {
			t.Errorf("cursor of %d characters", len(c))
		}
		raw, ok := decodeCursor(c)
		if !ok {
			t.Fatalf("decode %q", c)
		}
		got, ok := verifyCursor(k, "org", scope, raw)
		if !ok || !got.createdAt.Equal(p.createdAt) || got.id != p.id {
			t.Errorf("round trip %+v → %+v (%v)", p, got, ok)
		}
		if _, ok := verifyCursor(k, "org2", scope, raw); ok {
			t.Error("verified for another organization")
		}
		if _, ok := verifyCursor(k, "org", []byte("scope2"), raw); ok {
			t.Error("verified for another scope")
		}
		if _, ok := verifyCursor(nil, "org", scope, raw); ok {
			t.Error("verified without a keyring")
		}
		// Every single-bit change is refused (by the decoder or the MAC).
		b, _ := base64.RawURLEncoding.DecodeString(c)
		for i := range b {
			for bit := range 8 {
				m := bytes.Clone(b)
				m[i] ^= 1 << bit
				raw, ok := decodeCursor(base64.RawURLEncoding.EncodeToString(m))
				if !ok {
					continue
				}
				if _, ok := verifyCursor(k, "org", scope, raw); ok {
					t.Fatalf("byte %d bit %d flipped: still verifies", i, bit)
				}
			}
		}
	}
	if _, err := encodeCursor(k, "org", scope, position{id: ""}); err == nil {
		t.Error("empty id encoded")
	}
	if _, err := encodeCursor(k, "org", scope, position{id: strings.Repeat("z", maxCursorIDLen+1)}); err == nil {
		t.Error("long id encoded")
	}
}

// TestCursorScope: the scope depends on the filters, not on limit or
// offset or the order or case of the parameters.
func TestCursorScope(t *testing.T) {
	t.Parallel()
	r, err := normalize(Resource{Name: "tasks", Fields: []Field{{Name: "status"}, {Name: "points", Type: Integer}, {Name: "done", Type: Boolean}, {Name: "due_at", Type: DateTime}, {Name: "score", Type: Number}}, Filters: []string{"id", "status", "points", "done", "due_at", "score"}}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := compile(r, 0, "", nil)
	scope := func(raw string) string {
		q, err := parseList(s, Limits{}.withDefaults(), raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return string(s.cursorScope(q))
	}
	same := [][2]string{
		{"status=a&points=1", "points=1&status=a&limit=7"},
		{"q=ABC", "q=abc"},
		{"id=AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", "id=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
		{"due_at=2026-01-01T01:00:00%2B01:00", "due_at=2026-01-01T00:00:00Z"},
		{"created_after=2026-01-01", "created_after=2026-01-01T00:00:00Z&offset=3"},
	}
	for _, c := range same {
		if scope(c[0]) != scope(c[1]) {
			t.Errorf("%s and %s differ", c[0], c[1])
		}
	}
	differ := [][2]string{
		{"", "status="},
		{"status=a", "status=b"},
		{"q=a", "q=b"},
		{"q=ü", "q=Ü"}, // only ASCII folds
		{"created_after=2026-01-01", "created_before=2026-01-01"},
		{"points=1", "score=1"},
		{"done=true", "done=false"},
		{"status=a+", "status=a"},
	}
	for _, c := range differ {
		if scope(c[0]) == scope(c[1]) {
			t.Errorf("%s and %s have the same scope", c[0], c[1])
		}
	}
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/v1/leads", "/v1/leads?cursor=C"},
		{"/v1/leads?limit=5", "/v1/leads?limit=5&cursor=C"},
		{"/v1/leads?limit=5&cursor=OLD&status=a%26b", "/v1/leads?limit=5&status=a%26b&cursor=C"},
		{"/v1/leads?offset=10&&q=x+y", "/v1/leads?q=x+y&cursor=C"},
		{"/v1/leads?c%75rsor=OLD&%6Fffset=1", "/v1/leads?cursor=C"},
		{`/v1/leads?limit=1&status=x>;rel="prev",<https://evil.example/?`, "/v1/leads?limit=1&status=x%3E%3Brel%3D%22prev%22%2C%3Chttps%3A%2F%2Fevil.example%2F%3F&cursor=C"},
		{"/v1/leads?st%61tus=%3e&q=a%20b", "/v1/leads?status=%3E&q=a+b&cursor=C"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := nextLink(u, "C"); got != tc.want {
			t.Errorf("nextLink(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzDecodeCursor: the decoder never panics, accepts only what it could
// have produced (re-encoding gives the same text), and nothing it accepts
// verifies without the secret.
func FuzzDecodeCursor(f *testing.F) {
	k := internalKeyring(f)
	for _, p := range []position{{createdAt: time.Unix(1, 0), id: "a"}, {createdAt: time.Now(), id: "0194b1f2-0000-7000-8000-000000000001"}} {
		c, _ := encodeCursor(k, "org", []byte("s"), p)
		f.Add(c)
		f.Add(c[:len(c)-1])
		f.Add(c + "A")
	}
	for _, s := range []string{"", "A", "AQ", "AQE", "AQAA", "AP__", strings.Repeat("A", 186), strings.Repeat("_", 187), "AQ==", "++//", "\x00", "ü"} {
		f.Add(s)
	}
	other := internalKeyring(f)
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := decodeCursor(s)
		if !ok {
			return
		}
		if len(c.secretID) == 0 || len(c.secretID) > maxCursorSecret || len(c.mac) != cursorMACSize {
			t.Fatalf("%q: decoded %+v", s, c)
		}
		b := []byte{cursorVersion, byte(len(c.secretID))}
		b = append(b, c.secretID...)
		b = append(b, byte(len(c.pos)))
		b = append(b, c.pos...)
		b = append(b, c.mac...)
		if base64.RawURLEncoding.EncodeToString(b) != s {
			t.Fatalf("%q does not re-encode to itself", s)
		}
		if p, ok := parsePosition(c.pos); !ok || !bytes.Equal(p.bytes(), c.pos) {
			t.Fatalf("%q: position %+v does not round-trip", s, p)
		}
		if _, ok := verifyCursor(other, "org", []byte("s"), c); ok {
			t.Fatalf("%q verifies under an unrelated keyring", s)
		}
	})
}
