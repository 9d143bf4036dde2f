// Package redislimit is the Redis backend of gatehouse.dev/ratelimit: one
// limit per key shared by every pod, on a single Redis node, a Sentinel
// failover client, a Redis Cluster or a Ring.
//
// Each decision runs the GCRA of github.com/go-redis/redis_rate v10 in a
// Lua script: atomic across pods, timed by Redis's own clock, idle keys
// expiring by themselves. The script is redis_rate's arithmetic on
// redis_rate's keys and values, looped over several keys, so pods running
// redis_rate (or an earlier gatehouse) share buckets with this one. Its
// semantics are those of [ratelimit.Memory];
// gatehouse.dev/ratelimit/ratelimittest runs the same suite on both.
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	// or, for a Cluster: redis.NewClusterClient(&redis.ClusterOptions{
//	//	Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}, ContextTimeoutEnabled: true})
//	lim, err := redislimit.New(redislimit.Options{Client: client, Prefix: "myapi:rl:"})
//	...
//	g.Go(func() error { return lim.Run(ctx) }) // heartbeats: the live pod count
//	mw, err := ratelimit.New(ratelimit.Options{Limiter: lim})
//
// # Keys
//
// The bucket of key id lives at rate:<Prefix>{<hex of the first 128 bits
// of SHA-256(id)>} (redis_rate puts "rate:" in front). Any id, with braces,
// spaces, control bytes or 10 KB of text, becomes a short key whose hash tag
// alone decides its Cluster slot. [Limiter.RedisKey] shows the key of an id.
//
// # When Redis fails
//
// Each call has a timeout (50 ms by default). A failed or timed-out call is
// decided by the [Policy]: [Fallback] (the default) uses an in-process
// limiter with each pod's share of the limit, [FailOpen] allows, and
// [FailClosed] answers 503 "Rate limiter unavailable" with Retry-After.
//
// The share is the limit divided by the number of live pods, which each pod
// learns from Redis while it is up: [Limiter.Run] announces the pod every
// Heartbeat (2 s) in a sorted set under Prefix whose entries lapse after 3
// heartbeats, and reads the count. During an outage every pod keeps the
// last count, so the pods together admit about one burst plus the refill
// (measured: 60 of a 60/min key over a 3.5 s outage across 3 pods, where a
// whole limit per pod would have allowed 180). Options.Replicas overrides
// the count; a pod started during an outage counts itself alone.
// After consecutive failures (5) a circuit breaker stops calling Redis for
// a cool-down (5 s), then lets one call probe; its state changes are logged
// once each, and [Limiter.Status] reports them for a readiness endpoint.
// [Limiter.Stats] returns counters for metrics.
//
// For the timeout to bound a call on the caller's goroutine, the client must
// honour context deadlines (go-redis's ContextTimeoutEnabled); for other
// clients the limiter runs the I/O on a goroutine of its own per round trip
// so callers still leave on time.
//
// # Cost
//
// Concurrent decisions of one limiter are combined without a background
// goroutine: a lone call goes out at once, and the decisions that arrive
// while round trips are in flight go out together in the next one. On a
// single node (standalone or Sentinel) that round trip is one EVALSHA over
// all its keys, so Redis runs the script once per round trip; on a Cluster
// or Ring it is a pipeline of one EVALSHA per key, split per node by the
// client. Under load this makes more decisions per second than the client
// makes plain PINGs (see docs/benchmarks-ratelimit.md). A key that Redis
// has limited is answered from a local deny cache until its RetryAfter,
// without a call.
package redislimit
