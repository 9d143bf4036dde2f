// Package uuid generates and validates RFC 9562 version 4 UUIDs in their
// canonical 36-character text form. It exists so the core packages need no
// third-party UUID dependency.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// New returns a random (version 4) UUID in canonical lower-case form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return format(b)
}

// NewV7 returns a time-ordered (version 7) UUID for t: 48 bits of Unix
// milliseconds, then 12 bits of sub-millisecond precision (RFC 9562 §6.2,
// method 3; about 244 ns per step), then 62 random bits. Ids made on one
// machine sort in time order, so (time, id) orders records of the same
// millisecond too.
func NewV7(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ns := t.UnixNano()
	ms := ns / 1e6
	frac := uint64(ns%1e6) * 4096 / 1e6 // 0..4095
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(frac>>8)
	b[7] = byte(frac)
	b[8] = (b[8] & 0x3f) | 0x80
	return format(b)
}

func format(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Valid reports whether s is a UUID in canonical 8-4-4-4-12 hexadecimal form
// (any version, either case).
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
