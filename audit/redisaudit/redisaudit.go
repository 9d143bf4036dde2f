// Package redisaudit stores the per-key audit log in Redis (a single node,
// Sentinel or Cluster: any redis.UniversalClient).
//
// Each organization's key is one sorted set, scored by the entry's time in
// Unix milliseconds; the member starts with the request id, so entries of
// the same millisecond are ordered by request id, then holds the other
// fields in a compact NUL-separated encoding. A [Store.Write] of a batch
// sends, in one pipeline (one round trip per node), one script call per
// touched key that runs ZADD of the key's entries, ZREMRANGEBYRANK key 0
// -(Cap+1) and PEXPIRE atomically: Redis runs a script as a unit, like a
// MULTI block, so no reader or other pod ever sees more than Cap entries,
// and the newest Cap by (time, request id) survive whatever order batches
// from several pods arrive in.
//
// Keys are Prefix + "audit:{<len(org)>:<org>:<key>}": the braces are a
// Cluster hash tag, and the length makes the name unambiguous.
//
// Put an [audit.Recorder] in front of the Store so that requests never wait
// for Redis.
package redisaudit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/audit"
)

// DefaultTTL is how long a key's log lives after its last write when
// Options.TTL is zero.
const DefaultTTL = 30 * 24 * time.Hour

// formatVersion is the first field of the encoded entry after the request
// id. Format "2" is format "1" plus a last field, the entry's Operations
// separated by spaces; entries without operations are still written in
// format "1", which pods of earlier versions read.
const (
	formatVersion    = "1"
	formatOperations = "2"
)

// maxPerCall bounds the entries of one key in one script call (Lua's unpack
// limit is far above).
const maxPerCall = 1000

// script adds ARGV[3..] (score, member pairs) to KEYS[1], keeps the newest
// ARGV[1] members and sets the TTL ARGV[2] in milliseconds.
var script = redis.NewScript(`
redis.call('ZADD', KEYS[1], unpack(ARGV, 3))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// countScript adds ARGV[1] to the refused count of the hash KEYS[1],
// raises its last time to ARGV[2] (Unix ms) and sets the TTL ARGV[3] in
// milliseconds.
var countScript = redis.NewScript(`
redis.call('HINCRBY', KEYS[1], 'n', ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[2]) > last then redis.call('HSET', KEYS[1], 'last', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// rediser is the part of redis.UniversalClient the Store uses.
type rediser interface {
	Pipeline() redis.Pipeliner
	ZRevRangeWithScores(ctx context.Context, key string, start, stop int64) *redis.ZSliceCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
}

// Options configures [New].
type Options struct {
	// Client is any go-redis client: *redis.Client, *redis.ClusterClient,
	// *redis.Ring or a failover client. Required.
	Client redis.UniversalClient
	// Prefix starts every key, to share a Redis with other data. It should
	// hold no braces ("{"), which would change the Cluster hash tag.
	Prefix string
	// Cap is how many entries each key keeps. Zero means audit.DefaultCap.
	Cap int
	// TTL is how long a key's log lives after its last write, so abandoned
	// keys go away. Zero means [DefaultTTL].
	TTL time.Duration
}

// Store is the Redis audit log. It implements [audit.Log] and is safe for
// concurrent use, from one process or many.
type Store struct {
	c      rediser
	prefix string
	cap    int
	ttlMS  int64
}

var _ audit.Log = (*Store)(nil)

// New returns a Store, or an error when Client is missing or a number is
// negative.
func New(opts Options) (*Store, error) {
	if opts.Client == nil {
		return nil, errors.New("redisaudit: Options.Client is required")
	}
	if opts.Cap < 0 || opts.TTL < 0 {
		return nil, errors.New("redisaudit: Options.Cap and TTL must not be negative")
	}
	if opts.Cap == 0 {
		opts.Cap = audit.DefaultCap
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	return &Store{c: opts.Client, prefix: opts.Prefix, cap: opts.Cap, ttlMS: max(opts.TTL.Milliseconds(), 1)}, nil
}

// Cap returns how many entries each key keeps.
func (s *Store) Cap() int { return s.cap }

// Key returns the Redis key of the log of key keyID of organization orgID.
func (s *Store) Key(orgID, keyID string) string {
	return s.prefix + "audit:{" + strconv.Itoa(len(orgID)) + ":" + orgID + ":" + keyID + "}"
}

// RefusedKey returns the Redis key (a hash: count "n", last time "last" in
// Unix ms) of the refused-request counter of key keyID of organization
// orgID; it shares the hash tag of [Store.Key], so both live on one
// Cluster node.
func (s *Store) RefusedKey(orgID, keyID string) string {
	return s.prefix + "audit-refused:{" + strconv.Itoa(len(orgID)) + ":" + orgID + ":" + keyID + "}"
}

// Write stores entries (normalized; those without KeyID or OrganizationID
// are skipped): one pipeline, one atomic script call per touched key.
// [audit.Entry.RateLimited] entries are not stored: one more script call
// per key adds them to its counter ([Store.RefusedKey]). Rewriting an
// identical entry is a no-op. On error some keys may have been written and
// others not; writing the batch again is safe for entries (a counter may
// then count a refusal twice).
func (s *Store) Write(ctx context.Context, entries []audit.Entry) error {
	type call struct {
		script *redis.Script
		key    string
		args   []any
	}
	var calls []*call
	byKey := make(map[[2]string]*call)
	refused := make(map[[2]string]audit.Refused)
	var refusedIDs [][2]string
	for _, e := range entries {
		if e.KeyID == "" || e.OrganizationID == "" {
			continue
		}
		e = e.Normalized()
		id := [2]string{e.OrganizationID, e.KeyID}
		if e.RateLimited() {
			if _, ok := refused[id]; !ok {
				refusedIDs = append(refusedIDs, id)
			}
			refused[id] = refused[id].AddRefused(e)
			continue
		}
		c := byKey[id]
		if c == nil || len(c.args) >= 2+2*maxPerCall {
			c = &call{script: script, key: s.Key(e.OrganizationID, e.KeyID), args: []any{s.cap, s.ttlMS}}
			byKey[id] = c
			calls = append(calls, c)
		}
		c.args = append(c.args, e.Time.UnixMilli(), Encode(e))
	}
	for _, id := range refusedIDs {
		r := refused[id]
		calls = append(calls, &call{script: countScript, key: s.RefusedKey(id[0], id[1]), args: []any{r.Count, r.LastAt.UnixMilli(), s.ttlMS}})
	}
	if len(calls) == 0 {
		return nil
	}
	run := func(calls []*call, load bool) ([]redis.Cmder, error) {
		pipe := s.c.Pipeline()
		for _, c := range calls {
			if load {
				c.script.Eval(ctx, pipe, []string{c.key}, c.args...)
			} else {
				c.script.EvalSha(ctx, pipe, []string{c.key}, c.args...)
			}
		}
		return pipe.Exec(ctx)
	}
	cmds, err := run(calls, false)
	if err != nil && len(cmds) == len(calls) {
		// The script cache was flushed (restart, failover): EVAL loads the
		// scripts, for the calls that did not run only (a counter call that
		// ran must not count twice).
		var again []*call
		other := false
		for i, c := range cmds {
			switch e := c.Err(); {
			case e == nil:
			case redis.HasErrorPrefix(e, "NOSCRIPT"):
				again = append(again, calls[i])
			default:
				other = true
			}
		}
		if len(again) > 0 && !other {
			_, err = run(again, true)
		}
	}
	if err != nil {
		return fmt.Errorf("redisaudit: write: %w", err)
	}
	return nil
}

// Refused returns the count of the key's requests refused by the rate
// limit and the time of the last one; zero when there are none (or the
// counter expired with the TTL).
func (s *Store) Refused(ctx context.Context, orgID, keyID string) (audit.Refused, error) {
	if orgID == "" || keyID == "" {
		return audit.Refused{}, nil
	}
	vals, err := s.c.HMGet(ctx, s.RefusedKey(orgID, keyID), "n", "last").Result()
	if err != nil {
		return audit.Refused{}, fmt.Errorf("redisaudit: refused: %w", err)
	}
	if len(vals) != 2 {
		return audit.Refused{}, nil
	}
	ns, _ := vals[0].(string)
	ls, _ := vals[1].(string)
	n, err1 := strconv.ParseInt(ns, 10, 64)
	last, err2 := strconv.ParseInt(ls, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 {
		return audit.Refused{}, nil
	}
	t := time.UnixMilli(last).UTC()
	return audit.Refused{Count: n, LastAt: &t}, nil
}

// Latest returns the newest entries of key keyID of organization orgID,
// newest first, at most Cap; an empty non-nil slice when there are none.
// Members that do not decode (written by a later format) are skipped.
func (s *Store) Latest(ctx context.Context, orgID, keyID string) ([]audit.Entry, error) {
	out := []audit.Entry{}
	if orgID == "" || keyID == "" {
		return out, nil
	}
	zs, err := s.c.ZRevRangeWithScores(ctx, s.Key(orgID, keyID), 0, int64(s.cap)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisaudit: latest: %w", err)
	}
	for _, z := range zs {
		m, ok := z.Member.(string)
		if !ok {
			continue
		}
		e, err := Decode(m)
		if err != nil {
			continue
		}
		e.Time = time.UnixMilli(int64(z.Score)).UTC()
		e.KeyID, e.OrganizationID = keyID, orgID
		out = append(out, e)
	}
	return out, nil
}

// Encode returns the sorted-set member of e (already normalized, so free
// of NUL bytes): the request id, then the format version, method, route,
// path, status, duration in ms, IP and User-Agent, NUL-separated, then,
// only when there are any (format "2"), the operations separated by
// spaces. Time, key and organization are in the score and the key.
func Encode(e audit.Entry) string {
	var b strings.Builder
	b.Grow(len(e.RequestID) + len(e.Method) + len(e.Route) + len(e.Path) + len(e.IP) + len(e.UserAgent) + 24)
	format := formatVersion
	if len(e.Operations) > 0 {
		format = formatOperations
	}
	for i, f := range [...]string{e.RequestID, format, e.Method, e.Route, e.Path} {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(f)
	}
	b.WriteByte(0)
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(e.DurationMS, 10))
	b.WriteByte(0)
	b.WriteString(e.IP)
	b.WriteByte(0)
	b.WriteString(e.UserAgent)
	if len(e.Operations) > 0 {
		b.WriteByte(0)
		for i, op := range e.Operations {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(op)
		}
	}
	return b.String()
}

// Decode parses a member written by [Encode] (format "1" or "2"); Time,
// KeyID and OrganizationID are left zero.
func Decode(m string) (audit.Entry, error) {
	var f [9]string
	rest := m
	for i := 0; i < len(f)-1; i++ {
		var ok bool
		f[i], rest, ok = strings.Cut(rest, "\x00")
		if !ok {
			return audit.Entry{}, errors.New("redisaudit: decode: too few fields")
		}
	}
	f[8] = rest
	var ops []string
	switch f[1] {
	case formatVersion:
	case formatOperations:
		var list string
		var ok bool
		f[8], list, ok = strings.Cut(rest, "\x00")
		if !ok {
			return audit.Entry{}, errors.New("redisaudit: decode: too few fields")
		}
		rest = list
		ops = strings.Fields(list)
	default:
		return audit.Entry{}, fmt.Errorf("redisaudit: decode: unknown format %q", f[1])
	}
	if strings.IndexByte(rest, 0) >= 0 {
		return audit.Entry{}, errors.New("redisaudit: decode: too many fields")
	}
	status, err := strconv.Atoi(f[5])
	if err != nil {
		return audit.Entry{}, fmt.Errorf("redisaudit: decode: status: %w", err)
	}
	dur, err := strconv.ParseInt(f[6], 10, 64)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("redisaudit: decode: duration: %w", err)
	}
	return audit.Entry{
		RequestID: f[0], Method: f[2], Route: f[3], Path: f[4],
		Status: status, DurationMS: dur, IP: f[7], UserAgent: f[8], Operations: ops,
	}, nil
}
