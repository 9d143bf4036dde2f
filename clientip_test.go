package gatehouse_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"gatehouse.dev"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := gatehouse.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	cases := []struct {
		name   string
		c      gatehouse.ClientIP
		remote string
		xff    []string
		want   string
	}{
		{"no proxies trusted ignores XFF", gatehouse.ClientIP{}, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer ignores XFF", trusted, "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted peer uses XFF", trusted, "10.0.0.2:1234", []string{"1.2.3.4"}, "1.2.3.4"},
		{"rightmost untrusted hop wins", trusted, "10.0.0.2:1234", []string{"6.6.6.6, 1.2.3.4, 10.0.0.9"}, "1.2.3.4"},
		{"several headers", trusted, "10.0.0.2:1", []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},
		{"garbage hop stops the walk", trusted, "10.0.0.2:1", []string{"1.2.3.4, nonsense"}, "10.0.0.2"},
		{"ipv6 peer", gatehouse.ClientIP{}, "[::1]:80", nil, "::1"},
		{"mapped ipv4", gatehouse.ClientIP{}, "[::ffff:192.0.2.1]:80", nil, "192.0.2.1"},
		{"bad remote", gatehouse.ClientIP{}, "nonsense", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.c.Of(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if a := tc.c.Addr(r); a.IsValid() != (tc.want != "") || (a.IsValid() && a.String() != tc.want) {
				t.Fatalf("Addr = %v, want %q", a, tc.want)
			}
		})
	}
}
