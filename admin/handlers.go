package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	Key                string     `json:"key,omitempty"`
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
	}
}

var errNotFound = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)

// storeErr maps store sentinels to API errors.
func storeErr(err error) error {
	if errors.Is(err, auth.ErrNotFound) {
		return errNotFound.Wrap(err)
	}
	return err
}

// orgID returns the organization of the path, checking it exists.
func (h *Handler) org(r *http.Request) (auth.Org, error) {
	id := r.PathValue("org_id")
	if !uuid.Valid(id) {
		return auth.Org{}, errNotFound
	}
	o, err := h.opts.Orgs.GetOrg(r.Context(), id)
	return o, storeErr(err)
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
	m, err := h.body(w, r, "name")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var details []gatehouse.FieldError
	name, ok := parseName(m["name"], true, &details)
	if !ok {
		h.fail(w, r, gatehouse.InvalidFields(details...))
		return
	}
	now := h.opts.Now().UTC()
	o, err := h.opts.Orgs.CreateOrg(r.Context(), auth.Org{ID: uuid.New(), Name: name, CreatedAt: now, UpdatedAt: now})
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
	o, err = h.opts.Orgs.SetAPIEnabled(r.Context(), o.ID, on, h.opts.Now().UTC())
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
	now := h.opts.Now().UTC()
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
	now := h.opts.Now().UTC()
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
	wasRevoked := k.Revoked()
	k, err = h.opts.Keys.RevokeKey(r.Context(), k.OrganizationID, k.ID, h.opts.Now().UTC())
	if err != nil {
		h.fail(w, r, storeErr(err))
		return
	}
	h.changed(r.Context(), k.OrganizationID, k.ID)
	if !wasRevoked {
		h.record(r, k.OrganizationID, audit.ActionKeyRevoked, k.ID, map[string]string{"name": k.Name})
	}
	gatehouse.WriteData(w, r, http.StatusOK, toKeyJSON(k))
}

func (h *Handler) keyAudit(w http.ResponseWriter, r *http.Request) {
	k, err := h.key(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	entries := []audit.Entry{}
	if h.opts.Audit != nil {
		got, err := h.opts.Audit.Latest(r.Context(), k.OrganizationID, k.ID)
		if err != nil {
			h.fail(w, r, fmt.Errorf("admin: read audit: %w", err))
			return
		}
		if got != nil {
			entries = got
		}
	}
	gatehouse.WriteData(w, r, http.StatusOK, entries)
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
		if !h.known.Has(sc) {
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
		return d.AddDate(0, 0, 1).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
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
	now := h.opts.Now().UTC()
	var details []gatehouse.FieldError
	nameJSON, _ := json.Marshal(name)
	name, _ = parseName(nameJSON, true, &details)
	if scopes.Len() == 0 {
		details = append(details, gatehouse.FieldError{Field: "scopes", Message: "must hold at least one scope"})
	} else if missing := h.known.Missing(scopes.Scopes()...); len(missing) > 0 {
		details = append(details, gatehouse.FieldError{Field: "scopes", Message: fmt.Sprintf("unknown scopes: %v", missing)})
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
	if _, err := h.opts.Orgs.GetOrg(ctx, orgID); err != nil {
		return "", auth.Key{}, storeErr(err)
	}
	return h.issue(ctx, orgID, name, scopes, ratePerMinute, expiresAt, now)
}

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
	return raw, k, nil
}
