// Package proptest is the property test of key caches shared by keycache
// (changes delivered in process) and redisfeed (changes delivered through
// Redis): several goroutines create keys, change their scopes and limits,
// revoke them and verify them through several caches ("pods") at once, and
// the recorded history is checked afterwards.
//
// Properties checked:
//
//   - every answer is a state the key really had, and not one written after
//     the lookup returned (no invented or torn states: scopes always match
//     the limit written with them);
//   - per pod and key, answers never go back: a lookup that starts after
//     another returned, or after a change made through that pod returned,
//     sees that state or a newer one (so once a pod has applied a change it
//     never returns the old state again, and the pod that made a change
//     sees it at once);
//   - after the last change every pod converges to the final state of every
//     key within Config.Converge;
//   - unknown public ids are never found.
package proptest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
)

// Pod is one process's cache and the way it publishes a change: Change must
// apply ch to Cache before it returns and propagate it to the other pods.
type Pod struct {
	Cache  *keycache.Cache
	Change func(ctx context.Context, ch keycache.Change) error
}

// Config is the test's setup. Zero counts mean the defaults in comments.
type Config struct {
	Store auth.KeyStore // the store every pod's cache wraps; required
	OrgID string        // an organization whose API is on; required
	Pods  []Pod         // at least two
	// Writers create, change and revoke keys (default 3); Readers verify
	// them (default 4).
	Writers, Readers int
	// OpsPerWriter (default 60) and OpsPerReader (default 400).
	OpsPerWriter, OpsPerReader int
	// Converge bounds the wait for every pod to see the final state of
	// every key (default 2 s).
	Converge time.Duration
	// Pause, when set, runs between a writer's operations (for example a
	// short sleep so that readers see many intermediate states).
	Pause func()
	// BeforeConverge, when set, runs after the last change and lookup,
	// before the convergence check (for example to let deliveries drain).
	BeforeConverge func()
}

// Result summarises a run.
type Result struct {
	Keys, Changes, Lookups, Revoked int
}

// revokedState is the state of a revoked key: after every version.
const revokedState = 1 << 30

func scopesFor(v int) scope.Set {
	if v%2 == 1 {
		return scope.NewSet("leads:read")
	}
	return scope.NewSet("leads:read", "tasks:read")
}

type event struct {
	pod        int
	key        int
	state      int
	start, end uint64
	write      bool
}

type keyInfo struct {
	id, publicID string
	writes       map[int]uint64 // state → seq before its store write began
	final        int
}

// Run runs the property test and fails t on any violation.
func Run(t *testing.T, cfg Config) Result {
	t.Helper()
	if cfg.Store == nil || cfg.OrgID == "" || len(cfg.Pods) < 2 {
		t.Fatal("proptest: Store, OrgID and at least two Pods are required")
	}
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def(&cfg.Writers, 3)
	def(&cfg.Readers, 4)
	def(&cfg.OpsPerWriter, 60)
	def(&cfg.OpsPerReader, 400)
	if cfg.Converge == 0 {
		cfg.Converge = 2 * time.Second
	}
	ctx := context.Background()
	var (
		seq     atomic.Uint64
		mu      sync.Mutex // guards keys
		keys    []*keyInfo
		events  = make([][]event, cfg.Writers+cfg.Readers)
		errs    = make(chan error, 100)
		writers sync.WaitGroup
		readers sync.WaitGroup
		done    atomic.Bool
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	for w := range cfg.Writers {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			type owned struct {
				idx, version int
			}
			var live []owned
			for range cfg.OpsPerWriter {
				if cfg.Pause != nil {
					cfg.Pause()
				}
				pod := rng.IntN(len(cfg.Pods))
				op := rng.IntN(10)
				switch {
				case len(live) == 0 || op < 2: // create
					raw, p, err := auth.Generate("prop", auth.EnvLive)
					if err != nil {
						fail(err)
						return
					}
					k := auth.Key{
						ID: uuid.New(), OrganizationID: cfg.OrgID, Name: "prop", Env: p.Env,
						PublicID: p.PublicID, Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
						Scopes: scopesFor(1), RateLimitPerMinute: 1,
					}
					start := seq.Add(1)
					if err := cfg.Store.CreateKey(ctx, k); err != nil {
						fail(fmt.Errorf("CreateKey: %w", err))
						return
					}
					end := seq.Add(1)
					mu.Lock()
					idx := len(keys)
					keys = append(keys, &keyInfo{id: k.ID, publicID: k.PublicID, writes: map[int]uint64{1: start}, final: 1})
					mu.Unlock()
					live = append(live, owned{idx, 1})
					events[w] = append(events[w], event{pod: pod, key: idx, state: 1, start: end, end: end, write: true})
				case op < 8: // scope and limit change
					i := rng.IntN(len(live))
					o := &live[i]
					v := o.version + 1
					mu.Lock()
					ki := keys[o.idx]
					mu.Unlock()
					start := seq.Add(1)
					mu.Lock()
					ki.writes[v] = start
					ki.final = v
					mu.Unlock()
					sc := scopesFor(v)
					if _, err := cfg.Store.UpdateKey(ctx, cfg.OrgID, ki.id, auth.KeyUpdate{Scopes: &sc, RateLimitPerMinute: &v}, time.Now()); err != nil {
						fail(fmt.Errorf("UpdateKey: %w", err))
						return
					}
					if err := cfg.Pods[pod].Change(ctx, keycache.Change{OrgID: cfg.OrgID, KeyID: ki.id}); err != nil {
						fail(fmt.Errorf("publish change: %w", err))
						return
					}
					end := seq.Add(1)
					o.version = v
					events[w] = append(events[w], event{pod: pod, key: o.idx, state: v, start: end, end: end, write: true})
				default: // revoke
					i := rng.IntN(len(live))
					o := live[i]
					live = slices.Delete(live, i, i+1)
					mu.Lock()
					ki := keys[o.idx]
					mu.Unlock()
					start := seq.Add(1)
					mu.Lock()
					ki.writes[revokedState] = start
					ki.final = revokedState
					mu.Unlock()
					if _, err := cfg.Store.RevokeKey(ctx, cfg.OrgID, ki.id, time.Now()); err != nil {
						fail(fmt.Errorf("RevokeKey: %w", err))
						return
					}
					if err := cfg.Pods[pod].Change(ctx, keycache.Change{OrgID: cfg.OrgID, KeyID: ki.id}); err != nil {
						fail(fmt.Errorf("publish revocation: %w", err))
						return
					}
					end := seq.Add(1)
					events[w] = append(events[w], event{pod: pod, key: o.idx, state: revokedState, start: end, end: end, write: true})
				}
			}
		})
	}
	var lookups atomic.Int64
	for r := range cfg.Readers {
		slot := cfg.Writers + r
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(slot), 11))
			for i := 0; i < cfg.OpsPerReader || !done.Load(); i++ {
				if i >= 50*cfg.OpsPerReader {
					return
				}
				pod := rng.IntN(len(cfg.Pods))
				c := cfg.Pods[pod].Cache
				if rng.IntN(20) == 0 {
					if _, err := c.LookupKey(ctx, randomPublicID(rng)); !errors.Is(err, auth.ErrNotFound) {
						fail(fmt.Errorf("unknown public id: err = %v, want ErrNotFound", err))
					}
					continue
				}
				mu.Lock()
				n := len(keys)
				var ki *keyInfo
				idx := 0
				if n > 0 {
					idx = rng.IntN(n)
					ki = keys[idx]
				}
				mu.Unlock()
				if ki == nil {
					continue
				}
				start := seq.Add(1)
				k, err := c.LookupKey(ctx, ki.publicID)
				end := seq.Add(1)
				lookups.Add(1)
				if err != nil {
					fail(fmt.Errorf("pod %d: LookupKey of a created key: %w", pod, err))
					continue
				}
				st, err := stateOf(k)
				if err != nil {
					fail(fmt.Errorf("pod %d: %w", pod, err))
					continue
				}
				events[slot] = append(events[slot], event{pod: pod, key: idx, state: st, start: start, end: end})
			}
		})
	}
	writers.Wait()
	done.Store(true)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return Result{}
	}

	// Every answer was a state the key really had, written before the
	// answer returned.
	var all []event
	for _, evs := range events {
		all = append(all, evs...)
	}
	for _, e := range all {
		if e.write {
			continue
		}
		w, ok := keys[e.key].writes[e.state]
		if !ok {
			t.Errorf("pod %d, key %d: answered state %d, which was never written", e.pod, e.key, e.state)
		} else if w > e.end {
			t.Errorf("pod %d, key %d: answered state %d before it was written", e.pod, e.key, e.state)
		}
	}
	// Per pod and key, no answer is older than an answer (or a change made
	// through the pod) that completed before it started.
	type pk struct{ pod, key int }
	groups := map[pk][]event{}
	for _, e := range all {
		groups[pk{e.pod, e.key}] = append(groups[pk{e.pod, e.key}], e)
	}
	violations := 0
	for g, evs := range groups {
		byEnd := slices.Clone(evs)
		slices.SortFunc(byEnd, func(a, b event) int { return cmp.Compare(a.end, b.end) })
		byStart := slices.Clone(evs)
		slices.SortFunc(byStart, func(a, b event) int { return cmp.Compare(a.start, b.start) })
		j, best := 0, 0
		var bestEv event
		for _, b := range byStart {
			for j < len(byEnd) && byEnd[j].end < b.start {
				if byEnd[j].state > best {
					best, bestEv = byEnd[j].state, byEnd[j]
				}
				j++
			}
			if !b.write && b.state < best {
				violations++
				if violations <= 5 {
					what := "an answer"
					if bestEv.write {
						what = "a change made through this pod"
					}
					t.Errorf("pod %d, key %d: answered state %s after %s of state %s had completed",
						g.pod, g.key, stateName(b.state), what, stateName(best))
				}
			}
		}
	}
	if violations > 5 {
		t.Errorf("... %d monotonicity violations in all", violations)
	}

	// Every pod converges to every key's final state.
	if cfg.BeforeConverge != nil {
		cfg.BeforeConverge()
	}
	deadline := time.Now().Add(cfg.Converge)
	revoked := 0
	for idx, ki := range keys {
		if ki.final == revokedState {
			revoked++
		}
		for p, pod := range cfg.Pods {
			for {
				k, err := pod.Cache.LookupKey(ctx, ki.publicID)
				st, serr := stateOf(k)
				if err == nil && serr == nil && st == ki.final {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("pod %d, key %d: state %s (err %v) %v after the last change, want %s",
						p, idx, stateName(st), err, cfg.Converge, stateName(ki.final))
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	changes := 0
	for _, e := range all {
		if e.write {
			changes++
		}
	}
	return Result{Keys: len(keys), Changes: changes, Lookups: int(lookups.Load()), Revoked: revoked}
}

// stateOf returns the state a looked-up key is in, checking that its
// scopes match its limit (no torn read).
func stateOf(k auth.Key) (int, error) {
	if k.Revoked() {
		return revokedState, nil
	}
	v := k.RateLimitPerMinute
	if want := scopesFor(v); !slices.Equal(k.Scopes.Strings(), want.Strings()) {
		return 0, fmt.Errorf("key %s: scopes %v do not match limit %d", k.ID, k.Scopes.Strings(), v)
	}
	return v, nil
}

func stateName(s int) string {
	if s == revokedState {
		return "revoked"
	}
	return fmt.Sprintf("v%d", s)
}

func randomPublicID(rng *rand.Rand) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, auth.PublicIDLen)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}
