package gatehouse

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP finds the client address of a request. The zero value trusts no
// proxy and answers the connection's peer address; with TrustedProxies set,
// X-Forwarded-For is walked from the right while the hop is a trusted proxy,
// and the first untrusted address is the client.
type ClientIP struct {
	// TrustedProxies are the networks of proxies whose X-Forwarded-For is
	// believed. Empty: X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
}

// Of returns the client IP of r as text ("" if none can be found).
func (c ClientIP) Of(r *http.Request) string {
	if a := c.Addr(r); a.IsValid() {
		return a.String()
	}
	return ""
}

// Addr returns the client IP of r (the zero Addr if none can be found),
// without allocating: for lookups on the request path.
func (c ClientIP) Addr(r *http.Request) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if len(c.TrustedProxies) == 0 || !peer.IsValid() || !c.trusted(peer) {
		return peer
	}
	addr := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		// The hops from the right, split in place (strings.Split would
		// allocate a slice per header value).
		v := values[i]
		for {
			hop := v
			j := strings.LastIndexByte(v, ',')
			if j >= 0 {
				hop, v = v[j+1:], v[:j]
			}
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				return addr
			}
			addr = a.Unmap()
			if !c.trusted(addr) {
				return addr
			}
			if j < 0 {
				break
			}
		}
	}
	return addr
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ParseTrustedProxies parses a comma-separated list of networks
// ("10.0.0.0/8, 2001:db8::/32") or single addresses ("192.0.2.7", taken as
// /32 or /128) for [ClientIP].TrustedProxies, as read from a flag or an
// environment variable. Empty items are skipped; "" is no proxies.
// IPv4-mapped IPv6 forms are taken as IPv4, and host bits are masked off.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("gatehouse: trusted proxy %q is not an IP address or CIDR network", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("gatehouse: trusted proxy %q is not an IP address or CIDR network", f)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
