package stack_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/stack"
)

var redisURLs = []struct {
	url     string
	cluster bool
	addrs   []string
	tls     bool
	bad     bool
}{
	{url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
	{url: "redis://user:pw@cache:6380/2?dial_timeout=3s", addrs: []string{"cache:6380"}},
	{url: "rediss://cache.example.com:6379", addrs: []string{"cache.example.com:6379"}, tls: true},
	{url: "redis+cluster://h1:7000,h2:7001,h3:7002", cluster: true, addrs: []string{"h1:7000", "h2:7001", "h3:7002"}},
	{url: "rediss+cluster://:pw@h1:7000,h2:7001?read_timeout=1s", cluster: true, addrs: []string{"h1:7000", "h2:7001"}, tls: true},
	{url: "", bad: true},
	{url: "http://cache:6379", bad: true},
	{url: "redis+cluster://h1:7000,user@h2:7001", bad: true},
	{url: "redis+cluster://h1:7000,,h2:7001", bad: true},
	{url: "redis://cache:6379/notanumber", bad: true},
}

func TestOpenRedis(t *testing.T) {
	t.Parallel()
	for _, tc := range redisURLs {
		t.Run(tc.url, func(t *testing.T) {
			c, err := stack.OpenRedis(tc.url)
			if tc.bad {
				if err == nil {
					_ = c.Close()
					t.Fatal("accepted")
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch cc := c.(type) {
			case *redis.ClusterClient:
				o := cc.Options()
				if !tc.cluster || strings.Join(o.Addrs, ",") != strings.Join(tc.addrs, ",") || (o.TLSConfig != nil) != tc.tls || !o.ContextTimeoutEnabled {
					t.Fatalf("cluster options %v %v", o.Addrs, o.TLSConfig != nil)
				}
			case *redis.Client:
				o := cc.Options()
				if tc.cluster || o.Addr != tc.addrs[0] || (o.TLSConfig != nil) != tc.tls || !o.ContextTimeoutEnabled {
					t.Fatalf("options %v %v", o.Addr, o.TLSConfig != nil)
				}
			default:
				t.Fatalf("client %T", c)
			}
		})
	}
}

// FuzzOpenRedis: any string is a client or an error, never a panic.
func FuzzOpenRedis(f *testing.F) {
	for _, tc := range redisURLs {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, u string) {
		c, err := stack.OpenRedis(u)
		if err == nil {
			_ = c.Close()
		}
	})
}
