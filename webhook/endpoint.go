package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// ErrNotFound is returned for an endpoint that does not exist in the
// organization (whether or not another organization has one of that id).
var ErrNotFound = errors.New("webhook: endpoint not found")

// Reasons an endpoint was disabled, as [Endpoint.DisabledReason] shows them
// (a failing endpoint's reason names the event and the last error).
const (
	ReasonManual      = "disabled manually"
	ReasonKeyInactive = "the API key that created this endpoint was revoked or has expired"
)

// MsgTooManyEndpoints is the 400 error of a create beyond
// Options.MaxEndpoints.
const MsgTooManyEndpoints = "Webhook endpoint limit reached"

// MsgTooManyKeyEndpoints is the 400 error of a create by an API key that
// already owns Options.MaxEndpointsPerKey endpoints.
const MsgTooManyKeyEndpoints = "Webhook endpoint limit reached for this API key"

const msgRequired = "is required"

// Endpoint is a receiver of an organization's events.
type Endpoint struct {
	// ID is a UUID.
	ID string
	// OrganizationID owns the endpoint.
	OrganizationID string
	// KeyID is the API key that created the endpoint through the public
	// API ("" for endpoints made through the admin API or the Go API
	// without one): only that key may see or change it, and it is
	// disabled when the key is revoked or expires.
	KeyID string
	// URL receives the POSTs.
	URL string
	// Events are the subscribed types, or ["*"].
	Events []string
	// Description is free text.
	Description string
	// Enabled endpoints receive events.
	Enabled bool
	// DisabledReason says why an endpoint is disabled ("" when enabled).
	DisabledReason string
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops signing (nil when there is none).
	PreviousSecretExpiresAt *time.Time
	// LastSuccessAt is the time of the latest successful delivery (to
	// within a minute).
	LastSuccessAt *time.Time
	// CreatedAt and UpdatedAt are in UTC.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EndpointInput creates an endpoint.
type EndpointInput struct {
	// URL receives the POSTs: https (unless Options.AllowHTTP), port 443
	// or 80 (unless Options.AllowAnyPort), and a host that resolves only
	// to public addresses. Required.
	URL string
	// Events lists event types of the catalogue, or "*". Required.
	Events []string
	// Description is free text of at most 255 characters.
	Description string
	// KeyID, when set, makes the endpoint belong to that API key (see
	// [Endpoint.KeyID]). The Go API does not check the key's scopes;
	// deliveries do.
	KeyID string
	// Disabled creates the endpoint disabled.
	Disabled bool
}

// EndpointUpdate changes an endpoint; nil fields stay as they are.
type EndpointUpdate struct {
	URL         *string
	Events      []string
	Description *string
	Enabled     *bool
}

const endpointColumns = `id, organization_id, key_id, url, description, events, enabled, disabled_reason,
	old_secret_until, last_success_at, created_at, updated_at`

func scanEndpoint(row interface{ Scan(...any) error }) (Endpoint, error) {
	var (
		ep                    Endpoint
		keyID                 sql.NullString
		events                string
		oldUntil, lastSuccess tenancy.Time
		created, updated      tenancy.Time
	)
	if err := row.Scan(&ep.ID, &ep.OrganizationID, &keyID, &ep.URL, &ep.Description, &events, &ep.Enabled,
		&ep.DisabledReason, &oldUntil, &lastSuccess, &created, &updated); err != nil {
		return Endpoint{}, err
	}
	if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: events: %w", ep.ID, err)
	}
	ep.KeyID = keyID.String
	ep.PreviousSecretExpiresAt = oldUntil.Ptr()
	ep.LastSuccessAt = lastSuccess.Ptr()
	ep.CreatedAt, ep.UpdatedAt = created.Time, updated.Time
	return ep, nil
}

// invalid collects field errors of a request.
type invalid []gatehouse.FieldError

func (v *invalid) add(field, msg string) {
	*v = append(*v, gatehouse.FieldError{Field: field, Message: msg})
}

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	d := slices.Clone(v)
	slices.SortStableFunc(d, func(a, b gatehouse.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return gatehouse.InvalidFields(d...)
}

// checkEvents validates and normalizes an event list: known types or "*",
// deduplicated and sorted; "*" absorbs the rest. With granted set, every
// type must be readable with it (a 403 Missing scope naming the first
// missing scope otherwise), and "*" needs at least one readable type.
func (s *Service) checkEvents(list []string, granted *scope.Set, v *invalid) ([]string, error) {
	if len(list) == 0 {
		v.add("events", "must list at least one event type")
		return nil, nil
	}
	if len(list) > maxEvents {
		v.add("events", fmt.Sprintf("must list at most %d event types", maxEvents))
		return nil, nil
	}
	var unknown []string
	wildcard := false
	out := make([]string, 0, len(list))
	for _, t := range list {
		if t == Wildcard {
			wildcard = true
			continue
		}
		if _, ok := s.byName[t]; !ok {
			unknown = append(unknown, t)
			continue
		}
		out = append(out, t)
	}
	if len(unknown) > 0 {
		v.add("events", "unknown event types: "+strings.Join(unknown, ", "))
		return nil, nil
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if granted != nil {
		for _, t := range out {
			if sc := s.byName[t].Scope; !granted.Has(sc) {
				return nil, gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(sc))
			}
		}
		if wildcard && !slices.ContainsFunc(s.types, func(t EventType) bool { return granted.Has(t.Scope) }) {
			v.add("events", "no event type is readable with this API key's scopes")
			return nil, nil
		}
	}
	if wildcard {
		return []string{Wildcard}, nil
	}
	return out, nil
}

func checkDescription(d string, v *invalid) {
	switch {
	case utf8.RuneCountInString(d) > maxDescription:
		v.add("description", fmt.Sprintf("must be at most %d characters", maxDescription))
	case !utf8.ValidString(d) || strings.ContainsRune(d, 0):
		v.add("description", "must be valid text without NUL characters")
	}
}

// CreateEndpoint validates in and creates an enabled endpoint of the
// organization with a fresh signing secret, returned here and never again
// (it is stored encrypted with the Keyring). Invalid input is a 400
// *gatehouse.Error "Invalid field values".
func (s *Service) CreateEndpoint(ctx context.Context, orgID string, in EndpointInput) (Endpoint, Secret, error) {
	return s.create(ctx, orgID, in, nil)
}

func (s *Service) create(ctx context.Context, orgID string, in EndpointInput, granted *scope.Set) (Endpoint, Secret, error) {
	if orgID == "" {
		return Endpoint{}, Secret{}, fmt.Errorf("webhook: create endpoint: %w", tenancy.ErrNoOrganization)
	}
	var v invalid
	u, msg := s.urls.check(ctx, in.URL)
	if msg != "" {
		v.add("target_url", msg)
	}
	events, scopeErr := s.checkEvents(in.Events, granted, &v)
	checkDescription(in.Description, &v)
	if err := v.err(); err != nil {
		return Endpoint{}, Secret{}, err
	}
	if scopeErr != nil {
		return Endpoint{}, Secret{}, scopeErr
	}
	evJSON, _ := json.Marshal(events)
	now := s.now().UTC().Truncate(time.Microsecond)
	ep := Endpoint{
		ID: uuid.New(), OrganizationID: orgID, KeyID: in.KeyID, URL: u, Events: events,
		Description: in.Description, Enabled: !in.Disabled, CreatedAt: now, UpdatedAt: now,
	}
	if in.Disabled {
		ep.DisabledReason = ReasonManual
	}
	secret := newSecret()
	sealed := s.keyring.Seal([]byte(secret.Reveal()), []byte(ep.ID))
	var keyID any
	if in.KeyID != "" {
		keyID = in.KeyID
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Count and insert under the organization's lock, so concurrent
		// creates cannot both pass the quota: on PostgreSQL a
		// transaction-scoped advisory lock on the organization (READ
		// COMMITTED would otherwise let both counts miss the other's
		// insert); SQLite's write transactions are already serialized
		// (sqldb opens them IMMEDIATE).
		if s.dialect == tenancy.Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('gatehouse_webhook_endpoints'), hashtext($1))`, orgID); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints WHERE organization_id = ?`), orgID).Scan(&n); err != nil {
			return err
		}
		if n >= s.maxEP {
			return gatehouse.NewError(http.StatusBadRequest, MsgTooManyEndpoints).With("limit", s.maxEP)
		}
		if in.KeyID != "" {
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND key_id = ?`), orgID, in.KeyID).Scan(&n); err != nil {
				return err
			}
			if n >= s.maxKeyEP {
				return gatehouse.NewError(http.StatusBadRequest, MsgTooManyKeyEndpoints).With("limit", s.maxKeyEP)
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gatehouse_webhook_endpoints
			(id, organization_id, key_id, url, description, events, enabled, disabled_reason, secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			ep.ID, orgID, keyID, ep.URL, ep.Description, string(evJSON), ep.Enabled, ep.DisabledReason, sealed, s.t(now), s.t(now))
		return err
	})
	if err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			return Endpoint{}, Secret{}, err
		}
		return Endpoint{}, Secret{}, fmt.Errorf("webhook: create endpoint: %w", err)
	}
	return ep, secret, nil
}

// Endpoint returns an endpoint of the organization, or [ErrNotFound].
func (s *Service) Endpoint(ctx context.Context, orgID, id string) (Endpoint, error) {
	return s.get(ctx, s.db, orgID, id)
}

func (s *Service) get(ctx context.Context, q tenancy.Querier, orgID, id string) (Endpoint, error) {
	if orgID == "" {
		return Endpoint{}, fmt.Errorf("webhook: get endpoint: %w", tenancy.ErrNoOrganization)
	}
	if !uuid.Valid(id) {
		return Endpoint{}, ErrNotFound
	}
	ep, err := scanEndpoint(q.QueryRowContext(ctx, s.q(`SELECT `+endpointColumns+` FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND id = ?`), orgID, strings.ToLower(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: get endpoint: %w", err)
	}
	return ep, nil
}

// Endpoints returns the organization's endpoints, newest first.
func (s *Service) Endpoints(ctx context.Context, orgID string) ([]Endpoint, error) {
	if orgID == "" {
		return nil, fmt.Errorf("webhook: list endpoints: %w", tenancy.ErrNoOrganization)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+endpointColumns+` FROM gatehouse_webhook_endpoints WHERE organization_id = ? ORDER BY created_at DESC, id DESC`), orgID)
	if err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("webhook: list endpoints: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook: list endpoints: %w", err)
	}
	return out, nil
}

// UpdateEndpoint changes an endpoint of the organization ([ErrNotFound]
// when it has none of that id). Enabling clears the disabled reason;
// disabling cancels the endpoint's pending deliveries.
func (s *Service) UpdateEndpoint(ctx context.Context, orgID, id string, u EndpointUpdate) (Endpoint, error) {
	return s.update(ctx, orgID, id, u, nil, "")
}

// update applies u. With granted set, new event types must be readable;
// with owner set, the endpoint must belong to that key.
func (s *Service) update(ctx context.Context, orgID, id string, u EndpointUpdate, granted *scope.Set, owner string) (Endpoint, error) {
	var v invalid
	var newURL string
	if u.URL != nil {
		var msg string
		if newURL, msg = s.urls.check(ctx, *u.URL); msg != "" {
			v.add("target_url", msg)
		}
	}
	var events []string
	var scopeErr error
	if u.Events != nil {
		events, scopeErr = s.checkEvents(u.Events, granted, &v)
	}
	if u.Description != nil {
		checkDescription(*u.Description, &v)
	}
	// An unknown or foreign endpoint is a 404 before any 400.
	ep, err := s.get(ctx, s.db, orgID, id)
	if err != nil {
		return Endpoint{}, err
	}
	if owner != "" && ep.KeyID != owner {
		return Endpoint{}, ErrNotFound
	}
	if err := v.err(); err != nil {
		return Endpoint{}, err
	}
	if scopeErr != nil {
		return Endpoint{}, scopeErr
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		sets := []string{"updated_at = ?"}
		args := []any{s.t(now)}
		if u.URL != nil {
			sets, args = append(sets, "url = ?"), append(args, newURL)
		}
		if u.Events != nil {
			b, _ := json.Marshal(events)
			sets, args = append(sets, "events = ?"), append(args, string(b))
		}
		if u.Description != nil {
			sets, args = append(sets, "description = ?"), append(args, *u.Description)
		}
		if u.Enabled != nil {
			reason := ""
			if !*u.Enabled {
				reason = ReasonManual
			}
			sets, args = append(sets, "enabled = ?", "disabled_reason = ?"), append(args, *u.Enabled, reason)
		}
		args = append(args, orgID, ep.ID)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_endpoints SET `+strings.Join(sets, ", ")+` WHERE organization_id = ? AND id = ?`), args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if u.Enabled != nil && !*u.Enabled {
			return s.cancelPending(ctx, tx, ep.ID, now)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Endpoint{}, err
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("webhook: update endpoint: %w", err)
	}
	return s.get(ctx, s.db, orgID, ep.ID)
}

// cancelPending cancels the endpoint's pending deliveries (including any in
// flight: their outcome is then not recorded).
func (s *Service) cancelPending(ctx context.Context, tx *sql.Tx, endpointID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_deliveries SET state = 'cancelled', locked_until = NULL, lock_token = NULL, updated_at = ?
		WHERE endpoint_id = ? AND state = 'pending'`), s.t(now), endpointID)
	return err
}

// disable disables an endpoint with a reason and cancels its pending
// deliveries.
func (s *Service) disable(ctx context.Context, tx *sql.Tx, orgID, id, reason string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_endpoints SET enabled = ?, disabled_reason = ?, updated_at = ?
		WHERE organization_id = ? AND id = ? AND enabled = ?`), false, reason, s.t(now), orgID, id, true); err != nil {
		return err
	}
	return s.cancelPending(ctx, tx, id, now)
}

// DeleteEndpoint deletes an endpoint of the organization with its pending
// deliveries and its delivery log ([ErrNotFound] when it has none of that
// id).
func (s *Service) DeleteEndpoint(ctx context.Context, orgID, id string) error {
	return s.delete(ctx, orgID, id, "")
}

func (s *Service) delete(ctx context.Context, orgID, id, owner string) error {
	ep, err := s.get(ctx, s.db, orgID, id)
	if err != nil {
		return err
	}
	if owner != "" && ep.KeyID != owner {
		return ErrNotFound
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND id = ?`), orgID, ep.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM gatehouse_webhook_deliveries WHERE endpoint_id = ?`), ep.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM gatehouse_webhook_attempts WHERE endpoint_id = ?`), ep.ID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("webhook: delete endpoint: %w", err)
	}
	return nil
}

// RotateSecret gives an endpoint of the organization a new signing secret,
// returned here and never again. The previous secret keeps signing for
// grace (both signatures are sent), so receivers can switch without losing
// a delivery; a zero grace retires it at once. A secret still in its grace
// period from an earlier rotation is dropped.
func (s *Service) RotateSecret(ctx context.Context, orgID, id string, grace time.Duration) (Endpoint, Secret, error) {
	if grace < 0 || grace > MaxSecretGracePeriod {
		return Endpoint{}, Secret{}, fmt.Errorf("webhook: rotate secret: grace period must be between 0 and %s", MaxSecretGracePeriod)
	}
	ep, err := s.get(ctx, s.db, orgID, id)
	if err != nil {
		return Endpoint{}, Secret{}, err
	}
	secret := newSecret()
	now := s.now().UTC().Truncate(time.Microsecond)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var current string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT secret FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND id = ?`), orgID, ep.ID).Scan(&current); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var old, until any
		if grace > 0 {
			// Re-seal the old secret to the current keyring secret while
			// at it (it may have been sealed under a retired one).
			pt, err := s.keyring.Open(current, []byte(ep.ID))
			if err != nil {
				return fmt.Errorf("open current secret: %w", err)
			}
			old, until = s.keyring.Seal(pt, []byte(ep.ID)), s.t(now.Add(grace))
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE gatehouse_webhook_endpoints SET secret = ?, old_secret = ?, old_secret_until = ?, updated_at = ?
			WHERE organization_id = ? AND id = ?`),
			s.keyring.Seal([]byte(secret.Reveal()), []byte(ep.ID)), old, until, s.t(now), orgID, ep.ID)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Endpoint{}, Secret{}, err
	}
	if err != nil {
		return Endpoint{}, Secret{}, fmt.Errorf("webhook: rotate secret: %w", err)
	}
	ep, err = s.get(ctx, s.db, orgID, ep.ID)
	if err != nil {
		return Endpoint{}, Secret{}, err
	}
	return ep, secret, nil
}

// DisableKey disables every endpoint the API key created (call it when the
// key is revoked) and cancels their pending deliveries. Deliveries also
// check the key through Options.KeyCheck, which catches expiry.
func (s *Service) DisableKey(ctx context.Context, orgID, keyID string) error {
	if orgID == "" {
		return fmt.Errorf("webhook: disable key: %w", tenancy.ErrNoOrganization)
	}
	if keyID == "" {
		return errors.New("webhook: disable key: empty key id")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM gatehouse_webhook_endpoints WHERE organization_id = ? AND key_id = ? AND enabled = ?`), orgID, keyID, true)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.disable(ctx, tx, orgID, id, ReasonKeyInactive, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhook: disable key %s: %w", keyID, err)
	}
	return nil
}
