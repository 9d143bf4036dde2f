package stack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// OpenRedis opens a Redis client from a URL: redis://[user:password@]host:port[/db]
// or rediss:// (TLS) for one server (go-redis's ParseURL, options such as
// ?dial_timeout=3s included), or redis+cluster://host1:port1,host2:port2
// (rediss+cluster:// with TLS) for a Redis Cluster. Context deadlines
// bound every command. The caller closes the client.
func OpenRedis(u string) (redis.UniversalClient, error) {
	for _, scheme := range []string{"redis+cluster://", "rediss+cluster://"} {
		rest, ok := strings.CutPrefix(u, scheme)
		if !ok {
			continue
		}
		// Parse the first node as a plain URL to take its credentials and
		// options; the others are host:port.
		nodes, query, _ := strings.Cut(rest, "?")
		addrs := strings.Split(nodes, ",")
		first := strings.Replace(scheme, "+cluster", "", 1) + addrs[0]
		if query != "" {
			first += "?" + query
		}
		opt, err := redis.ParseClusterURL(first)
		if err != nil {
			return nil, fmt.Errorf("stack: Redis URL: %w", err)
		}
		for _, a := range addrs[1:] {
			if a == "" || strings.ContainsAny(a, "/@") {
				return nil, fmt.Errorf("stack: Redis URL: cluster node %q is not host:port", a)
			}
			opt.Addrs = append(opt.Addrs, a)
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClusterClient(opt), nil
	}
	if u == "" {
		return nil, errors.New("stack: Redis URL is empty")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("stack: Redis URL: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}
