package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestAddressPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr     string
		refused  bool
		loopback bool // refused without AllowLoopback only
	}{
		{"93.184.216.34", false, false},
		{"8.8.8.8", false, false},
		{"2606:4700:4700::1111", false, false},
		{"127.0.0.1", true, true},
		{"127.255.0.9", true, true},
		{"::1", true, true},
		{"::ffff:127.0.0.1", true, true},
		{"10.0.0.1", true, false},
		{"172.16.5.4", true, false},
		{"172.31.255.255", true, false},
		{"172.32.0.1", false, false},
		{"192.168.1.1", true, false},
		{"169.254.169.254", true, false},
		{"0.0.0.0", true, false},
		{"0.1.2.3", true, false},
		{"100.64.0.1", true, false},
		{"100.127.255.255", true, false},
		{"100.128.0.1", false, false},
		{"192.0.0.8", true, false},
		{"192.0.2.1", true, false},
		{"198.18.0.1", true, false},
		{"198.19.255.255", true, false},
		{"198.20.0.1", false, false},
		{"198.51.100.7", true, false},
		{"203.0.113.7", true, false},
		{"224.0.0.1", true, false},
		{"239.255.255.250", true, false},
		{"240.0.0.1", true, false},
		{"255.255.255.255", true, false},
		{"::", true, false},
		{"fc00::1", true, false},
		{"fd12:3456::1", true, false},
		{"fe80::1", true, false},
		{"febf::1", true, false},
		{"fec0::1", true, false},
		{"ff02::1", true, false},
		{"ff05::2", true, false},
		{"::ffff:10.0.0.1", true, false},
		{"::ffff:169.254.169.254", true, false},
		{"::ffff:100.64.1.1", true, false},
		{"::ffff:93.184.216.34", false, false},
		{"::10.0.0.1", true, false},
		{"64:ff9b::a00:1", true, false},      // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d822", false, false}, // NAT64 of 93.184.216.34
		{"2002:a00:1::1", true, false},       // 6to4 of 10.0.0.1
		{"2002:5db8:d822::1", false, false},
		{"2001:db8::1", true, false},
		{"2001:0::1", true, false},
		{"100::1", true, false},
	}
	strict, loose := newAddrPolicy(false), newAddrPolicy(true)
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tc.addr)
			err := strict.check(ip)
			if (err != nil) != tc.refused {
				t.Fatalf("strict check(%s) = %v, want refused=%v", tc.addr, err, tc.refused)
			}
			if err != nil && !errors.Is(err, ErrRefusedAddress) {
				t.Fatalf("error %v does not wrap ErrRefusedAddress", err)
			}
			err = loose.check(ip)
			if want := tc.refused && !tc.loopback; (err != nil) != want {
				t.Fatalf("AllowLoopback check(%s) = %v, want refused=%v", tc.addr, err, want)
			}
		})
	}
	if err := strict.check(netip.MustParseAddr("fe80::1%eth0")); err == nil {
		t.Fatal("zoned address accepted")
	}
	if err := strict.control("tcp4", "10.1.2.3:443", nil); !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("control(10.1.2.3) = %v", err)
	}
	if err := strict.control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Fatalf("control(public) = %v", err)
	}
	if err := strict.control("tcp", "garbage", nil); err == nil {
		t.Fatal("control accepted an unparsable address")
	}
}

// mapResolver resolves names from a map; anything else fails.
type mapResolver map[string][]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	addrs, ok := m[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(addrs))
	for i, a := range addrs {
		out[i] = net.IPAddr{IP: net.ParseIP(a)}
	}
	return out, nil
}

func TestTargetURL(t *testing.T) {
	t.Parallel()
	res := mapResolver{
		"hooks.example.com": {"93.184.216.34"},
		"internal.test":     {"10.0.0.7"},
		"mixed.test":        {"93.184.216.34", "192.168.0.1"},
		"localhost":         {"127.0.0.1", "::1"},
		"metadata.test":     {"169.254.169.254"},
	}
	failDial := func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s at subscription time", address)
		return nil, errors.New("no")
	}
	rules := func(http, anyPort, loopback bool) urlRules {
		return urlRules{allowHTTP: http, allowAnyPort: anyPort, dialer: newGuardedDialer(newAddrPolicy(loopback), res, failDial)}
	}
	strict := rules(false, false, false)
	cases := []struct {
		name  string
		rules urlRules
		url   string
		want  string // "" valid, else a substring of the message
	}{
		{"https name", strict, "https://hooks.example.com/in?x=1", ""},
		{"https port 443", strict, "https://hooks.example.com:443/in", ""},
		{"https port 80", strict, "https://hooks.example.com:80/in", ""},
		{"upper-case scheme", strict, "HTTPS://hooks.example.com/", ""},
		{"public IP", strict, "https://93.184.216.34/", ""},
		{"empty", strict, "", "is required"},
		{"http refused", strict, "http://hooks.example.com/", "must use https"},
		{"http allowed", rules(true, false, false), "http://hooks.example.com/", ""},
		{"ftp", strict, "ftp://hooks.example.com/", "must be an https URL"},
		{"relative", strict, "/hooks", "absolute URL"},
		{"no host", strict, "https:///x", "absolute URL"},
		{"opaque", strict, "https:hooks.example.com", "absolute URL"},
		{"port 8443", strict, "https://hooks.example.com:8443/", "port 443 or 80"},
		{"port 8443 allowed", rules(false, true, false), "https://hooks.example.com:8443/", ""},
		{"port 0", rules(false, true, false), "https://hooks.example.com:0/", "invalid port"},
		{"port 99999", rules(false, true, false), "https://hooks.example.com:99999/", "invalid port"},
		{"credentials", strict, "https://user:pw@hooks.example.com/", "credentials"},
		{"fragment", strict, "https://hooks.example.com/#x", "fragment"},
		{"space", strict, "https://hooks.example.com/a b", "spaces"},
		{"control character", strict, "https://hooks.example.com/\x01", "control"},
		{"too long", strict, "https://hooks.example.com/" + strings.Repeat("a", 2048), "at most 2048"},
		{"bad host", strict, "https://hooks_!.example.com/", "invalid"},
		{"unresolvable", strict, "https://nowhere.test/", "could not be resolved"},
		{"loopback IP", strict, "https://127.0.0.1/", "is a refused address (loopback)"},
		{"loopback IP allowed", rules(false, false, true), "https://127.0.0.1/", ""},
		{"private IP", strict, "https://10.0.0.1/", "is a refused address (private)"},
		{"metadata IP", strict, "https://169.254.169.254/latest", "link-local"},
		{"IPv6 loopback", strict, "https://[::1]/", "loopback"},
		{"IPv4-mapped private", strict, "https://[::ffff:10.0.0.1]/", "private"},
		{"zoned IPv6", strict, "https://[fe80::1%25eth0]/", "zoned"},
		{"name to private", strict, "https://internal.test/", "resolves to a refused address (private)"},
		{"name to metadata", strict, "https://metadata.test/", "resolves to a refused address (link-local)"},
		{"one private address among public", strict, "https://mixed.test/", "private"},
		{"localhost", strict, "https://localhost/", "loopback"},
		{"decimal IPv4", strict, "https://2130706433/", "could not be resolved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, msg := tc.rules.check(context.Background(), tc.url)
			if tc.want == "" {
				if msg != "" {
					t.Fatalf("check(%q) refused: %s", tc.url, msg)
				}
				if !strings.HasPrefix(u, "http") {
					t.Fatalf("normalized URL %q", u)
				}
				return
			}
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("check(%q) = %q, want a message containing %q", tc.url, msg, tc.want)
			}
			if strings.Contains(msg, "10.0.0.7") || strings.Contains(msg, "169.254") && !strings.Contains(tc.url, "169.254") {
				t.Fatalf("message %q reveals what an internal name resolves to", msg)
			}
		})
	}
}

func FuzzTargetURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/in", "http://127.0.0.1:8080/", "https://[::ffff:10.0.0.1]/",
		"https://user@x/", "https://%zz/", "https://[fe80::1%25eth0]:443/", "https://a..b/", "https://:443",
	} {
		f.Add(s)
	}
	res := mapResolver{"hooks.example.com": {"93.184.216.34"}}
	f.Fuzz(func(t *testing.T, raw string) {
		dial := func(context.Context, string, string) (net.Conn, error) {
			t.Fatal("dialed during validation")
			return nil, nil
		}
		r := urlRules{dialer: newGuardedDialer(newAddrPolicy(false), res, dial)}
		u, msg := r.check(context.Background(), raw)
		if msg == "" && !strings.HasPrefix(u, "https://") {
			t.Fatalf("accepted %q as %q", raw, u)
		}
	})
}
