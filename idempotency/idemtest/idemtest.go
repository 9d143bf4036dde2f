package idemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/internal/uuid"
)

// Options configures [Run].
type Options struct {
	// New returns a fresh, empty store. Stores that take a clock must use
	// now, which the suite advances to test expiry.
	New func(t *testing.T, now func() time.Time) idempotency.Store
	// OwnClock tells that the store keeps time itself (Redis) and ignores
	// now: expiry is then tested with real 100 ms locks and TTLs.
	OwnClock bool
}

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type suite struct {
	opts  Options
	clock *Clock
	store idempotency.Store
	scope string
}

func (s *suite) claim(t *testing.T, key, fp string, lock time.Duration) (idempotency.Ref, idempotency.Result) {
	t.Helper()
	ref := idempotency.Ref{Scope: s.scope, Key: key, Token: uuid.New()}
	res, err := s.store.Claim(context.Background(), idempotency.Claim{Ref: ref, Fingerprint: fp, Lock: lock})
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	return ref, res
}

func wantState(t *testing.T, what string, got idempotency.Result, want idempotency.State) {
	t.Helper()
	if got.State != want {
		t.Fatalf("%s: state %v, want %v", what, got.State, want)
	}
}

func sameResponse(t *testing.T, got, want idempotency.Response) {
	t.Helper()
	if got.Status != want.Status || !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("response %d %q, want %d %q", got.Status, got.Body, want.Status, want.Body)
	}
	for k := range want.Header {
		if fmt.Sprint(got.Header.Values(k)) != fmt.Sprint(want.Header.Values(k)) {
			t.Fatalf("header %s = %v, want %v", k, got.Header.Values(k), want.Header.Values(k))
		}
	}
	for k := range got.Header {
		if _, ok := want.Header[k]; !ok {
			t.Fatalf("extra header %s", k)
		}
	}
}

// waitFree polls until the key can be claimed again (own-clock stores).
func (s *suite) waitFree(t *testing.T, key, fp string) (idempotency.Ref, idempotency.Result) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ref, res := s.claim(t, key, fp, time.Minute)
		if res.State == idempotency.Claimed || time.Now().After(deadline) {
			return ref, res
		}
		time.Sleep(20 * time.Millisecond) // Redis keeps its own clock: poll it
	}
}

// Run runs the suite. Each case gets a fresh store.
func Run(t *testing.T, opts Options) {
	t.Helper()
	body := []byte("{\"data\":{\"id\":\"x\"},\"request_id\":\"r1\"}\n")
	created := idempotency.Response{
		Status: 201,
		Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/leads/x"}},
		Body:   body,
	}
	cases := []struct {
		name string
		own  bool // also runs on own-clock stores
		run  func(t *testing.T, s *suite)
	}{
		{"claim, in flight, mismatch", true, func(t *testing.T, s *suite) {
			_, res := s.claim(t, "k1", "fp-a", time.Minute)
			wantState(t, "first claim", res, idempotency.Claimed)
			_, res = s.claim(t, "k1", "fp-a", time.Minute)
			wantState(t, "same request again", res, idempotency.InFlight)
			_, res = s.claim(t, "k1", "fp-b", time.Minute)
			wantState(t, "other request", res, idempotency.Mismatch)
			_, res = s.claim(t, "k2", "fp-a", time.Minute)
			wantState(t, "other key", res, idempotency.Claimed)
		}},
		{"scopes are independent", true, func(t *testing.T, s *suite) {
			_, res := s.claim(t, "shared", "fp-a", time.Minute)
			wantState(t, "scope 1", res, idempotency.Claimed)
			other := *s
			other.scope = uuid.New()
			_, res = other.claim(t, "shared", "fp-b", time.Minute)
			wantState(t, "scope 2", res, idempotency.Claimed)
			_, res = s.claim(t, "shared", "fp-a", time.Minute)
			wantState(t, "scope 1 again", res, idempotency.InFlight)
		}},
		{"complete and replay", true, func(t *testing.T, s *suite) {
			ref, _ := s.claim(t, "k", "fp", time.Minute)
			if err := s.store.Complete(context.Background(), ref, created, time.Hour); err != nil {
				t.Fatal(err)
			}
			_, res := s.claim(t, "k", "fp", time.Minute)
			wantState(t, "after complete", res, idempotency.Completed)
			sameResponse(t, res.Response, created)
			_, res = s.claim(t, "k", "fp-other", time.Minute)
			wantState(t, "other request after complete", res, idempotency.Mismatch)
			// The replayed copy is the caller's to change.
			_, res = s.claim(t, "k", "fp", time.Minute)
			if len(res.Response.Body) > 0 {
				res.Response.Body[0] = 'X'
			}
			res.Response.Header.Set("Location", "changed")
			_, again := s.claim(t, "k", "fp", time.Minute)
			sameResponse(t, again.Response, created)
		}},
		{"responses round-trip", true, func(t *testing.T, s *suite) {
			big := make([]byte, 256<<10)
			for i := range big {
				big[i] = byte(i * 7)
			}
			for i, resp := range []idempotency.Response{
				{Status: 400, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("{\"error\":\"Invalid JSON body\"}\n")},
				{Status: 404, Body: []byte("\n\n\x00\xff")},
				{Status: 204},
				{Status: 200, Header: http.Header{"Content-Type": {"application/octet-stream"}}, Body: big},
				{Status: 201, Header: http.Header{"Location": {"/v1/a?b=c&d=\"e\"\n"}}, Body: []byte("{}")},
			} {
				key := fmt.Sprintf("rt-%d", i)
				ref, _ := s.claim(t, key, "fp", time.Minute)
				if err := s.store.Complete(context.Background(), ref, resp, time.Hour); err != nil {
					t.Fatal(err)
				}
				_, res := s.claim(t, key, "fp", time.Minute)
				wantState(t, key, res, idempotency.Completed)
				sameResponse(t, res.Response, resp)
			}
		}},
		{"complete needs the claim", true, func(t *testing.T, s *suite) {
			ctx := context.Background()
			ref, _ := s.claim(t, "k", "fp", time.Minute)
			wrong := ref
			wrong.Token = uuid.New()
			if err := s.store.Complete(ctx, wrong, created, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("complete with another token: %v", err)
			}
			if err := s.store.Complete(ctx, ref, created, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Complete(ctx, ref, created, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("second complete: %v", err)
			}
			missing := idempotency.Ref{Scope: s.scope, Key: "never", Token: uuid.New()}
			if err := s.store.Complete(ctx, missing, created, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("complete without claim: %v", err)
			}
		}},
		{"release", true, func(t *testing.T, s *suite) {
			ctx := context.Background()
			ref, _ := s.claim(t, "k", "fp", time.Minute)
			wrong := ref
			wrong.Token = uuid.New()
			if err := s.store.Release(ctx, wrong); err != nil {
				t.Fatal(err)
			}
			_, res := s.claim(t, "k", "fp", time.Minute)
			wantState(t, "after release with another token", res, idempotency.InFlight)
			if err := s.store.Release(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Complete(ctx, ref, created, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("complete after release: %v", err)
			}
			// Released: any request may claim it, even another one.
			ref2, res := s.claim(t, "k", "fp-other", time.Minute)
			wantState(t, "after release", res, idempotency.Claimed)
			if err := s.store.Complete(ctx, ref2, created, time.Hour); err != nil {
				t.Fatal(err)
			}
			// Releasing a completed key does nothing.
			if err := s.store.Release(ctx, ref2); err != nil {
				t.Fatal(err)
			}
			_, res = s.claim(t, "k", "fp-other", time.Minute)
			wantState(t, "release after complete", res, idempotency.Completed)
			if err := s.store.Release(ctx, idempotency.Ref{Scope: s.scope, Key: "never", Token: "x"}); err != nil {
				t.Fatalf("release of nothing: %v", err)
			}
		}},
		{"odd keys", true, func(t *testing.T, s *suite) {
			for _, key := range []string{" ", "{tag}", "}{", "a b\tc", strings.Repeat("~", 255), "ü\n", `'; DROP TABLE x; --`} {
				_, res := s.claim(t, key, "fp", time.Minute)
				wantState(t, fmt.Sprintf("%q", key), res, idempotency.Claimed)
				_, res = s.claim(t, key, "fp", time.Minute)
				wantState(t, fmt.Sprintf("%q again", key), res, idempotency.InFlight)
			}
			_, res := s.claim(t, "{tag", "fp", time.Minute)
			wantState(t, "prefix of another key", res, idempotency.Claimed)
		}},
		{"concurrent claims", true, func(t *testing.T, s *suite) {
			const n = 20
			states := make([]idempotency.State, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res, err := s.store.Claim(context.Background(), idempotency.Claim{
						Ref: idempotency.Ref{Scope: s.scope, Key: "race", Token: uuid.New()}, Fingerprint: "fp", Lock: time.Minute,
					})
					if err != nil {
						t.Error(err)
						return
					}
					states[i] = res.State
				})
			}
			wg.Wait()
			claimed := 0
			for _, st := range states {
				switch st {
				case idempotency.Claimed:
					claimed++
				case idempotency.InFlight:
				default:
					t.Errorf("state %v", st)
				}
			}
			if claimed != 1 {
				t.Fatalf("%d claims won: %v", claimed, states)
			}
		}},
		{"lock expiry frees an unfinished key", false, func(t *testing.T, s *suite) {
			ctx := context.Background()
			ref, _ := s.claim(t, "k", "fp", time.Minute)
			s.clock.Advance(59 * time.Second)
			_, res := s.claim(t, "k", "fp", time.Minute)
			wantState(t, "before the lock ends", res, idempotency.InFlight)
			s.clock.Advance(time.Second)
			ref2, res := s.claim(t, "k", "fp-new", time.Minute)
			wantState(t, "after the lock", res, idempotency.Claimed)
			if err := s.store.Complete(ctx, ref, created, time.Hour); !errors.Is(err, idempotency.ErrClaimLost) {
				t.Fatalf("complete by the expired claim: %v", err)
			}
			if err := s.store.Release(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Complete(ctx, ref2, created, time.Hour); err != nil {
				t.Fatalf("complete by the new claim: %v", err)
			}
		}},
		{"TTL expiry", false, func(t *testing.T, s *suite) {
			ref, _ := s.claim(t, "k", "fp", time.Minute)
			s.clock.Advance(30 * time.Second)
			if err := s.store.Complete(context.Background(), ref, created, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			// The TTL counts from completion, not from the claim.
			s.clock.Advance(24*time.Hour - time.Second)
			_, res := s.claim(t, "k", "fp-other", time.Minute)
			wantState(t, "just before the TTL", res, idempotency.Mismatch)
			s.clock.Advance(time.Second)
			_, res = s.claim(t, "k", "fp-other", time.Minute)
			wantState(t, "after the TTL", res, idempotency.Claimed)
		}},
		{"expiry on the store's clock", true, func(t *testing.T, s *suite) {
			if !s.opts.OwnClock {
				t.Skip("covered with the fake clock")
			}
			_, res := s.claim(t, "lock", "fp", 100*time.Millisecond)
			wantState(t, "claim", res, idempotency.Claimed)
			_, res = s.waitFree(t, "lock", "fp-new")
			wantState(t, "after the lock", res, idempotency.Claimed)
			ref, _ := s.claim(t, "ttl", "fp", time.Minute)
			if err := s.store.Complete(context.Background(), ref, created, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			_, res = s.claim(t, "ttl", "fp", time.Minute)
			wantState(t, "within the TTL", res, idempotency.Completed)
			_, res = s.waitFree(t, "ttl", "fp-new")
			wantState(t, "after the TTL", res, idempotency.Claimed)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if opts.OwnClock && !tc.own {
				t.Skip("the store keeps its own clock; see \"expiry on the store's clock\"")
			}
			clock := NewClock()
			s := &suite{opts: opts, clock: clock, scope: uuid.New()}
			s.store = opts.New(t, clock.Now)
			tc.run(t, s)
		})
	}
}
