// Package ratelimitbench compares gatehouse's rate limiters with their peers
// in one run: raw github.com/go-redis/redis_rate, github.com/ulule/limiter
// with its Redis store, github.com/go-chi/httprate-redis (its counter and
// its middleware) and, in process, github.com/sethvargo/go-limiter's memory
// store. It is a module of its own so that the library's go.mod carries
// none of them. The figures and the commands that produce them are in
// docs/benchmarks-ratelimit.md of the main module.
//
// BenchmarkRedisInterleaved measures the Redis limiter against plain PING
// with both sharing each moment of a loaded machine (they alternate every
// 50 ms) and reports the ratio as x-ping.
//
// The Redis benchmarks use GATEHOUSE_TEST_REDIS (default 127.0.0.1:6379)
// and skip when it does not answer (fail with GATEHOUSE_REQUIRE_SERVICES=1).
package ratelimitbench
