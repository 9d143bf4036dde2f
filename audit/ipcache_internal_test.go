package audit

import (
	"net/netip"
	"testing"
)

// TestIPCache checks that the cached text is always the address's own,
// whatever shares a slot, and that IPv4 addresses spread over the slots.
func TestIPCache(t *testing.T) {
	c := &ipCache{seed: 42}
	if got := c.text(netip.Addr{}); got != "" {
		t.Fatalf("zero Addr: %q, want \"\"", got)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("fe80::1%eth1"),
		netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("::ffff:192.0.2.1"),
	}
	for i := range 2000 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 7}))
	}
	for round := range 3 {
		for _, a := range addrs {
			if got, want := c.text(a), a.String(); got != want {
				t.Fatalf("round %d: text(%v) = %q, want %q", round, a, got, want)
			}
		}
	}
	// Sequential client addresses land in many slots.
	used := 0
	c = &ipCache{seed: 7}
	for i := range 256 {
		c.text(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			used++
		}
	}
	if used < 128 {
		t.Errorf("256 consecutive addresses used %d of 256 slots", used)
	}
}
