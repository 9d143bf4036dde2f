package audit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"gatehouse.dev/internal/uuid"
)

// DefaultEventsCap is how many events each organization keeps when an
// option leaves it zero.
const DefaultEventsCap = 1000

// Actions of the admin trail.
const (
	ActionOrgCreated  = "org.created"
	ActionAPIEnabled  = "org.api_enabled"
	ActionAPIDisabled = "org.api_disabled"
	ActionKeyCreated  = "key.created"
	ActionKeyUpdated  = "key.updated"
	ActionKeyRevoked  = "key.revoked"
	// ActionKeyRotated: Target is the new key; Details name the replaced
	// key ("replaces") and its new expiry ("old_expires_at").
	ActionKeyRotated = "key.rotated"
)

// Event is one administrative action on an organization: who did what,
// when. It never holds a key or a token.
type Event struct {
	// ID identifies the event (a UUID, filled in by Append when empty) and
	// orders events of the same millisecond.
	ID string `json:"id"`
	// Time is when it happened, UTC, millisecond precision (now when zero).
	Time           time.Time `json:"time"`
	OrganizationID string    `json:"organization_id"`
	// Actor is the admin principal that the admin Authorize func returned.
	Actor string `json:"actor"`
	// Action is one of the Action… constants (or the host's own).
	Action string `json:"action"`
	// Target is what was acted on, e.g. the key id; empty for the
	// organization itself.
	Target string `json:"target,omitempty"`
	// Details are public facts of the change, e.g. {"fields": "scopes,name"}.
	Details map[string]string `json:"details,omitempty"`
}

// Events is the admin actions trail: per organization, the newest Cap
// events by (Time, ID).
type Events interface {
	// Append stores e. OrganizationID and Action are required; a zero Time
	// means now and an empty ID a fresh UUID.
	Append(ctx context.Context, e Event) error
	// List returns the newest events of organization orgID, newest first, at
	// most Cap; an empty non-nil slice when there are none.
	List(ctx context.Context, orgID string) ([]Event, error)
}

// ErrInvalidEvent is returned by [Events.Append] for an event without
// OrganizationID or Action.
var ErrInvalidEvent = errors.New("audit: event needs OrganizationID and Action")

// PrepareEvent validates e and fills in its defaults as every [Events]
// backend stores it: a fresh ID when empty, now (from now, or time.Now when
// nil) when Time is zero, Time in UTC at millisecond precision, strings
// cleaned of NUL and invalid UTF-8, Details copied.
func PrepareEvent(e Event, now func() time.Time) (Event, error) {
	if e.OrganizationID == "" || e.Action == "" {
		return Event{}, ErrInvalidEvent
	}
	if e.Time.IsZero() {
		if now == nil {
			now = time.Now
		}
		e.Time = now()
	}
	if e.ID == "" {
		// Time-ordered, so events of the same millisecond keep their order.
		e.ID = uuid.NewV7(e.Time)
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.ID = cleanString(e.ID)
	e.OrganizationID = cleanString(e.OrganizationID)
	e.Actor = cleanString(e.Actor)
	e.Action = cleanString(e.Action)
	e.Target = cleanString(e.Target)
	if e.Details != nil {
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			d[cleanString(k)] = cleanString(v)
		}
		e.Details = d
	}
	return e, nil
}

// EventLess reports whether a is older than b: by Time, then ID.
func EventLess(a, b Event) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}

// MemoryEventsOptions configures [NewMemoryEvents]. The zero value is
// usable.
type MemoryEventsOptions struct {
	// Cap is how many events each organization keeps. Zero means
	// [DefaultEventsCap].
	Cap int
	// MaxOrgs bounds the organizations held; a new one beyond it evicts the
	// organization written least recently. Zero means [DefaultMaxKeys].
	MaxOrgs int
	// Now defaults to time.Now.
	Now func() time.Time
}

// MemoryEvents is the in-process [Events] trail, safe for concurrent use.
type MemoryEvents struct {
	cap, maxOrgs int
	now          func() time.Time

	mu   sync.Mutex
	orgs map[string]*orgEvents
	tick uint64
}

type orgEvents struct {
	events  []Event // ascending (Time, ID)
	written uint64  // tick of the last Append, for eviction
}

var _ Events = (*MemoryEvents)(nil)

// NewMemoryEvents returns an empty in-memory trail.
func NewMemoryEvents(opts MemoryEventsOptions) *MemoryEvents {
	m := &MemoryEvents{cap: opts.Cap, maxOrgs: opts.MaxOrgs, now: opts.Now, orgs: make(map[string]*orgEvents)}
	if m.cap <= 0 {
		m.cap = DefaultEventsCap
	}
	if m.maxOrgs <= 0 {
		m.maxOrgs = DefaultMaxKeys
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Cap returns how many events each organization keeps.
func (m *MemoryEvents) Cap() int { return m.cap }

// Append stores e; see [Events.Append]. An event equal in Time and ID to a
// stored one replaces it.
func (m *MemoryEvents) Append(_ context.Context, e Event) error {
	e, err := PrepareEvent(e, m.now)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[e.OrganizationID]
	if o == nil {
		if len(m.orgs) >= m.maxOrgs {
			m.evict()
		}
		o = &orgEvents{}
		m.orgs[e.OrganizationID] = o
	}
	m.tick++
	o.written = m.tick
	i, found := slices.BinarySearchFunc(o.events, e, func(a, b Event) int {
		switch {
		case EventLess(a, b):
			return -1
		case EventLess(b, a):
			return 1
		}
		return 0
	})
	if found {
		o.events[i] = e
		return nil
	}
	if len(o.events) == m.cap {
		if i == 0 {
			return nil // older than all of a full trail
		}
		copy(o.events, o.events[1:i])
		o.events[i-1] = e
		return nil
	}
	o.events = slices.Insert(o.events, i, e)
	return nil
}

// evict drops the organization written least recently (O(orgs); admin
// writes are rare).
func (m *MemoryEvents) evict() {
	var oldest string
	var tick uint64
	first := true
	for id, o := range m.orgs {
		if first || o.written < tick {
			oldest, tick, first = id, o.written, false
		}
	}
	delete(m.orgs, oldest)
}

// List returns the newest events of orgID; see [Events.List].
func (m *MemoryEvents) List(_ context.Context, orgID string) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.orgs[orgID]
	if o == nil {
		return []Event{}, nil
	}
	out := make([]Event, len(o.events))
	for i, e := range o.events {
		e.Details = maps.Clone(e.Details)
		out[len(out)-1-i] = e
	}
	return out, nil
}
