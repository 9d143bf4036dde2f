package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
)

// EventIDPrefix starts every event id.
const EventIDPrefix = "evt_"

// Event is one change to announce. Its payload, as every endpoint receives
// it, is
//
//	{"id":"evt_…","type":"lead.created","created_at":"…","organization_id":"…","data":{…}}
//
// or, when that is over Options.MaxPayloadBytes, the thin form with
// "thin":true and data {"id":ResourceID,"resource_path":ResourcePath}
// (and "resource_url", Options.PublicURL followed by ResourcePath, when
// PublicURL is set).
type Event struct {
	// Type, e.g. "lead.created". Required.
	Type string
	// OrganizationID owns the event: only its endpoints receive it.
	// Required.
	OrganizationID string
	// Data is the record as the API returns it: any value that encodes as
	// a JSON object. Required.
	Data any
	// Scope a key must hold to receive the event; empty means the scope of
	// Type in the service's catalogue (an unknown type is then an error).
	Scope scope.Scope
	// ResourceID and ResourcePath name the record the event is about
	// ("/v1/leads/<id>", as the public API serves it): a thin event,
	// sent instead of one over Options.MaxPayloadBytes, carries them so
	// the receiver can read the record. [Service.OnWrite] sets both.
	ResourceID   string
	ResourcePath string
}

// payload is the JSON body of a delivery.
type payload struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	CreatedAt      time.Time       `json:"created_at"`
	OrganizationID string          `json:"organization_id"`
	Thin           bool            `json:"thin,omitempty"`
	Data           json.RawMessage `json:"data"`
}

// thinData is the data of a thin event.
type thinData struct {
	ID           string `json:"id,omitempty"`
	ResourcePath string `json:"resource_path,omitempty"`
	ResourceURL  string `json:"resource_url,omitempty"`
}

// newEventID returns "evt_" and 32 hex digits of a time-ordered UUID.
func newEventID(now time.Time) string {
	return EventIDPrefix + strings.ReplaceAll(uuid.NewV7(now), "-", "")
}

// Emit writes the event into the outbox inside tx, the caller's
// transaction, with one pending delivery per enabled endpoint of the
// organization subscribed to its type (or to "*"). Nothing is sent until
// tx commits, and a rolled-back transaction leaves no trace: a committed
// change always has its event, a rolled-back one never does. It returns the
// event id ("evt_…"), which receivers see as webhook-id.
//
// Whether a key-owned endpoint may read the event is checked at delivery,
// against the key's scopes then.
//
// When ctx is that of a resource registry write (Emit called from
// [Service.OnWrite]) and the event has deliveries, [Service.Notify] runs
// after the write commits, so the dispatchers send at once; a caller with
// its own transaction calls Notify after committing tx (otherwise the
// deliveries wait for the next poll).
func (s *Service) Emit(ctx context.Context, tx *sql.Tx, e Event) (string, error) {
	if tx == nil {
		return "", errors.New("webhook: emit: nil transaction")
	}
	if e.OrganizationID == "" {
		return "", errors.New("webhook: emit: Event.OrganizationID is required")
	}
	if !validTypeName(e.Type) {
		return "", fmt.Errorf("webhook: emit: invalid event type %q", e.Type)
	}
	sc := e.Scope
	if sc == "" {
		t, ok := s.byName[e.Type]
		if !ok {
			return "", fmt.Errorf("webhook: emit: unknown event type %q: add it to Options.Types or set Event.Scope", e.Type)
		}
		sc = t.Scope
	}
	if _, err := scope.Parse(string(sc)); err != nil {
		return "", fmt.Errorf("webhook: emit %s: %w", e.Type, err)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return "", fmt.Errorf("webhook: emit %s: data: %w", e.Type, err)
	}
	if len(data) == 0 || data[0] != '{' {
		return "", fmt.Errorf("webhook: emit %s: data must encode as a JSON object", e.Type)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	id := newEventID(now)
	body, err := json.Marshal(payload{ID: id, Type: e.Type, CreatedAt: now, OrganizationID: e.OrganizationID, Data: data})
	if err != nil {
		return "", fmt.Errorf("webhook: emit %s: %w", e.Type, err)
	}
	if s.maxEvent > 0 && len(body) > s.maxEvent {
		td := thinData{ID: e.ResourceID, ResourcePath: e.ResourcePath}
		if s.public != "" && strings.HasPrefix(e.ResourcePath, "/") {
			td.ResourceURL = s.public + e.ResourcePath
		}
		thin, _ := json.Marshal(td)
		if body, err = json.Marshal(payload{ID: id, Type: e.Type, CreatedAt: now, OrganizationID: e.OrganizationID, Thin: true, Data: thin}); err != nil {
			return "", fmt.Errorf("webhook: emit %s: %w", e.Type, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO gatehouse_webhook_events (id, organization_id, type, scope, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		id, e.OrganizationID, e.Type, string(sc), string(body), s.t(now)); err != nil {
		return "", fmt.Errorf("webhook: emit %s: insert event: %w", e.Type, err)
	}
	targets, err := s.subscribers(ctx, tx, e.OrganizationID, e.Type)
	if err != nil {
		return "", fmt.Errorf("webhook: emit %s: %w", e.Type, err)
	}
	for _, epID := range targets {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO gatehouse_webhook_deliveries
			(id, organization_id, endpoint_id, event_id, state, attempts, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`),
			uuid.New(), e.OrganizationID, epID, id, s.t(now), s.t(now), s.t(now)); err != nil {
			return "", fmt.Errorf("webhook: emit %s: insert delivery: %w", e.Type, err)
		}
	}
	if len(targets) > 0 {
		resource.AfterCommit(ctx, s.notify)
	}
	return id, nil
}

// subscribers returns the ids of the organization's enabled endpoints
// subscribed to typ.
func (s *Service) subscribers(ctx context.Context, tx *sql.Tx, orgID, typ string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, events FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND enabled = ?`), orgID, true)
	if err != nil {
		return nil, fmt.Errorf("select endpoints: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, events string
		if err := rows.Scan(&id, &events); err != nil {
			return nil, fmt.Errorf("scan endpoint: %w", err)
		}
		var list []string
		if err := json.Unmarshal([]byte(events), &list); err != nil {
			return nil, fmt.Errorf("endpoint %s: events: %w", id, err)
		}
		if subscribed(list, typ) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

func subscribed(list []string, typ string) bool {
	for _, t := range list {
		if t == Wildcard || t == typ {
			return true
		}
	}
	return false
}

// OnWrite turns a create or update of the resource registry into the event
// "<singular>.<op>" (e.g. "lead.created") with the record as its data,
// readable with "<resource>:read", emitted in the write's transaction. Pass
// it as resource.Options.OnWrite.
func (s *Service) OnWrite(ctx context.Context, tx *sql.Tx, c resource.Change) error {
	singular := c.Singular
	if singular == "" {
		singular = c.Resource
	}
	_, err := s.Emit(ctx, tx, Event{
		Type:           singular + "." + c.Op,
		OrganizationID: c.OrganizationID,
		Data:           c.Record,
		Scope:          scope.Of(c.Resource, scope.Read),
		ResourceID:     c.ID,
		ResourcePath:   s.prefix + "/" + c.Resource + "/" + url.PathEscape(c.ID),
	})
	return err
}
