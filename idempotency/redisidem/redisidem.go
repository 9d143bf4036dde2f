package redisidem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/idempotency"
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "gatehouse:"

// Options configures [New].
type Options struct {
	// Client is any go-redis client. Required.
	Client redis.UniversalClient
	// Prefix of every key: default "gatehouse:".
	Prefix string
}

// Store is the Redis store. Create it with [New]; it is safe for
// concurrent use.
type Store struct {
	c      redis.UniversalClient
	prefix string
}

var _ idempotency.Store = (*Store)(nil)

// New returns the store.
func New(opts Options) (*Store, error) {
	if opts.Client == nil {
		return nil, errors.New("redisidem: Options.Client is required")
	}
	p := opts.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	if strings.ContainsAny(p, "{}") {
		return nil, errors.New("redisidem: Options.Prefix must not contain '{' or '}' (the store hash-tags its keys)")
	}
	return &Store{c: opts.Client, prefix: p}, nil
}

// Key returns the Redis key of the record of (scope, key): the prefix,
// "idem:" and a hash tag of both.
func (s *Store) Key(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(scope))))
	h.Write([]byte{':'})
	h.Write([]byte(scope))
	h.Write([]byte(key))
	sum := h.Sum(nil)
	return s.prefix + "idem:{" + hex.EncodeToString(sum[:16]) + "}"
}

func ms(d time.Duration) int64 { return max(d, time.Millisecond).Milliseconds() }

// encode builds a record value. Token and fingerprint must not contain a
// newline.
func encode(status int, token, fp string, header []byte, body []byte) []byte {
	b := make([]byte, 0, 8+len(token)+len(fp)+len(header)+len(body))
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, '\n')
	b = append(b, token...)
	b = append(b, '\n')
	b = append(b, fp...)
	b = append(b, '\n')
	b = append(b, header...)
	b = append(b, '\n')
	return append(b, body...)
}

type record struct {
	status int
	token  string
	fp     string
	header []byte
	body   []byte
}

func decode(v []byte) (record, error) {
	parts := bytes.SplitN(v, []byte{'\n'}, 5)
	if len(parts) != 5 {
		return record{}, errors.New("redisidem: malformed record")
	}
	st, err := strconv.Atoi(string(parts[0]))
	if err != nil {
		return record{}, errors.New("redisidem: malformed record status")
	}
	return record{status: st, token: string(parts[1]), fp: string(parts[2]), header: parts[3], body: parts[4]}, nil
}

func checkField(name, v string) error {
	if strings.ContainsAny(v, "\n") {
		return fmt.Errorf("redisidem: %s must not contain a newline", name)
	}
	return nil
}

// Claim implements [idempotency.Store] with SET NX PX GET.
func (s *Store) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Result, error) {
	if err := checkField("token", c.Token); err != nil {
		return idempotency.Result{}, err
	}
	if err := checkField("fingerprint", c.Fingerprint); err != nil {
		return idempotency.Result{}, err
	}
	val := encode(0, c.Token, c.Fingerprint, nil, nil)
	old, err := s.c.Do(ctx, "SET", s.Key(c.Scope, c.Key), val, "NX", "PX", ms(c.Lock), "GET").Text()
	if errors.Is(err, redis.Nil) {
		return idempotency.Result{State: idempotency.Claimed}, nil
	}
	if err != nil {
		return idempotency.Result{}, fmt.Errorf("redisidem: claim: %w", err)
	}
	r, err := decode([]byte(old))
	if err != nil {
		return idempotency.Result{}, err
	}
	switch {
	case r.fp != c.Fingerprint:
		return idempotency.Result{State: idempotency.Mismatch}, nil
	case r.status == 0:
		return idempotency.Result{State: idempotency.InFlight}, nil
	}
	resp := idempotency.Response{Status: r.status, Body: r.body}
	if len(r.header) > 0 {
		if err := json.Unmarshal(r.header, &resp.Header); err != nil {
			return idempotency.Result{}, fmt.Errorf("redisidem: claim: stored header: %w", err)
		}
	}
	return idempotency.Result{State: idempotency.Completed, Response: resp}, nil
}

// releaseScript deletes an in-flight record of the token (ARGV[1]).
var releaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local st, tok = string.match(v, '^(%d+)\n([^\n]*)\n')
if st ~= '0' or tok ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	if resp.Status < 100 || resp.Status > 999 {
		return fmt.Errorf("redisidem: complete: invalid status %d", resp.Status)
	}
	var header []byte
	if len(resp.Header) > 0 {
		var err error
		if header, err = json.Marshal(resp.Header); err != nil {
			return fmt.Errorf("redisidem: complete: header: %w", err)
		}
	}
	n, err := completeScript.Run(ctx, s.c, []string{s.Key(ref.Scope, ref.Key)},
		ref.Token, strconv.Itoa(resp.Status), header, resp.Body, ms(ttl)).Int()
	if err != nil {
		return fmt.Errorf("redisidem: complete: %w", err)
	}
	if n == 0 {
		return idempotency.ErrClaimLost
	}
	return nil
}

// completeScript replaces the in-flight record of the token ARGV[1] with the
// completed record (status ARGV[2], header JSON ARGV[3], body ARGV[4], the
// claim's own fingerprint) for ARGV[5] ms. It returns 1, or 0 when the
// claim is lost.
var completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local st, tok, fp = string.match(v, '^(%d+)\n([^\n]*)\n([^\n]*)\n')
if st ~= '0' or tok ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. '\n' .. tok .. '\n' .. fp .. '\n' .. ARGV[3] .. '\n' .. ARGV[4], 'PX', ARGV[5])
return 1
`)

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, ref idempotency.Ref) error {
	if err := releaseScript.Run(ctx, s.c, []string{s.Key(ref.Scope, ref.Key)}, ref.Token).Err(); err != nil {
		return fmt.Errorf("redisidem: release: %w", err)
	}
	return nil
}
