package audittest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/audit"
)

// RunEvents runs the behaviour suite of an [audit.Events] admin trail.
// newEvents must return an empty trail, isolated from every other call;
// when it has a Cap() int method the suite expects that cap, otherwise
// [audit.DefaultEventsCap]. Subtests run in parallel.
//
// Covered: empty lists, round trip (details, UTC milliseconds), required
// fields, defaults for ID and Time, exact cap with newest first, appends
// out of time order, organization isolation, idempotent appends and
// concurrent appends.
func RunEvents(t *testing.T, newEvents func(t *testing.T) audit.Events) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, ev audit.Events, cap int)
	}{
		{"Empty", testEventsEmpty},
		{"RoundTrip", testEventsRoundTrip},
		{"Validation", testEventsValidation},
		{"Defaults", testEventsDefaults},
		{"CapNewestFirstOutOfOrder", testEventsCap},
		{"OrganizationIsolation", testEventsIsolation},
		{"Idempotent", testEventsIdempotent},
		{"Concurrent", testEventsConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := newEvents(t)
			c := audit.DefaultEventsCap
			if cp, ok := ev.(capper); ok {
				c = cp.Cap()
			}
			tc.fn(t, ev, c)
		})
	}
}

func event(org string, ms int, id string) audit.Event {
	return audit.Event{
		ID: id, Time: base.Add(time.Duration(ms) * time.Millisecond), OrganizationID: org,
		Actor: "admin", Action: audit.ActionKeyUpdated, Target: "key-1",
		Details: map[string]string{"fields": "name,scopes"},
	}
}

func appendEvents(t *testing.T, ev audit.Events, es ...audit.Event) {
	t.Helper()
	for _, e := range es {
		if err := ev.Append(ctx(t), e); err != nil {
			t.Fatalf("Append(%+v): %v", e, err)
		}
	}
}

func list(t *testing.T, ev audit.Events, org string) []audit.Event {
	t.Helper()
	got, err := ev.List(ctx(t), org)
	if err != nil {
		t.Fatalf("List(%q): %v", org, err)
	}
	if got == nil {
		t.Fatalf("List(%q) = nil; want a non-nil slice", org)
	}
	return got
}

func sameEvents(t *testing.T, got, want []audit.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || g.ID != w.ID || g.OrganizationID != w.OrganizationID ||
			g.Actor != w.Actor || g.Action != w.Action || g.Target != w.Target || !maps.Equal(g.Details, w.Details) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// newestEvents returns the newest n of es, newest first, with times
// truncated as stored.
func newestEvents(es []audit.Event, n int) []audit.Event {
	s := slices.Clone(es)
	for i := range s {
		s[i].Time = s[i].Time.UTC().Truncate(time.Millisecond)
	}
	slices.SortFunc(s, func(a, b audit.Event) int {
		switch {
		case audit.EventLess(b, a):
			return -1
		case audit.EventLess(a, b):
			return 1
		}
		return 0
	})
	return s[:min(n, len(s))]
}

func testEventsEmpty(t *testing.T, ev audit.Events, _ int) {
	if got := list(t, ev, "org-a"); len(got) != 0 {
		t.Fatalf("fresh trail: %d events", len(got))
	}
	appendEvents(t, ev, event("org-a", 1, "e1"))
	if got := list(t, ev, ""); len(got) != 0 {
		t.Fatalf(`List(""): %d events`, len(got))
	}
}

func testEventsRoundTrip(t *testing.T, ev audit.Events, _ int) {
	e := audit.Event{
		ID: "0b8f1a52-7a53-4f0e-9d6c-2b1f3f0c2e11", Time: time.Date(2025, 2, 3, 4, 5, 6, 789_999_999, time.FixedZone("X", -3600)),
		OrganizationID: "org-a", Actor: "ops@example.com", Action: audit.ActionOrgCreated,
		Details: map[string]string{"name": "Acme ✓", "api_enabled": "false"},
	}
	appendEvents(t, ev, e)
	want := e
	want.Time = time.Date(2025, 2, 3, 5, 5, 6, 789_000_000, time.UTC)
	sameEvents(t, list(t, ev, "org-a"), []audit.Event{want})
	// No details round-trips as no details.
	e2 := event("org-b", 1, "e")
	e2.Details = nil
	appendEvents(t, ev, e2)
	if got := list(t, ev, "org-b"); len(got) != 1 || len(got[0].Details) != 0 {
		t.Fatalf("List = %+v", got)
	}
}

func testEventsValidation(t *testing.T, ev audit.Events, _ int) {
	for _, e := range []audit.Event{{Action: audit.ActionKeyCreated}, {OrganizationID: "org-a"}} {
		if err := ev.Append(ctx(t), e); !errors.Is(err, audit.ErrInvalidEvent) {
			t.Errorf("Append(%+v) = %v, want ErrInvalidEvent", e, err)
		}
	}
	if got := list(t, ev, "org-a"); len(got) != 0 {
		t.Fatalf("invalid events stored: %+v", got)
	}
}

func testEventsDefaults(t *testing.T, ev audit.Events, _ int) {
	before := time.Now().Add(-time.Second)
	appendEvents(t, ev, audit.Event{OrganizationID: "org-a", Action: audit.ActionKeyRevoked, Actor: "admin", Target: "k"})
	got := list(t, ev, "org-a")
	if len(got) != 1 || len(got[0].ID) != 36 || got[0].Time.Before(before) || got[0].Time.After(time.Now().Add(time.Second)) {
		t.Fatalf("defaults not filled in: %+v", got)
	}
}

func testEventsCap(t *testing.T, ev audit.Events, c int) {
	n := c + 7
	if n > 300 {
		// A large cap: check ordering and a bounded sample instead of
		// filling it.
		n = 60
	}
	var all []audit.Event
	for i := 0; i < n; i++ {
		all = append(all, event("org-a", i/3, fmt.Sprintf("e%04d", i)))
	}
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	appendEvents(t, ev, shuffled...)
	sameEvents(t, list(t, ev, "org-a"), newestEvents(all, c))
}

func testEventsIsolation(t *testing.T, ev audit.Events, c int) {
	a, b := event("org-a", 1, "ea"), event("org-b", 2, "eb")
	appendEvents(t, ev, a, b)
	sameEvents(t, list(t, ev, "org-a"), newestEvents([]audit.Event{a}, c))
	sameEvents(t, list(t, ev, "org-b"), newestEvents([]audit.Event{b}, c))
	if got := list(t, ev, "org-c"); len(got) != 0 {
		t.Fatalf("org-c sees %d events", len(got))
	}
}

func testEventsIdempotent(t *testing.T, ev audit.Events, c int) {
	e := event("org-a", 1, "e1")
	appendEvents(t, ev, e, e)
	sameEvents(t, list(t, ev, "org-a"), newestEvents([]audit.Event{e}, c))
}

func testEventsConcurrent(t *testing.T, ev audit.Events, c int) {
	const writers, per = 4, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []audit.Event
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				e := event("org-a", i*writers+w, fmt.Sprintf("w%d-%02d", w, i))
				if err := ev.Append(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, e)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sameEvents(t, list(t, ev, "org-a"), newestEvents(all, c))
}
