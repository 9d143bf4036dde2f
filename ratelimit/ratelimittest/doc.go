// Package ratelimittest is the behaviour suite every [ratelimit.Limiter] of
// gatehouse passes: the in-process [ratelimit.Memory], the Redis limiter on
// one node and on a Redis Cluster, and the telemetry decorator around them.
// It is shaped like testing/slogtest: call [Run] from a test of the
// implementation's package. The cases of the optional interfaces run when
// the limiter implements them: [ratelimit.Peeker] (Peek consumes nothing)
// and [ratelimit.NLimiter] (AllowN charges n or nothing, refuses a cost
// above the burst without consuming, and a denial of n never refuses a
// cheaper cost).
//
// The suite runs on real time, because Redis measures time with its own
// clock. Exactness checks use hour-long periods, during which nothing
// refills; refill checks use periods of half a second to a second and
// tolerate one event either way at refill edges.
package ratelimittest
