package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse.dev/auth"
)

// Golden keys; their checksums were computed independently (Python's
// zlib.crc32 and a hand-written base62 encoder).
const (
	goldenAcme = "acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2"
	goldenJoby = "joby_test_AAAAAAAAAAAAAAAA_0000000000000000000000000000000z14PgvJ"
	goldenGh   = "gh_live_zzzzzzzzzzzzzzzz_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ1HmKru"
)

var keyPattern = regexp.MustCompile(`^([a-z][a-z0-9]{1,15})_(live|test)_([0-9A-Za-z]{16})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$`)

// base62Checksum encodes the CRC32-IEEE of s (computed by hash/crc32) as 6
// base62 digits; an implementation independent of the package's.
func base62Checksum(s string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	c := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = alphabet[c%62]
		c /= 62
	}
	return string(out)
}

func TestGenerateParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, env string }{
		{"joby", auth.EnvLive},
		{"joby", auth.EnvTest},
		{"ab", auth.EnvLive},
		{"a123456789abcdef", auth.EnvTest},
		{"x9", auth.EnvLive},
	} {
		t.Run(tc.prefix+"_"+tc.env, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			for range 50 {
				raw, p, err := auth.Generate(tc.prefix, tc.env)
				if err != nil {
					t.Fatal(err)
				}
				s := raw.Reveal()
				m := keyPattern.FindStringSubmatch(s)
				if m == nil {
					t.Fatalf("generated key %q does not match %v", s, keyPattern)
				}
				if m[1] != tc.prefix || m[2] != tc.env || m[3] != p.PublicID {
					t.Fatalf("key parts %q %q %q, Parsed %+v", m[1], m[2], m[3], p)
				}
				if want := base62Checksum(s[:len(s)-6]); m[5] != want {
					t.Fatalf("checksum %q, want %q", m[5], want)
				}
				got, err := auth.Parse(s)
				if err != nil {
					t.Fatalf("Parse(generated): %v", err)
				}
				if got != p {
					t.Fatalf("Parse = %+v, Generate said %+v", got, p)
				}
				if want := tc.prefix + "_" + tc.env + "_" + p.PublicID + "_…"; p.DisplayPrefix() != want {
					t.Fatalf("DisplayPrefix = %q, want %q", p.DisplayPrefix(), want)
				}
				if seen[p.PublicID] || seen[m[4]] {
					t.Fatal("generated a public id or secret twice")
				}
				seen[p.PublicID], seen[m[4]] = true, true
			}
		})
	}
}

func TestGenerateInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, prefix, env string }{
		{"empty prefix", "", auth.EnvLive},
		{"one-character prefix", "a", auth.EnvLive},
		{"prefix too long", "a1234567890123456", auth.EnvLive},
		{"upper-case prefix", "Joby", auth.EnvLive},
		{"prefix starts with a digit", "1joby", auth.EnvLive},
		{"underscore in prefix", "jo_by", auth.EnvLive},
		{"empty env", "joby", ""},
		{"unknown env", "joby", "prod"},
		{"upper-case env", "joby", "LIVE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, _, err := auth.Generate(tc.prefix, tc.env)
			if err == nil || raw != "" {
				t.Fatalf("Generate(%q, %q) = %q, %v; want an error", tc.prefix, tc.env, raw.Reveal(), err)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"joby", true}, {"ab", true}, {"a0", true}, {"abcdefghijklmnop", true},
		{"", false}, {"a", false}, {"abcdefghijklmnopq", false}, {"0a", false}, {"aB", false},
		{"a-b", false}, {"a_b", false}, {"jöby", false}, {"joby ", false},
	} {
		t.Run(tc.p, func(t *testing.T) {
			t.Parallel()
			if err := auth.ValidatePrefix(tc.p); (err == nil) != tc.ok {
				t.Errorf("ValidatePrefix(%q) = %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}

// parseCases are the table of TestParse and the seeds of FuzzParseKey.
var parseCases = []struct {
	name string
	in   string
	want auth.Parsed // zero when the key is invalid
	err  error
}{
	{"golden acme", goldenAcme, auth.Parsed{Prefix: "acme", Env: "live", PublicID: "0123456789ABCDEF"}, nil},
	{"golden joby", goldenJoby, auth.Parsed{Prefix: "joby", Env: "test", PublicID: "AAAAAAAAAAAAAAAA"}, nil},
	{"golden two-letter prefix", goldenGh, auth.Parsed{Prefix: "gh", Env: "live", PublicID: "zzzzzzzzzzzzzzzz"}, nil},
	{"empty", "", auth.Parsed{}, auth.ErrMalformed},
	{"garbage", "not a key", auth.Parsed{}, auth.ErrMalformed},
	{"one character short", goldenAcme[1:], auth.Parsed{}, auth.ErrMalformed},
	{"bad checksum", goldenAcme[:len(goldenAcme)-1] + "3", auth.Parsed{}, auth.ErrChecksum},
	{"checksum of another key", goldenAcme[:len(goldenAcme)-6] + goldenJoby[len(goldenJoby)-6:], auth.Parsed{}, auth.ErrChecksum},
	{"no checksum", goldenAcme[:len(goldenAcme)-6], auth.Parsed{}, auth.ErrMalformed},
	{"upper-case prefix", "ACME" + goldenAcme[4:], auth.Parsed{}, auth.ErrMalformed},
	{"unknown env", strings.Replace(goldenAcme, "_live_", "_prod_", 1), auth.Parsed{}, auth.ErrMalformed},
	{"dash instead of underscore", strings.Replace(goldenAcme, "live_", "live-", 1), auth.Parsed{}, auth.ErrMalformed},
	{"underscore in prefix", "ac_me" + goldenAcme[4:], auth.Parsed{}, auth.ErrMalformed},
	{"prefix too long", "abcdefghijklmnopq" + goldenAcme[4:], auth.Parsed{}, auth.ErrMalformed},
	{"non-base62 in public id", strings.Replace(goldenAcme, "0123456789ABCDEF", "0123456789ABCDE-", 1), auth.Parsed{}, auth.ErrMalformed},
	{"non-base62 in secret", strings.Replace(goldenAcme, "abcdefghij", "abcdefghi+", 1), auth.Parsed{}, auth.ErrMalformed},
	{"underscore in secret", strings.Replace(goldenAcme, "abcdefghij", "abcdefghi_", 1), auth.Parsed{}, auth.ErrMalformed},
	{"leading space", " " + goldenAcme, auth.Parsed{}, auth.ErrMalformed},
	{"trailing newline", goldenAcme + "\n", auth.Parsed{}, auth.ErrMalformed},
	{"bearer included", "Bearer " + goldenAcme, auth.Parsed{}, auth.ErrMalformed},
	{"non-ASCII", "jöby_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2", auth.Parsed{}, auth.ErrMalformed},
	{"key twice", goldenAcme + goldenAcme, auth.Parsed{}, auth.ErrMalformed},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auth.Parse(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "abcdefghij") {
				t.Fatalf("error %q contains the secret", err)
			}
		})
	}
	if !errors.Is(auth.ErrChecksum, auth.ErrMalformed) {
		t.Error("ErrChecksum does not match ErrMalformed")
	}
}

// TestChecksumRejectsTypos: every single-character substitution anywhere in
// a key, and every swap of two adjacent different characters, is rejected.
func TestChecksumRejectsTypos(t *testing.T) {
	t.Parallel()
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
	keys := []string{goldenAcme, goldenJoby, goldenGh}
	for range 3 {
		raw, _, err := auth.Generate("joby", auth.EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, raw.Reveal())
	}
	for _, key := range keys {
		t.Run(key[:len(key)-38], func(t *testing.T) {
			t.Parallel()
			b := []byte(key)
			checked := 0
			for i := range b {
				orig := b[i]
				for j := 0; j < len(chars); j++ {
					if chars[j] == orig {
						continue
					}
					b[i] = chars[j]
					if _, err := auth.Parse(string(b)); err == nil {
						t.Errorf("typo at %d (%q→%q) accepted", i, orig, chars[j])
					}
					checked++
				}
				b[i] = orig
			}
			for i := 0; i+1 < len(b); i++ {
				if b[i] == b[i+1] {
					continue
				}
				b[i], b[i+1] = b[i+1], b[i]
				if _, err := auth.Parse(string(b)); err == nil {
					t.Errorf("swap at %d accepted", i)
				}
				b[i], b[i+1] = b[i+1], b[i]
				checked++
			}
			if checked < 60*len(key) {
				t.Fatalf("only %d variants checked", checked)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(goldenAcme))
	want := hex.EncodeToString(sum[:])
	if got := auth.Hash(goldenAcme); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name      string
		raw, hash string
		ok        bool
	}{
		{"match", goldenAcme, want, true},
		{"upper-case hex matches", goldenAcme, strings.ToUpper(want), true},
		{"other key", goldenJoby, want, false},
		{"last digit off", goldenAcme, want[:63] + map[bool]string{true: "1", false: "0"}[want[63] == '0'], false},
		{"empty hash", goldenAcme, "", false},
		{"short hash", goldenAcme, want[:62], false},
		{"long hash", goldenAcme, want + "00", false},
		{"not hex", goldenAcme, "g" + want[1:], false},
		{"not hex, same value mod 16", goldenAcme, string(want[0]+('q'-'a')) + want[1:], false},
		{"raw key stored instead of a hash", goldenAcme, goldenAcme, false},
		{"empty key", "", hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }()), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := auth.Verify(tc.raw, tc.hash); got != tc.ok {
				t.Errorf("Verify = %v, want %v", got, tc.ok)
			}
		})
	}
	// Every byte value in every position of the stored hash: only the
	// right hex digits (either case) match.
	for pos := range 64 {
		for c := 0; c < 256; c++ {
			h := []byte(want)
			h[pos] = byte(c)
			ok := strings.EqualFold(string(h), want)
			if got := auth.Verify(goldenAcme, string(h)); got != ok {
				t.Fatalf("Verify with byte %#x at %d = %v, want %v", c, pos, got, ok)
			}
		}
	}
}

func TestExpiredBoundary(t *testing.T) {
	t.Parallel()
	exp := time.Date(2025, 6, 30, 23, 59, 59, 999999000, time.UTC).Add(time.Microsecond) // end of the day
	for _, tc := range []struct {
		name    string
		expires *time.Time
		now     time.Time
		want    bool
	}{
		{"no expiry", nil, exp.Add(100 * 365 * 24 * time.Hour), false},
		{"before", &exp, exp.Add(-time.Nanosecond), false},
		{"at", &exp, exp, true},
		{"after", &exp, exp.Add(time.Nanosecond), true},
		{"other zone, same instant", &exp, exp.In(time.FixedZone("X", -5*3600)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := auth.Key{ExpiresAt: tc.expires}
			if got := k.Expired(tc.now); got != tc.want {
				t.Errorf("Expired = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRawKeyRedaction(t *testing.T) {
	t.Parallel()
	raw, p, err := auth.Generate("joby", auth.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	secret := raw.Reveal()[len(raw.Reveal())-38:]
	display := p.DisplayPrefix()
	type wrapper struct {
		Key  auth.RawKey
		Name string
	}
	var logs bytes.Buffer
	text := slog.New(slog.NewTextHandler(&logs, nil))
	jsonLog := slog.New(slog.NewJSONHandler(&logs, nil))
	text.Info("created", "key", raw)
	jsonLog.Info("created", "key", raw, slog.Any("any", raw), slog.Group("g", "k", raw))
	jsonBody, err := json.Marshal(wrapper{Key: raw, Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, out string
	}{
		{"String", raw.String()},
		{"%s", fmt.Sprintf("%s", raw)},
		{"%v", fmt.Sprintf("%v", raw)},
		{"%+v", fmt.Sprintf("%+v", raw)},
		{"%#v", fmt.Sprintf("%#v", raw)},
		{"%q", fmt.Sprintf("%q", raw)},
		{"%x", fmt.Sprintf("%x", raw)},
		{"%X", fmt.Sprintf("%X", raw)},
		{"%10.3s", fmt.Sprintf("%10.3s", raw)},
		{"Sprint", fmt.Sprint(raw)},
		{"Sprintln", fmt.Sprintln(raw, raw)},
		{"struct %v", fmt.Sprintf("%v", wrapper{Key: raw})},
		{"struct %+v", fmt.Sprintf("%+v", wrapper{Key: raw})},
		{"struct %#v", fmt.Sprintf("%#v", wrapper{Key: raw})},
		{"pointer %v", fmt.Sprintf("%v", &wrapper{Key: raw})},
		{"slice", fmt.Sprint([]auth.RawKey{raw})},
		{"error", fmt.Errorf("create %v: %w", raw, errors.New("x")).Error()},
		{"json", string(jsonBody)},
		{"slog", logs.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if strings.Contains(tc.out, secret) || strings.Contains(tc.out, secret[:20]) {
				t.Fatalf("%s leaks the secret: %s", tc.name, tc.out)
			}
			if !strings.Contains(tc.out, display) {
				t.Fatalf("%s = %q, want the display prefix %q", tc.name, tc.out, display)
			}
		})
	}
	if raw.Reveal() != string(raw) || !strings.HasSuffix(raw.Reveal(), secret) {
		t.Error("Reveal does not return the full key")
	}
	if got := auth.RawKey("s3cr3t-value").String(); got != "[REDACTED]" {
		t.Errorf("String of a malformed key = %q, want [REDACTED]", got)
	}
	if got := fmt.Sprintf("%#v", raw); got != `auth.RawKey("`+display+`")` {
		t.Errorf("%%#v = %s", got)
	}
}

// FuzzParseKey checks that Parse never panics, that what it accepts is a
// well-formed key with a correct checksum, and that keys generated with any
// valid prefix round-trip.
func FuzzParseKey(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Add("joby")
	f.Add("a1234567890abcde")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := auth.Parse(s)
		if err != nil {
			if p != (auth.Parsed{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", s, p, err)
			}
			if !errors.Is(err, auth.ErrMalformed) {
				t.Fatalf("Parse(%q) error %v is not ErrMalformed", s, err)
			}
		} else {
			m := keyPattern.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("Parse accepted %q, which is not a key", s)
			}
			if m[1] != p.Prefix || m[2] != p.Env || m[3] != p.PublicID {
				t.Fatalf("Parse(%q) = %+v, want %q %q %q", s, p, m[1], m[2], m[3])
			}
			if base62Checksum(s[:len(s)-6]) != m[5] {
				t.Fatalf("Parse accepted %q with a wrong checksum", s)
			}
		}
		if auth.ValidatePrefix(s) == nil {
			raw, gp, err := auth.Generate(s, auth.EnvTest)
			if err != nil {
				t.Fatalf("Generate(%q): %v", s, err)
			}
			back, err := auth.Parse(raw.Reveal())
			if err != nil || back != gp {
				t.Fatalf("generated key does not round-trip: %+v, %v; want %+v", back, err, gp)
			}
		}
	})
}

// FuzzDigestMatches checks Verify against the obvious implementation: the
// stored hash decodes as hex (either case) to the SHA-256 of the key.
func FuzzDigestMatches(f *testing.F) {
	sum := sha256.Sum256([]byte(goldenAcme))
	f.Add(goldenAcme, hex.EncodeToString(sum[:]))
	f.Add(goldenAcme, strings.ToUpper(hex.EncodeToString(sum[:])))
	f.Add(goldenJoby, hex.EncodeToString(sum[:]))
	f.Add("", "")
	f.Fuzz(func(t *testing.T, raw, hash string) {
		sum := sha256.Sum256([]byte(raw))
		want := false
		if b, err := hex.DecodeString(hash); err == nil {
			want = bytes.Equal(b, sum[:])
		}
		if got := auth.Verify(raw, hash); got != want {
			t.Fatalf("Verify(%q, %q) = %v, want %v", raw, hash, got, want)
		}
		// The digest's own hex, with each digit in either case, matches.
		h := []byte(hex.EncodeToString(sum[:]))
		for i := range h {
			if i < len(hash) && hash[i]&1 == 1 {
				h[i] = bytes.ToUpper(h[i : i+1])[0]
			}
		}
		if !auth.Verify(raw, string(h)) {
			t.Fatalf("Verify(%q, %q) = false", raw, h)
		}
	})
}
