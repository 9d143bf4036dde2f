package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it; tests inject their own.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// DialFunc dials a network address, like net.Dialer.DialContext. The
// dispatcher only ever passes it an "ip:port" address that passed the
// address policy.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// ErrRefusedAddress is wrapped by every refusal of a target address by the
// SSRF policy (loopback, private, link-local, reserved and so on).
var ErrRefusedAddress = errors.New("webhook: refused target address")

// blockedRange is a range of addresses webhooks are never sent to.
type blockedRange struct {
	prefix netip.Prefix
	why    string
}

func v4(a, b, c, d byte, bits int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{a, b, c, d}), bits)
}

func v6(prefix [16]byte, bits int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16(prefix), bits)
}

// blockedRanges returns the special-purpose ranges refused besides what
// netip classifies (loopback, private, link-local, multicast, unspecified).
func blockedRanges() []blockedRange {
	return []blockedRange{
		{v4(0, 0, 0, 0, 8), "reserved (this network, 0.0.0.0/8)"},
		{v4(100, 64, 0, 0, 10), "carrier-grade NAT (100.64.0.0/10)"},
		{v4(192, 0, 0, 0, 24), "IETF protocol assignments (192.0.0.0/24)"},
		{v4(192, 0, 2, 0, 24), "documentation (192.0.2.0/24)"},
		{v4(198, 18, 0, 0, 15), "benchmarking (198.18.0.0/15)"},
		{v4(198, 51, 100, 0, 24), "documentation (198.51.100.0/24)"},
		{v4(203, 0, 113, 0, 24), "documentation (203.0.113.0/24)"},
		{v4(240, 0, 0, 0, 4), "reserved (240.0.0.0/4)"},
		{v6([16]byte{0x01}, 64), "discard-only (100::/64)"},
		{v6([16]byte{0x20, 0x01, 0x0d, 0xb8}, 32), "documentation (2001:db8::/32)"},
		{v6([16]byte{0x20, 0x01}, 32), "Teredo (2001::/32)"},
		{v6([16]byte{0xfe, 0xc0}, 10), "site-local (fec0::/10)"},
	}
}

// addrPolicy decides which addresses webhooks may be sent to.
type addrPolicy struct {
	allowLoopback bool
	blocked       []blockedRange
}

func newAddrPolicy(allowLoopback bool) *addrPolicy {
	return &addrPolicy{allowLoopback: allowLoopback, blocked: blockedRanges()}
}

// check returns nil when ip may be dialed, else an error wrapping
// ErrRefusedAddress that names the address and why. IPv4-mapped
// (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and
// 6to4 (2002::/16) addresses are judged by the IPv4 address they embed.
func (p *addrPolicy) check(ip netip.Addr) error {
	if why := p.classify(ip); why != "" {
		return &refusedError{addr: ip.String(), why: why}
	}
	return nil
}

// refusedError is a refusal by the address policy.
type refusedError struct {
	host string // the name that resolved to addr, if any
	addr string
	why  string
}

func (e *refusedError) Error() string {
	if e.host != "" {
		return fmt.Sprintf("%s: %s resolves to %s (%s)", ErrRefusedAddress, e.host, e.addr, e.why)
	}
	return fmt.Sprintf("%s %s (%s)", ErrRefusedAddress, e.addr, e.why)
}

func (e *refusedError) Unwrap() error { return ErrRefusedAddress }

// public is the text a client may read: the address only when the client
// gave it, never what an internal name resolves to.
func (e *refusedError) public() string {
	if e.host != "" {
		return "resolves to a refused address (" + e.why + ")"
	}
	return "is a refused address (" + e.why + ")"
}

func (p *addrPolicy) classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	if ip.Zone() != "" {
		return "zoned address"
	}
	if ip.Is6() && !ip.Is4In6() {
		b := ip.As16()
		switch {
		case b == [16]byte{} || b == [16]byte{15: 1}:
			// :: and ::1, classified below.
		case [12]byte(b[:12]) == [12]byte{}:
			// IPv4-compatible ::a.b.c.d (deprecated).
			return p.classify(netip.AddrFrom4([4]byte(b[12:])))
		case [12]byte(b[:12]) == [12]byte{0x00, 0x64, 0xff, 0x9b}:
			// NAT64 well-known prefix 64:ff9b::/96.
			return p.classify(netip.AddrFrom4([4]byte(b[12:])))
		case b[0] == 0x20 && b[1] == 0x02:
			// 6to4 2002:a.b.c.d::/48.
			return p.classify(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if p.allowLoopback {
			return ""
		}
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, r := range p.blocked {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	return ""
}

// control is the net.Dialer Control function: it checks the address the
// socket is about to connect to, whatever name resolution led there.
func (p *addrPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{addr: address, why: "unparsable address"}
	}
	return p.check(ap.Addr())
}

// guardedDialer resolves a host with the resolver, refuses it when any of
// its addresses is refused by the policy, then dials the addresses in turn.
// The default dial function is a net.Dialer whose Control re-checks the
// address actually dialed.
type guardedDialer struct {
	policy   *addrPolicy
	resolver Resolver
	dial     DialFunc
}

func newGuardedDialer(p *addrPolicy, r Resolver, dial DialFunc) *guardedDialer {
	if r == nil {
		r = net.DefaultResolver
	}
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
		dial = d.DialContext
	}
	return &guardedDialer{policy: p, resolver: r, dial: dial}
}

// resolve returns the addresses of host (an IP literal or a name), or an
// error when there are none or any of them is refused.
func (g *guardedDialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := g.policy.check(ip); err != nil {
			return nil, err
		}
		return []netip.Addr{ip}, nil
	}
	addrs, err := g.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("webhook: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("webhook: resolve %s: no addresses", host)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return nil, &refusedError{host: host, addr: a.String(), why: "invalid"}
		}
		ip = ip.Unmap() // net.IP holds IPv4 in 16 bytes
		if a.Zone != "" {
			ip = ip.WithZone(a.Zone)
		}
		if err := g.policy.check(ip); err != nil {
			var re *refusedError
			if errors.As(err, &re) {
				re.host = host
			}
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

// DialContext is the transport's dial function.
func (g *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("webhook: dial %q: %w", address, err)
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ip := range ips {
		ip = ip.Unmap()
		if err := g.policy.check(ip); err != nil {
			return nil, err
		}
		c, err := g.dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// maxURLLength bounds target URLs.
const maxURLLength = 2048

// urlRules are the target URL rules of [Options].
type urlRules struct {
	allowHTTP    bool
	allowAnyPort bool
	dialer       *guardedDialer
}

// check validates a target URL and resolves its host. It returns the URL
// as it will be stored and a message for the client ("" when valid).
func (u urlRules) check(ctx context.Context, raw string) (string, string) {
	if raw == "" {
		return "", msgRequired
	}
	if len(raw) > maxURLLength {
		return "", fmt.Sprintf("must be at most %d characters", maxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] == 0x7f {
			return "", "must not contain spaces or control characters"
		}
	}
	pu, err := url.Parse(raw)
	if err != nil || !pu.IsAbs() || pu.Opaque != "" || pu.Host == "" {
		return "", "must be an absolute URL"
	}
	scheme := strings.ToLower(pu.Scheme)
	switch {
	case scheme == "https":
	case scheme == "http" && u.allowHTTP:
	case scheme == "http":
		return "", "must use https"
	default:
		return "", "must be an https URL"
	}
	pu.Scheme = scheme
	if pu.User != nil {
		return "", "must not contain credentials"
	}
	if pu.Fragment != "" || strings.Contains(raw, "#") {
		return "", "must not contain a fragment"
	}
	host := pu.Hostname()
	if host == "" {
		return "", "must have a host"
	}
	if p := pu.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "has an invalid port"
		}
		if !u.allowAnyPort && n != 80 && n != 443 {
			return "", "must use port 443 or 80"
		}
	}
	if strings.Contains(host, "%") {
		return "", "must not use a zoned address"
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return "", "has an invalid host name"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := u.dialer.resolve(ctx, host); err != nil {
		var re *refusedError
		if errors.As(err, &re) {
			return "", "is not allowed: its host " + re.public()
		}
		return "", "could not be resolved"
	}
	return pu.String(), ""
}

// validHostname reports whether h is a DNS name of letters, digits, hyphens
// and dots (and underscores, which some providers use), labels of 1–63
// characters, 253 characters in all.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
