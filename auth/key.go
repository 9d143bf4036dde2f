package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strconv"
	"sync"
)

// Key format: <prefix>_<env>_<public_id>_<secret><checksum>.
const (
	// PublicIDLen is the length of the public id, the lookup id of a key.
	PublicIDLen = 16
	// SecretLen is the number of random characters of the secret.
	SecretLen = 32
	// ChecksumLen is the length of the checksum that ends every key.
	ChecksumLen = 6

	minPrefixLen = 2
	maxPrefixLen = 16
	envLen       = 4
	// tailLen is everything after the prefix: "_env_publicid_secretchecksum".
	tailLen = 1 + envLen + 1 + PublicIDLen + 1 + SecretLen + ChecksumLen
	// MinKeyLen and MaxKeyLen bound the length of a well-formed key.
	MinKeyLen = minPrefixLen + tailLen
	MaxKeyLen = maxPrefixLen + tailLen
)

// Environments of a key. The environment is a stored attribute reported back
// to the caller; it changes no behaviour.
const (
	EnvLive = "live"
	EnvTest = "test"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors of [Parse]. Neither ever contains any part of the key.
var (
	// ErrMalformed: the string is not a well-formed key.
	ErrMalformed = errors.New("auth: malformed API key")
	// ErrChecksum: the key is well formed but its checksum does not match,
	// usually a typo. errors.Is(ErrChecksum, ErrMalformed) is true.
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrMalformed)
)

// RawKey is a full API key, secret included. It exists once, when the key
// is created, and is shown to the user a single time with [RawKey.Reveal].
// Every other way of printing it (fmt verbs, slog, encoding/json) shows only
// the display prefix, so a stray %v or log attribute cannot leak it.
type RawKey string

// Reveal returns the full key, secret included. Call it only to show the
// key to its owner at creation.
func (k RawKey) Reveal() string { return string(k) }

// redacted returns the display prefix of k, or a placeholder when k is not
// a well-formed key.
func (k RawKey) redacted() string {
	p, err := Parse(string(k))
	if err != nil {
		return "[REDACTED]"
	}
	return p.DisplayPrefix()
}

// String returns the display prefix ("joby_live_<public_id>_…"), never the
// secret.
func (k RawKey) String() string { return k.redacted() }

// GoString returns the redacted key as a Go expression, for %#v.
func (k RawKey) GoString() string { return "auth.RawKey(" + strconv.Quote(k.redacted()) + ")" }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %#v,
// …) prints the redacted form.
func (k RawKey) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(k.GoString()))
	case verb == 'q':
		_, _ = f.Write([]byte(strconv.Quote(k.redacted())))
	default:
		_, _ = f.Write([]byte(k.redacted()))
	}
}

// LogValue implements slog.LogValuer: logs show the display prefix only.
func (k RawKey) LogValue() slog.Value { return slog.StringValue(k.redacted()) }

// MarshalJSON encodes the redacted form. A response that must carry the key
// (the create response) sets a plain string from [RawKey.Reveal].
func (k RawKey) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(k.redacted())), nil }

// Parsed holds the public parts of a well-formed key. It never holds the
// secret.
type Parsed struct {
	Prefix   string // e.g. "joby"
	Env      string // EnvLive or EnvTest
	PublicID string // 16 base62 characters
}

// DisplayPrefix returns "<prefix>_<env>_<public_id>_…", the form in which a
// key may be shown after creation.
func (p Parsed) DisplayPrefix() string {
	return p.Prefix + "_" + p.Env + "_" + p.PublicID + "_…"
}

// ValidatePrefix checks a key prefix: a lower-case ASCII letter followed by
// 1–15 lower-case letters or digits.
func ValidatePrefix(p string) error {
	if !validPrefix(p) {
		return fmt.Errorf("auth: invalid key prefix %q: want [a-z][a-z0-9]{1,15}", p)
	}
	return nil
}

func validPrefix(p string) bool {
	if len(p) < minPrefixLen || len(p) > maxPrefixLen || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if c := p[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ValidEnv reports whether env is [EnvLive] or [EnvTest].
func ValidEnv(env string) bool { return env == EnvLive || env == EnvTest }

func isBase62(s string) bool {
	// Eight bytes a step: all ASCII, and each byte a digit or (with the
	// 0x20 bit set, which folds upper case onto lower case) a letter. The
	// range tests add to bytes below 0x80 and never carry into the next.
	const ones, high = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if x&high != 0 {
			return false
		}
		digit := (x + (0x80-'0')*ones) &^ (x + (0x7f-'9')*ones)
		y := x | 0x20*ones
		letter := (y + (0x80-'a')*ones) &^ (y + (0x7f-'z')*ones)
		if (digit|letter)&high != high {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// Generate returns a new key "<prefix>_<env>_<public_id>_<secret>" and its
// public parts. The public id (16 characters) and the secret (32 characters)
// are uniformly random base62 from crypto/rand; the secret is followed by a
// 6-character checksum, the CRC32-IEEE of everything before it in base62,
// left-padded with '0'.
func Generate(prefix, env string) (RawKey, Parsed, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", Parsed{}, err
	}
	if !ValidEnv(env) {
		return "", Parsed{}, fmt.Errorf("auth: invalid key env %q: want %q or %q", env, EnvLive, EnvTest)
	}
	b := make([]byte, 0, len(prefix)+tailLen)
	b = append(b, prefix...)
	b = append(b, '_')
	b = append(b, env...)
	b = append(b, '_')
	pubStart := len(b)
	b = appendRandomBase62(b, PublicIDLen)
	pubEnd := len(b)
	b = append(b, '_')
	b = appendRandomBase62(b, SecretLen)
	b = appendChecksum(b, checksum(string(b)))
	s := string(b)
	clear(b)
	return RawKey(s), Parsed{Prefix: prefix, Env: env, PublicID: s[pubStart:pubEnd]}, nil
}

// appendRandomBase62 appends n uniformly random base62 characters, by
// rejection sampling of random bytes (values 248–255 are dropped so that
// every character is equally likely).
func appendRandomBase62(b []byte, n int) []byte {
	var buf [64]byte
	for n > 0 {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+).
		for _, r := range buf {
			if r >= 248 {
				continue
			}
			b = append(b, base62[r%62])
			if n--; n == 0 {
				break
			}
		}
	}
	return b
}

// checksum is CRC32-IEEE of s, computed over the string without copying it
// (hash/crc32 wants a []byte, and a copy would escape to the heap through its
// dispatch), eight bytes a step with the slicing-by-8 tables: about six
// times faster than a byte a step, which was a fifth of the cost of
// authenticating a request (issue 17 item 3).
func checksum(s string) uint32 {
	t := crcTables()
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][(crc>>16)&0xff] ^ t[6][(crc>>8)&0xff] ^ t[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// crcTables returns the slicing-by-8 tables of CRC32-IEEE, computed once
// and never modified: t[0] is crc32.IEEETable and t[j][b] the CRC of byte
// b followed by j zero bytes.
var crcTables = sync.OnceValue(func() *[8][256]uint32 {
	t := new([8][256]uint32)
	t[0] = *crc32.IEEETable
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ (crc >> 8)
			t[j][i] = crc
		}
	}
	return t
})

// appendChecksum appends c as ChecksumLen base62 digits, most significant
// first, left-padded with '0'.
func appendChecksum(b []byte, c uint32) []byte {
	var d [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		d[i] = base62[c%62]
		c /= 62
	}
	return append(b, d[:]...)
}

// checksumMatches reports whether the last ChecksumLen characters of s
// encode the checksum of the rest.
func checksumMatches(s string) bool {
	n := len(s) - ChecksumLen
	c := checksum(s[:n])
	for i := len(s) - 1; i >= n; i-- {
		if s[i] != base62[c%62] {
			return false
		}
		c /= 62
	}
	return true
}

// Parse checks that s is a well-formed key and returns its public parts,
// which share memory with s (Parse does not allocate). It reads from the
// right: checksum, secret, public id, env, then the prefix is what remains.
// Every part is validated and the checksum verified, so a mistyped key is
// rejected before any store lookup. Errors are [ErrMalformed] or
// [ErrChecksum] and never contain the key.
func Parse(s string) (Parsed, error) {
	n := len(s)
	if n < MinKeyLen || n > MaxKeyLen {
		return Parsed{}, ErrMalformed
	}
	secretStart := n - SecretLen - ChecksumLen
	pubStart := secretStart - 1 - PublicIDLen
	envStart := pubStart - 1 - envLen
	prefixEnd := envStart - 1
	if s[secretStart-1] != '_' || s[pubStart-1] != '_' || s[prefixEnd] != '_' {
		return Parsed{}, ErrMalformed
	}
	p := Parsed{Prefix: s[:prefixEnd], Env: s[envStart : pubStart-1], PublicID: s[pubStart : secretStart-1]}
	if !validPrefix(p.Prefix) || !ValidEnv(p.Env) || !isBase62(p.PublicID) || !isBase62(s[secretStart:]) {
		return Parsed{}, ErrMalformed
	}
	if !checksumMatches(s) {
		return Parsed{}, ErrChecksum
	}
	return p, nil
}

// Hash returns the hex SHA-256 of the full key, the form in which keys are
// stored.
func Hash(raw string) string {
	d := DigestOf(raw)
	return hex.EncodeToString(d[:])
}

// Digest is the binary SHA-256 of a full key.
type Digest [sha256.Size]byte

// DigestOf returns the SHA-256 of the full key without allocating.
func DigestOf(raw string) Digest {
	// Keys are at most MaxKeyLen bytes: hash them from a stack buffer so
	// the string is not copied to the heap.
	var buf [MaxKeyLen]byte
	if len(raw) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], raw)])
	}
	return sha256.Sum256([]byte(raw))
}

// Matches reports, in constant time, whether d is the digest stored as the
// hex string hash (as returned by [Hash], either case). A hash that is not
// 64 hex characters never matches.
//
// It encodes d (the digest of the presented key, which its sender knows)
// as lower-case hex and compares the text with the stored hash, whose
// upper-case hex digits it folds to lower case, eight characters at a
// time in a 64-bit word: no branch and no table lookup depends on either
// (a fifth of the cost of decoding the stored hash digit by digit).
func (d Digest) Matches(hash string) bool {
	if len(hash) != 2*len(d) {
		return false
	}
	var diff uint64
	for i := 0; i < len(d); i += 4 {
		h := hash[2*i : 2*i+8]
		got := uint64(h[0]) | uint64(h[1])<<8 | uint64(h[2])<<16 | uint64(h[3])<<24 |
			uint64(h[4])<<32 | uint64(h[5])<<40 | uint64(h[6])<<48 | uint64(h[7])<<56
		diff |= foldHex8(got) ^ hex8(d[i], d[i+1], d[i+2], d[i+3])
	}
	diff |= diff >> 32
	diff |= diff >> 16
	diff |= diff >> 8
	return subtle.ConstantTimeByteEq(byte(diff), 0) == 1
}

// hex8 returns the lower-case hex of b0..b3 as eight characters, the first
// in the lowest byte, computed with arithmetic on the whole word.
func hex8(b0, b1, b2, b3 byte) uint64 {
	const (
		lowNibbles = 0x000f000f000f000f
		ones       = 0x0101010101010101
	)
	v := uint64(b0) | uint64(b1)<<16 | uint64(b2)<<32 | uint64(b3)<<48
	n := (v>>4)&lowNibbles | (v&lowNibbles)<<8 // one nibble (0–15) a byte
	letter := ((n + 6*ones) >> 4) & ones       // 1 in the bytes above 9
	return n + '0'*ones + letter*('a'-'0'-10)
}

// foldHex8 returns the eight characters of x with 'A'–'F' turned into
// 'a'–'f' and every other byte unchanged (so a non-hex byte never equals a
// hex digit), computed with arithmetic on the whole word.
func foldHex8(x uint64) uint64 {
	const (
		high = 0x8080808080808080
		ones = 0x0101010101010101
	)
	// With each byte's high bit set first, subtracting never borrows
	// across bytes; the high bit then tells c >= 'A' and c >= 'G' for the
	// bytes below 0x80.
	geA := (x | high) - 'A'*ones
	geG := (x | high) - 'G'*ones
	upperHex := geA &^ geG &^ x & high
	return x | upperHex>>2 // 0x80>>2 is 0x20, the lower-case bit
}

// Verify reports, in constant time, whether raw is the key whose [Hash] is
// hash.
func Verify(raw, hash string) bool { return DigestOf(raw).Matches(hash) }
