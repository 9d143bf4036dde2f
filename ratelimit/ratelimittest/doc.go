// Package ratelimittest is the behaviour suite every [ratelimit.Limiter] of
// gatehouse passes: the in-process [ratelimit.Memory], the Redis limiter on
// one node and on a Redis Cluster. It is shaped like testing/slogtest: call
// [Run] from a test of the implementation's package.
//
// The suite runs on real time, because Redis measures time with its own
// clock. Exactness checks use hour-long periods, during which nothing
// refills; refill checks use periods of a few hundred milliseconds and
// tolerate one event either way at refill edges.
package ratelimittest
