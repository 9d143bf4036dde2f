package redislimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/internal/uuid"
)

// DefaultHeartbeat is how often [Limiter.Run] announces its pod when
// Options.Heartbeat is zero. A pod that stops announcing drops out of the
// count after 3 heartbeats.
const DefaultHeartbeat = 2 * time.Second

// podsKey is the sorted set of live pods (member: pod id, score: the Redis
// time in milliseconds until which the pod counts), after Prefix.
const podsKey = "pods"

// heartbeatScript announces a pod until now+ARGV[2] ms, forgets pods whose
// announcement ran out, and returns how many are left: one round trip, on
// Redis's clock, so pods' clocks need not agree.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
`)

// Run announces this pod in Redis every Heartbeat (a sorted set entry that
// lapses after 3 heartbeats) and reads how many pods are live, until ctx
// ends; then it withdraws the announcement and returns nil. The count is
// what the [Fallback] policy divides limits by when Options.Replicas is
// zero, so that during a Redis outage the pods together admit about one
// limit (one burst plus refill) whatever the autoscaler did. While Redis
// fails, the last count read is kept; a pod that never reached Redis
// counts 1. Run is optional: without it (and without Replicas) each pod
// falls back to the whole limit.
func (l *Limiter) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("redislimit: Run is already running")
	}
	defer l.running.Store(false)
	t := time.NewTicker(l.heartbeat)
	defer t.Stop()
	for {
		if err := l.beat(ctx); err != nil && ctx.Err() == nil {
			l.heartbeatErrors.Add(1)
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.heartbeat)
			_ = l.client.ZRem(rctx, l.prefix+podsKey, l.podID).Err()
			cancel()
			return nil
		case <-t.C:
		}
	}
}

// beat runs one heartbeat and stores the live pod count.
func (l *Limiter) beat(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, max(l.timeout, l.heartbeat/2))
	defer cancel()
	ttl := 3 * l.heartbeat.Milliseconds()
	n, err := heartbeatScript.Run(cctx, l.client, []string{l.prefix + podsKey}, l.podID, ttl).Int64()
	if err != nil {
		return fmt.Errorf("redislimit: heartbeat: %w", err)
	}
	l.pods.Store(max(n, 1))
	return nil
}

// Pods returns the number of pods the Fallback policy divides limits by:
// Options.Replicas when set, otherwise the live pods counted by
// [Limiter.Run] (1 until its first heartbeat).
func (l *Limiter) Pods() int {
	if l.replicas > 0 {
		return l.replicas
	}
	return int(l.pods.Load())
}

func newPodID() string { return uuid.New() }
