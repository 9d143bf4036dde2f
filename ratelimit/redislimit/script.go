package redislimit

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"time"
)

// gcraScript decides every key of KEYS in one call, in order, each with
// the GCRA of github.com/go-redis/redis_rate v10's allowN script: the same
// arithmetic on the same value (the TAT in seconds since 2017-01-01 as a
// float, under the same "rate:" key, expiring the same way), so pods
// running redis_rate or an earlier gatehouse share buckets with this one.
// Redis's clock is read once for the whole call. A key that comes several
// times (concurrent requests of one API key) is read once and written once,
// with its last TAT and expiry: the same outcome as deciding the keys one
// after the other, for a fraction of the Redis time.
//
// ARGV holds four values per key: burst, rate, the period in seconds and
// the cost (0 for a peek). The reply holds four integers per key: the
// allowed cost (or -2 when the key holds something that is not a TAT),
// the remaining events, RetryAfter in nanoseconds (-1 when allowed) and
// ResetAfter in nanoseconds, redis_rate's four results without the
// float-to-string round trip.
const gcraScript = `
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local out = {}
local tats, ttls, order = {}, {}, {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local a = (i - 1) * 4
  local burst = tonumber(ARGV[a + 1])
  local rate = tonumber(ARGV[a + 2])
  local period = tonumber(ARGV[a + 3])
  local cost = tonumber(ARGV[a + 4])
  local emission_interval = period / rate
  local increment = emission_interval * cost
  local burst_offset = emission_interval * burst
  local tat = tats[key]
  local ok = true
  if tat == nil then
    local stored = redis.pcall("GET", key)
    tat = now
    if type(stored) == "string" then
      tat = tonumber(stored)
      ok = tat ~= nil
    elseif type(stored) == "table" then
      ok = false
    end
    if ok then
      tats[key] = tat
    end
  end
  if not ok then
    out[a + 1] = -2
    out[a + 2] = 0
    out[a + 3] = 0
    out[a + 4] = 0
  else
    tat = math.max(tat, now)
    local new_tat = tat + increment
    local diff = now - (new_tat - burst_offset)
    local remaining = diff / emission_interval
    if remaining < 0 then
      out[a + 1] = 0
      out[a + 2] = 0
      out[a + 3] = -diff * 1e9
      out[a + 4] = (tat - now) * 1e9
    else
      local reset_after = new_tat - now
      if reset_after > 0 then
        if ttls[key] == nil then
          order[#order + 1] = key
        end
        tats[key] = new_tat
        ttls[key] = math.ceil(reset_after)
      end
      out[a + 1] = cost
      out[a + 2] = remaining
      out[a + 3] = -1
      out[a + 4] = reset_after * 1e9
    end
  end
end
for _, key in ipairs(order) do
  redis.call("SET", key, tats[key], "EX", ttls[key])
end
return out
`

// gcraSHA is the SHA-1 of gcraScript, for EVALSHA.
var gcraSHA = func() string {
	sum := sha1.Sum([]byte(gcraScript))
	return hex.EncodeToString(sum[:])
}()

// errBadReply is the error of a script reply that does not have the shape
// of gcraScript's; it stands in for the reply so nothing panics on it.
var errBadReply = errors.New("redislimit: unexpected reply from the rate-limit script")

// errBadValue is the error of a key that holds something other than a TAT.
var errBadValue = errors.New("redislimit: the bucket's key holds a value that is not a rate-limit state")

// reply is one key's answer of gcraScript.
type reply struct {
	allowed    int64 // the cost when allowed, else 0
	remaining  int64
	retryAfter time.Duration // -1 when allowed
	resetAfter time.Duration
}

// parseReply checks one key's four integers and returns them as a reply.
func parseReply(v []int64, cost int) (reply, error) {
	if len(v) != 4 {
		return reply{}, errBadReply
	}
	if v[0] == -2 {
		return reply{}, errBadValue
	}
	r := reply{allowed: v[0], remaining: v[1], retryAfter: time.Duration(v[2]), resetAfter: time.Duration(v[3])}
	switch {
	case r.allowed != 0 && r.allowed != int64(cost),
		r.allowed == 0 && cost > 0 && r.retryAfter < 0,
		r.allowed != 0 && r.retryAfter != -1:
		return reply{}, errBadReply
	}
	return r, nil
}
