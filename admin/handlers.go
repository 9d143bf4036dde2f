package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// orgJSON is an organization as the admin API returns it.
type orgJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	APIEnabled bool      `json:"api_enabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func toOrgJSON(o auth.Org) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, APIEnabled: o.APIEnabled, CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
}

// keyJSON is a key as the admin API returns it: never the key or its hash.
// Key is set only in the create response.
type keyJSON struct {
	ID                 string     `json:"id"`
	OrganizationID     string     `json:"organization_id"`
	Name               string     `json:"name"`
	Env                string     `json:"env"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at"`
	DisplayPrefix      string     `json:"display_prefix"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastUsedAt         *time.Time `json:"last_used_at"`
	RevokedAt          *time.Time `json:"revoked_at"`
	Lineage            string     `json:"lineage"`
	ReplacedBy         *string    `json:"replaced_by"`
	Key                string     `json:"key,omitempty"`
	// Replaced is the rotated key, in the rotate response only.
	Replaced *keyJSON `json:"replaced_key,omitempty"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func toKeyJSON(k auth.Key) keyJSON {
	return keyJSON{
		ID: k.ID, OrganizationID: k.OrganizationID, Name: k.Name, Env: k.Env,
		Scopes: k.Scopes.Strings(), RateLimitPerMinute: k.RateLimitPerMinute,
		ExpiresAt: utcPtr(k.ExpiresAt), DisplayPrefix: k.DisplayPrefix,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
		LastUsedAt: utcPtr(k.LastUsedAt), RevokedAt: utcPtr(k.RevokedAt),
		Lineage: k.LineageID(), ReplacedBy: nonEmpty(k.ReplacedBy),
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

var errNotFound = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)

// Messages of the 409 answers of a rotation.
const (
	MsgKeyRevoked = "API key is revoked"
	MsgKeyRotated = "API key was already rotated"
	MsgKeyExpired = "API key has expired"
)

// storeErr maps store sentinels to API errors.
func storeErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return errNotFound.Wrap(err)
	case errors.Is(err, auth.ErrRevoked):
		return gatehouse.NewError(http.StatusConflict, MsgKeyRevoked).Wrap(err)
	case errors.Is(err, auth.ErrRotated):
		return gatehouse.NewError(http.StatusConflict, MsgKeyRotated).Wrap(err)
	case errors.Is(err, auth.ErrExpired):
		return gatehouse.NewError(http.StatusConflict, MsgKeyExpired).Wrap(err)
	}
	return err
}

// org returns the organization of the path, checking it exists: an id not
// of Options.OrgIDType is 400 "Invalid organization id", an unknown one 404.
func (h *Handler) org(r *http.Request) (auth.Org, error) {
	id, err := h.opts.OrgIDType.Parse(r.PathValue("org_id"))
	if err != nil {
		return auth.Org{}, err
	}
	o, err := h.opts.Orgs.GetOrg(r.Context(), id)
	return o, storeErr(err)
}

// MsgOrgExists is the 409 answer of POST {prefix}/orgs with the id of an
// existing organization.
const MsgOrgExists = "Organization already exists"

// parseOrgID validates the optional "id" of an organization create: a
// string of Options.OrgIDType (for integer ids, a JSON integer too). ok is
// false when it is absent or invalid (then details says why).
func (h *Handler) parseOrgID(raw json.RawMessage, details *[]gatehouse.FieldError) (string, bool) {
	if raw == nil {
		if h.opts.OrgIDType == tenancy.OrgIDInteger && h.opts.NewOrgID == nil {
			*details = append(*details, gatehouse.FieldError{Field: "id", Message: "is required (integer organization ids are the service's own)"})
		}
		return "", false
	}
	var id string
	if h.opts.OrgIDType == tenancy.OrgIDInteger && len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
		id = string(raw) // a JSON number: its text must be the canonical integer
	} else if err := json.Unmarshal(raw, &id); err != nil {
		*details = append(*details, gatehouse.FieldError{Field: "id", Message: "must be a string"})
		return "", false
	}
	if !h.opts.OrgIDType.Valid(id) {
		*details = append(*details, gatehouse.FieldError{Field: "id", Message: h.opts.OrgIDType.Rule()})
		return "", false
	}
	return id, true
}

// newOrgID makes the id of an organization created without one.
func (h *Handler) newOrgID(ctx context.Context) (string, error) {
	if h.opts.NewOrgID == nil {
		return uuid.New(), nil
	}
	id, err := h.opts.NewOrgID(ctx)
	if err != nil {
		return "", fmt.Errorf("admin: NewOrgID: %w", err)
	}
	if !h.opts.OrgIDType.Valid(id) {
		return "", fmt.Errorf("admin: NewOrgID returned %q, not a %s organization id", id, h.opts.OrgIDType)
	}
	return id, nil
}

// key returns the key of the path within the path's organization.
func (h *Handler) key(r *http.Request) (auth.Key, error) {
	o, err := h.org(r)
	if err != nil {
		return auth.Key{}, err
	}
	id := r.PathValue("key_id")
	if !uuid.Valid(id) {
		return auth.Key{}, errNotFound
	}
	k, err := h.opts.Keys.GetKey(r.Context(), o.ID, id)
	return k, storeErr(err)
}

// body reads a JSON object and refuses members outside allowed.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	return gatehouse.ReadFields(w, r, h.opts.MaxBodyBytes, allowed...)
}

func (h *Handler) createOrg(w http.ResponseWriter, r *http.Request) {
	m, err := h.body(w, r, "name", "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var details []gatehouse.FieldError
	id, hasID := h.parseOrgID(m["id"], &details)
	name, _ := parseName(m["name"], true, &details)
	if len(details) > 0 {
		h.fail(w, r, gatehouse.InvalidFields(details...))
		return
	}
	if !hasID {
		if id, err = h.newOrgID(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	now := h.now()
	o, err := h.opts.Orgs.CreateOrg(r.Context(), auth.Org{ID: id, Name: name, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, auth.ErrConflict) {
		h.fail(w, r, gatehouse.NewError(http.StatusConflict, MsgOrgExists).Wrap(err))
		return
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("admin: create org: %w", err))
		return
	}
	h.record(r, o.ID, audit.ActionOrgCreated, o.ID, map[string]string{"name": o.Name})
	w.Header().Set("Location", h.opts.Prefix+"/orgs/"+o.ID)
	gatehouse.WriteData(w, r, http.StatusCreated, toOrgJSON(o))
}

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request) {
	o, err := h.org(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toOrgJSON(o))
}

func (h *Handler) patchOrg(w http.ResponseWriter, r *http.Request) {
	o, err := h.org(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.body(w, r, "api_enabled")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	raw, ok := m["api_enabled"]
	if !ok {
		h.fail(w, r, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgNoFieldsToUpdate))
		return
	}
	var on bool
	if err := json.Unmarshal(raw, &on); err != nil || string(raw) == "null" {
		h.fail(w, r, gatehouse.InvalidFields(gatehouse.FieldError{Field: "api_enabled", Message: "must be a boolean"}))
		return
	}
	o, err = h.opts.Orgs.SetAPIEnabled(r.Context(), o.ID, on, h.now())
	if err != nil {
		h.fail(w, r, storeErr(err))
		return
	}
	h.changed(r.Context(), o.ID, "")
	action := audit.ActionAPIDisabled
	if on {
		action = audit.ActionAPIEnabled
	}
	h.record(r, o.ID, action, o.ID, nil)
	gatehouse.WriteData(w, r, http.StatusOK, toOrgJSON(o))
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request) {
	o, err := h.org(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	keys, err := h.opts.Keys.ListKeys(r.Context(), o.ID)
	if err != nil {
		h.fail(w, r, fmt.Errorf("admin: list keys: %w", err))
		return
	}
	out := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toKeyJSON(k))
	}
	gatehouse.WriteData(w, r, http.StatusOK, out)
}

func (h *Handler) getKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toKeyJSON(k))
}

var keyFields = []string{"name", "scopes", "rate_limit_per_minute", "expires_at"}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) {
	o, err := h.org(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.body(w, r, keyFields...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.now()
	var details []gatehouse.FieldError
	name, _ := parseName(m["name"], true, &details)
	scopes, _ := h.parseScopes(m["scopes"], true, &details)
	limit := h.opts.DefaultRateLimitPerMinute
	if raw, ok := m["rate_limit_per_minute"]; ok {
		limit, _ = h.parseLimit(raw, &details)
	}
	var expires *time.Time
	if raw, ok := m["expires_at"]; ok {
		expires, _ = parseExpiry(raw, now, &details)
	}
	if len(details) > 0 {
		h.fail(w, r, gatehouse.InvalidFields(details...))
		return
	}
	raw, k, err := h.issue(r.Context(), o.ID, name, scopes, limit, expires, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(r, o.ID, audit.ActionKeyCreated, k.ID, keyDetails(k))
	out := toKeyJSON(k)
	out.Key = raw.Reveal()
	w.Header().Set("Location", h.opts.Prefix+"/orgs/"+o.ID+"/api-keys/"+k.ID)
	w.Header().Set("Cache-Control", "no-store")
	gatehouse.WriteData(w, r, http.StatusCreated, out)
}

func (h *Handler) patchKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.body(w, r, keyFields...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(m) == 0 {
		h.fail(w, r, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgNoFieldsToUpdate))
		return
	}
	now := h.now()
	var u auth.KeyUpdate
	var details []gatehouse.FieldError
	if raw, ok := m["name"]; ok {
		if name, ok := parseName(raw, true, &details); ok {
			u.Name = &name
		}
	}
	if raw, ok := m["scopes"]; ok {
		if s, ok := h.parseScopes(raw, true, &details); ok {
			u.Scopes = &s
		}
	}
	if raw, ok := m["rate_limit_per_minute"]; ok {
		if l, ok := h.parseLimit(raw, &details); ok {
			u.RateLimitPerMinute = &l
		}
	}
	if raw, ok := m["expires_at"]; ok {
		if e, ok := parseExpiry(raw, now, &details); ok {
			u.SetExpiresAt, u.ExpiresAt = true, e
		}
	}
	if len(details) > 0 {
		h.fail(w, r, gatehouse.InvalidFields(details...))
		return
	}
	k, err = h.opts.Keys.UpdateKey(r.Context(), k.OrganizationID, k.ID, u, now)
	if err != nil {
		h.fail(w, r, storeErr(err))
		return
	}
	h.changed(r.Context(), k.OrganizationID, k.ID)
	changedFields := slices.Sorted(maps.Keys(m))
	trail := keyDetails(k)
	trail["changed"] = strings.Join(changedFields, ",")
	h.record(r, k.OrganizationID, audit.ActionKeyUpdated, k.ID, trail)
	gatehouse.WriteData(w, r, http.StatusOK, toKeyJSON(k))
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	k, err = h.RevokeKeyAs(r.Context(), h.actor(r), k.OrganizationID, k.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toKeyJSON(k))
}

// rotateKey replaces the key by a new one with the same attributes; the old
// key keeps working for grace_seconds (0–604800, default 0).
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// An empty body is the default grace (0).
	b, err := gatehouse.ReadBody(w, r, h.opts.MaxBodyBytes)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(b)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(b))
		if m, err = h.body(w, r, "grace_seconds"); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	var grace time.Duration
	if raw, ok := m["grace_seconds"]; ok {
		g, ok := ParseGraceSeconds(raw)
		if !ok {
			h.fail(w, r, gatehouse.InvalidFields(gatehouse.FieldError{Field: "grace_seconds", Message: graceMessage}))
			return
		}
		grace = g
	}
	rot, err := h.RotateKeyAs(r.Context(), h.actor(r), k.OrganizationID, k.ID, grace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := toKeyJSON(rot.New)
	out.Key = rot.Raw.Reveal()
	old := toKeyJSON(rot.Old)
	out.Replaced = &old
	w.Header().Set("Location", h.opts.Prefix+"/orgs/"+rot.New.OrganizationID+"/api-keys/"+rot.New.ID)
	w.Header().Set("Cache-Control", "no-store")
	gatehouse.WriteData(w, r, http.StatusCreated, out)
}

var graceMessage = fmt.Sprintf("must be an integer from 0 to %d", int(auth.MaxRotationGrace/time.Second))

// ParseGraceSeconds parses a grace period in whole seconds, 0 to 604800 (7
// days), from JSON; false for anything else.
func ParseGraceSeconds(raw json.RawMessage) (time.Duration, bool) {
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if len(raw) == 0 || raw[0] == '"' || dec.Decode(&n) != nil {
		return 0, false
	}
	v, err := n.Int64()
	if err != nil || v < 0 || v > int64(auth.MaxRotationGrace/time.Second) {
		return 0, false
	}
	return time.Duration(v) * time.Second, true
}

// RotateKeyAs rotates the organization's key without going through HTTP
// (the key page uses it): a new key with the same name, scopes, limit and
// expiry, in the same lineage; the old key expires after grace (0 to 7
// days, never later than its own expiry). actor is recorded in the actions
// trail; caches are told about the old key's new expiry. A revoked, expired
// or already rotated key is a 409 *gatehouse.Error, an unknown one 404.
func (h *Handler) RotateKeyAs(ctx context.Context, actor, orgID, keyID string, grace time.Duration) (auth.Rotation, error) {
	if grace < 0 || grace > auth.MaxRotationGrace {
		return auth.Rotation{}, gatehouse.InvalidFields(gatehouse.FieldError{Field: "grace_seconds", Message: graceMessage})
	}
	rot, err := auth.RotateKey(ctx, h.opts.Keys, h.opts.KeyPrefix, orgID, keyID, grace, h.now())
	if err != nil {
		return auth.Rotation{}, storeErr(err)
	}
	h.changed(ctx, orgID, rot.Old.ID)
	if h.opts.OnKeyCreated != nil {
		h.opts.OnKeyCreated(context.WithoutCancel(ctx), rot.New)
	}
	d := keyDetails(rot.New)
	d["replaces"] = rot.Old.ID
	d["grace_seconds"] = strconv.Itoa(int(grace / time.Second))
	if rot.Old.ExpiresAt != nil {
		d["old_expires_at"] = rot.Old.ExpiresAt.UTC().Format(time.RFC3339)
	}
	h.recordAs(ctx, actor, orgID, audit.ActionKeyRotated, rot.New.ID, d)
	return rot, nil
}

func (h *Handler) keyAudit(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	entries := []audit.Entry{}
	var refused audit.Refused
	if h.opts.Audit != nil {
		got, err := h.opts.Audit.Latest(r.Context(), k.OrganizationID, k.ID)
		if err != nil {
			h.fail(w, r, fmt.Errorf("admin: read audit: %w", err))
			return
		}
		if got != nil {
			entries = got
		}
		if rr, ok := h.opts.Audit.(audit.RefusedReader); ok {
			if refused, err = rr.Refused(r.Context(), k.OrganizationID, k.ID); err != nil {
				h.fail(w, r, fmt.Errorf("admin: read refused requests: %w", err))
				return
			}
		}
	}
	gatehouse.WriteJSON(w, http.StatusOK, auditJSON{Data: entries, RateLimited: refused, RequestID: gatehouse.RequestIDFromContext(r.Context())})
}

// auditJSON is the answer of the key audit endpoint: the envelope of
// [gatehouse.WriteData] plus the count of the key's requests refused by the
// rate limit, which the entries leave out.
type auditJSON struct {
	Data        []audit.Entry `json:"data"`
	RateLimited audit.Refused `json:"rate_limited"`
	RequestID   string        `json:"request_id"`
}

func (h *Handler) orgEvents(w http.ResponseWriter, r *http.Request) {
	o, err := h.org(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events := []audit.Event{}
	if h.opts.Events != nil {
		got, err := h.opts.Events.List(r.Context(), o.ID)
		if err != nil {
			h.fail(w, r, fmt.Errorf("admin: read events: %w", err))
			return
		}
		if got != nil {
			events = got
		}
	}
	gatehouse.WriteData(w, r, http.StatusOK, events)
}

// keyDetails describes a key for the actions trail: never the key or hash.
func keyDetails(k auth.Key) map[string]string {
	d := map[string]string{
		"name":                  k.Name,
		"scopes":                strings.Join(k.Scopes.Strings(), " "),
		"rate_limit_per_minute": strconv.Itoa(k.RateLimitPerMinute),
	}
	if k.ExpiresAt != nil {
		d["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return d
}

// parseName validates a 1–80 character name (after trimming spaces).
func parseName(raw json.RawMessage, required bool, details *[]gatehouse.FieldError) (string, bool) {
	fail := func(msg string) (string, bool) {
		*details = append(*details, gatehouse.FieldError{Field: "name", Message: msg})
		return "", false
	}
	if raw == nil {
		if required {
			return fail("is required")
		}
		return "", false
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fail("must be a string")
	}
	if s == nil {
		return fail("is required")
	}
	name := strings.TrimSpace(*s)
	switch {
	case name == "":
		return fail("is required")
	case strings.IndexByte(name, 0) >= 0 || !utf8.ValidString(name):
		return fail("must not contain NUL bytes or invalid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return fail(fmt.Sprintf("must be at most %d characters", MaxNameLength))
	}
	return name, true
}

// parseScopes validates a non-empty list of known scopes.
func (h *Handler) parseScopes(raw json.RawMessage, required bool, details *[]gatehouse.FieldError) (scope.Set, bool) {
	fail := func(msg string) (scope.Set, bool) {
		*details = append(*details, gatehouse.FieldError{Field: "scopes", Message: msg})
		return scope.Set{}, false
	}
	if raw == nil {
		if required {
			return fail("is required")
		}
		return scope.Set{}, false
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil || ss == nil {
		return fail("must be an array of scopes")
	}
	if len(ss) == 0 {
		return fail("must hold at least one scope")
	}
	var unknown []string
	list := make([]scope.Scope, 0, len(ss))
	for _, s := range ss {
		sc := scope.Scope(s)
		if !h.known.Load().Has(sc) {
			unknown = append(unknown, s)
			continue
		}
		list = append(list, sc)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fail("unknown scopes: " + strings.Join(slices.Compact(unknown), ", "))
	}
	return scope.NewSet(list...), true
}

// parseLimit validates rate_limit_per_minute: an integer of at least 1,
// capped at the maximum.
func (h *Handler) parseLimit(raw json.RawMessage, details *[]gatehouse.FieldError) (int, bool) {
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if len(raw) == 0 || raw[0] == '"' || dec.Decode(&n) != nil {
		*details = append(*details, gatehouse.FieldError{Field: "rate_limit_per_minute", Message: "must be an integer"})
		return 0, false
	}
	v, err := n.Int64()
	if err != nil {
		*details = append(*details, gatehouse.FieldError{Field: "rate_limit_per_minute", Message: "must be an integer"})
		return 0, false
	}
	if v < 1 {
		*details = append(*details, gatehouse.FieldError{Field: "rate_limit_per_minute", Message: "must be at least 1"})
		return 0, false
	}
	if v > int64(h.opts.MaxRateLimitPerMinute) {
		v = int64(h.opts.MaxRateLimitPerMinute)
	}
	return int(v), true
}

// ParseExpiry parses an expiry: "YYYY-MM-DD" means valid through the end of
// that UTC day (the key expires at the next midnight UTC); otherwise RFC
// 3339. It returns an error for other text.
func ParseExpiry(s string) (time.Time, error) {
	if len(s) == len(time.DateOnly) {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, err
		}
		return checkYear(d.AddDate(0, 0, 1).UTC())
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return checkYear(t.UTC())
}

// checkYear refuses times after year 9999 (RFC 3339, and so JSON, cannot
// write them: "9999-12-31" would end at year 10000).
func checkYear(t time.Time) (time.Time, error) {
	if t.Year() > 9999 {
		return time.Time{}, errors.New("admin: expiry after year 9999")
	}
	return t, nil
}

// parseExpiry validates expires_at: null (no expiry), a date or an RFC 3339
// date-time, not in the past.
func parseExpiry(raw json.RawMessage, now time.Time, details *[]gatehouse.FieldError) (*time.Time, bool) {
	fail := func(msg string) (*time.Time, bool) {
		*details = append(*details, gatehouse.FieldError{Field: "expires_at", Message: msg})
		return nil, false
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fail("must be an ISO date or RFC 3339 date-time")
	}
	if s == nil {
		return nil, true
	}
	t, err := ParseExpiry(*s)
	if err != nil {
		return fail("must be an ISO date or RFC 3339 date-time")
	}
	if !t.After(now) {
		return fail("must be in the future")
	}
	return &t, true
}

// IssueKey creates a key in the organization orgID without going through
// HTTP (for provisioning scripts and demos), validated like the API: the
// name is trimmed and 1–80 characters, the scopes known and at least one,
// the limit at least 1 and capped (0 means the default), the expiry in the
// future. The raw key is returned once; only its hash is stored.
func (h *Handler) IssueKey(ctx context.Context, orgID, name string, scopes scope.Set, ratePerMinute int, expiresAt *time.Time) (auth.RawKey, auth.Key, error) {
	now := h.now()
	var details []gatehouse.FieldError
	nameJSON, _ := json.Marshal(name)
	name, _ = parseName(nameJSON, true, &details)
	if scopes.Len() == 0 {
		details = append(details, gatehouse.FieldError{Field: "scopes", Message: "must hold at least one scope"})
	} else if missing := h.known.Load().Missing(scopes.Scopes()...); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, m := range missing {
			names[i] = string(m)
		}
		details = append(details, gatehouse.FieldError{Field: "scopes", Message: "unknown scopes: " + strings.Join(names, ", ")})
	}
	switch {
	case ratePerMinute == 0:
		ratePerMinute = h.opts.DefaultRateLimitPerMinute
	case ratePerMinute < 0:
		details = append(details, gatehouse.FieldError{Field: "rate_limit_per_minute", Message: "must be at least 1"})
	case ratePerMinute > h.opts.MaxRateLimitPerMinute:
		ratePerMinute = h.opts.MaxRateLimitPerMinute
	}
	if expiresAt != nil && !expiresAt.After(now) {
		details = append(details, gatehouse.FieldError{Field: "expires_at", Message: "must be in the future"})
	}
	if len(details) > 0 {
		return "", auth.Key{}, gatehouse.InvalidFields(details...)
	}
	if _, err := h.opts.OrgIDType.Parse(orgID); err != nil {
		return "", auth.Key{}, err
	}
	if _, err := h.opts.Orgs.GetOrg(ctx, orgID); err != nil {
		return "", auth.Key{}, storeErr(err)
	}
	return h.issue(ctx, orgID, name, scopes, ratePerMinute, expiresAt, now)
}

// IssueKeyAs is [Handler.IssueKey] that also records the creation in the
// actions trail as done by actor (the key page uses it).
func (h *Handler) IssueKeyAs(ctx context.Context, actor, orgID, name string, scopes scope.Set, ratePerMinute int, expiresAt *time.Time) (auth.RawKey, auth.Key, error) {
	raw, k, err := h.IssueKey(ctx, orgID, name, scopes, ratePerMinute, expiresAt)
	if err != nil {
		return "", auth.Key{}, err
	}
	h.recordAs(ctx, actor, orgID, audit.ActionKeyCreated, k.ID, keyDetails(k))
	return raw, k, nil
}

// RevokeKeyAs revokes the organization's key without going through HTTP
// (the key page uses it), records it in the actions trail as done by actor
// (once: revoking a revoked key changes nothing) and tells caches. An
// unknown key is a 404 *gatehouse.Error.
func (h *Handler) RevokeKeyAs(ctx context.Context, actor, orgID, keyID string) (auth.Key, error) {
	k, err := h.opts.Keys.GetKey(ctx, orgID, keyID)
	if err != nil {
		return auth.Key{}, storeErr(err)
	}
	wasRevoked := k.Revoked()
	k, err = h.opts.Keys.RevokeKey(ctx, orgID, keyID, h.now())
	if err != nil {
		return auth.Key{}, storeErr(err)
	}
	h.changed(ctx, orgID, keyID)
	if !wasRevoked {
		h.recordAs(ctx, actor, orgID, audit.ActionKeyRevoked, k.ID, map[string]string{"name": k.Name})
	}
	return k, nil
}

// Limits returns the default and the cap of a key's rate limit per minute,
// as configured.
func (h *Handler) Limits() (def, max int) {
	return h.opts.DefaultRateLimitPerMinute, h.opts.MaxRateLimitPerMinute
}

// Scopes returns the scopes a key may be given, sorted.
func (h *Handler) Scopes() []scope.Scope { return h.known.Load().Scopes() }

// Keys returns the key store of the handler.
func (h *Handler) Keys() auth.KeyStore { return h.opts.Keys }

// Orgs returns the organization store of the handler.
func (h *Handler) Orgs() auth.OrgStore { return h.opts.Orgs }

// AuditLog returns the per-key audit log reader of the handler (nil when
// none is configured).
func (h *Handler) AuditLog() audit.Reader { return h.opts.Audit }

func (h *Handler) issue(ctx context.Context, orgID, name string, scopes scope.Set, limit int, expires *time.Time, now time.Time) (auth.RawKey, auth.Key, error) {
	raw, k, err := auth.NewKey(h.opts.KeyPrefix, h.opts.Env, auth.Key{
		OrganizationID: orgID, Name: name, Scopes: scopes, RateLimitPerMinute: limit,
		ExpiresAt: expires, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return "", auth.Key{}, fmt.Errorf("admin: generate key: %w", err)
	}
	if err := h.opts.Keys.CreateKey(ctx, k); err != nil {
		return "", auth.Key{}, fmt.Errorf("admin: create key: %w", err)
	}
	if h.opts.OnKeyCreated != nil {
		h.opts.OnKeyCreated(context.WithoutCancel(ctx), k)
	}
	return raw, k, nil
}

// Bounds of GET {prefix}/orgs.
const (
	DefaultOrgPage = 50
	MaxOrgPage     = 100
	maxOrgQuery    = 200
)

// orgPage is the list envelope of GET {prefix}/orgs.
type orgPage struct {
	Data       []orgJSON `json:"data"`
	HasMore    bool      `json:"has_more"`
	NextCursor *string   `json:"next_cursor"`
	RequestID  string    `json:"request_id"`
}

// encodeOrgCursor makes the opaque cursor that continues after o. The
// cursor is not signed: it only positions the operator's own listing.
func encodeOrgCursor(o auth.Org) string {
	return base64.RawURLEncoding.EncodeToString([]byte(o.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + o.ID))
}

func decodeOrgCursor(s string) (auth.Org, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return auth.Org{}, false
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" || !utf8.ValidString(id) {
		return auth.Org{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return auth.Org{}, false
	}
	return auth.Org{ID: id, CreatedAt: t}, true
}

// listOrgs serves GET {prefix}/orgs?q=&limit=&cursor=: organizations
// newest first, q matching part of the name (case-insensitive).
func (h *Handler) listOrgs(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	var bad []string
	for k := range qv {
		if k != "q" && k != "limit" && k != "cursor" {
			bad = append(bad, k)
		}
	}
	q := auth.OrgQuery{Limit: DefaultOrgPage}
	if v, ok := qv["q"]; ok {
		if len(v) != 1 || utf8.RuneCountInString(v[0]) > maxOrgQuery || !utf8.ValidString(v[0]) || strings.IndexByte(v[0], 0) >= 0 {
			bad = append(bad, "q")
		} else {
			q.Name = strings.TrimSpace(v[0])
		}
	}
	if v, ok := qv["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if len(v) != 1 || err != nil || n < 1 || n > MaxOrgPage {
			bad = append(bad, "limit")
		} else {
			q.Limit = n
		}
	}
	if v, ok := qv["cursor"]; ok {
		after, ok := decodeOrgCursor(v[0])
		if len(v) != 1 || !ok || !h.opts.OrgIDType.Valid(after.ID) {
			bad = append(bad, "cursor")
		} else {
			q.After = &after
		}
	}
	if len(bad) > 0 {
		h.fail(w, r, gatehouse.FieldsError(gatehouse.MsgInvalidQuery, bad...))
		return
	}
	limit := q.Limit
	q.Limit++ // one more tells whether a next page exists
	orgs, err := h.opts.Orgs.ListOrgs(r.Context(), q)
	if err != nil {
		h.fail(w, r, fmt.Errorf("admin: list orgs: %w", err))
		return
	}
	page := orgPage{Data: make([]orgJSON, 0, min(len(orgs), limit)), RequestID: gatehouse.RequestIDFromContext(r.Context())}
	if len(orgs) > limit {
		orgs = orgs[:limit]
		page.HasMore = true
		c := encodeOrgCursor(orgs[len(orgs)-1])
		page.NextCursor = &c
	}
	for _, o := range orgs {
		page.Data = append(page.Data, toOrgJSON(o))
	}
	gatehouse.WriteJSON(w, http.StatusOK, page)
}

// now is the time of a write: Options.Now in UTC, truncated to the
// microseconds both SQL stores keep, so that what a write answers equals
// what a later read answers.
func (h *Handler) now() time.Time { return h.opts.Now().UTC().Truncate(time.Microsecond) }
