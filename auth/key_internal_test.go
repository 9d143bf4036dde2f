package auth

import (
	"encoding/hex"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestChecksumIsCRC32 checks the slicing-by-8 CRC against hash/crc32 for
// every length up to 200 bytes and every byte value.
func TestChecksumIsCRC32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 200)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	for n := range len(b) + 1 {
		if got, want := checksum(string(b[:n])), crc32.ChecksumIEEE(b[:n]); got != want {
			t.Fatalf("checksum of %d bytes = %#x, want %#x", n, got, want)
		}
	}
	for c := range 256 {
		s := string([]byte{byte(c), 1, 2, 3, 4, 5, 6, 7, byte(c)})
		if got, want := checksum(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Fatalf("checksum with byte %#x = %#x, want %#x", c, got, want)
		}
	}
}

// TestHex8 checks the word-wide hex encoding against encoding/hex for every
// byte value in every position.
func TestHex8(t *testing.T) {
	for v := range 256 {
		for pos := range 4 {
			var b [4]byte
			b[pos] = byte(v)
			b[(pos+1)%4] = byte(255 - v)
			want := hex.EncodeToString(b[:])
			w := hex8(b[0], b[1], b[2], b[3])
			var got [8]byte
			for i := range got {
				got[i] = byte(w >> (8 * i))
			}
			if string(got[:]) != want {
				t.Fatalf("hex8(%x) = %q, want %q", b, got, want)
			}
		}
	}
}

// TestFoldHex8 checks the word-wide case folding for every byte value in
// every position, next to every other byte value in the others.
func TestFoldHex8(t *testing.T) {
	fold := func(c byte) byte {
		if 'A' <= c && c <= 'F' {
			return c + 'a' - 'A'
		}
		return c
	}
	for v := range 256 {
		for other := range 256 {
			for pos := range 8 {
				var in [8]byte
				for i := range in {
					in[i] = byte(other)
				}
				in[pos] = byte(v)
				var x uint64
				for i, c := range in {
					x |= uint64(c) << (8 * i)
				}
				got := foldHex8(x)
				for i, c := range in {
					if g := byte(got >> (8 * i)); g != fold(c) {
						t.Fatalf("foldHex8(%x): byte %d = %#x, want %#x", in, i, g, fold(c))
					}
				}
			}
		}
	}
}

// TestIsBase62 checks the eight-bytes-a-step isBase62 against a byte loop
// for every byte value in every position of strings of 1 to 40 bytes.
func TestIsBase62(t *testing.T) {
	ref := func(s string) bool {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
				return false
			}
		}
		return true
	}
	b := make([]byte, 40)
	for n := 1; n <= len(b); n++ {
		for i := range n {
			b[i] = base62[(i*7+n)%62]
		}
		if !isBase62(string(b[:n])) {
			t.Fatalf("isBase62(%q) = false", b[:n])
		}
		for pos := range n {
			keep := b[pos]
			for v := range 256 {
				b[pos] = byte(v)
				if got, want := isBase62(string(b[:n])), ref(string(b[:n])); got != want {
					t.Fatalf("isBase62(%q) = %v, want %v", b[:n], got, want)
				}
			}
			b[pos] = keep
		}
	}
	if !isBase62("") {
		t.Fatal(`isBase62("") = false`)
	}
}
