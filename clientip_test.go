package gatehouse_test

import (
	"net/http/httptest"
	"net/netip"
	"strings"
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
		{"all hops trusted", trusted, "10.0.0.2:1", []string{"10.1.1.1,10.2.2.2", "10.3.3.3"}, "10.1.1.1"},
		{"empty hop stops the walk", trusted, "10.0.0.2:1", []string{"1.2.3.4,,10.0.0.9"}, "10.0.0.9"},
		{"trailing comma stops the walk", trusted, "10.0.0.2:1", []string{"1.2.3.4,"}, "10.0.0.2"},
		{"leading comma after untrusted hop", trusted, "10.0.0.2:1", []string{",1.2.3.4"}, "1.2.3.4"},
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

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // prefixes joined by space; "error" for an error
	}{
		{"", ""},
		{" , ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8, 192.0.2.7", "10.0.0.0/8 192.0.2.7/32"},
		{"2001:db8::1/32,::1", "2001:db8::/32 ::1/128"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"10.0.0.0/33", "error"},
		{"proxy.internal", "error"},
		{"fe80::1%eth0", "error"},
		{"10.0.0.0/8,,x", "error"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := gatehouse.ParseTrustedProxies(tc.in)
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, " ") != tc.want {
				t.Errorf("got %v, want %s", s, tc.want)
			}
		})
	}
}

func FuzzParseTrustedProxies(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8", "10.1.2.3/8, 192.0.2.7", "2001:db8::1/32,::1", "::ffff:10.0.0.0/104", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := gatehouse.ParseTrustedProxies(s)
		if err != nil {
			return
		}
		// Round trip: the parsed prefixes, printed, parse to themselves.
		var parts []string
		for _, p := range got {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("%q: prefix %v not valid and masked", s, p)
			}
			parts = append(parts, p.String())
		}
		again, err := gatehouse.ParseTrustedProxies(strings.Join(parts, ","))
		if err != nil || len(again) != len(got) {
			t.Fatalf("%q: round trip %v: %v", s, again, err)
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("%q: round trip %v != %v", s, again[i], got[i])
			}
		}
	})
}

// TestClientIPAddrAllocs: walking X-Forwarded-For through trusted proxies
// allocates nothing.
func TestClientIPAddrAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	c := gatehouse.ClientIP{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Add("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.9")
	r.Header.Add("X-Forwarded-For", "10.0.0.8")
	var got netip.Addr
	if n := testing.AllocsPerRun(100, func() { got = c.Addr(r) }); n != 0 {
		t.Fatalf("Addr: %v allocations, want 0", n)
	}
	if got.String() != "1.2.3.4" {
		t.Fatalf("Addr = %v, want 1.2.3.4", got)
	}
}
