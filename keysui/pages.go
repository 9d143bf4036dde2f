package keysui

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/scope"
)

// Grace periods offered by the rotate form.
var graceChoices = []struct {
	Value, Label string
}{
	{"0", "Now (the current key stops working at once)"},
	{"3600", "In 1 hour"},
	{"86400", "In 24 hours"},
	{"604800", "In 7 days"},
}

var funcs = template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	"ptr":  func(t time.Time) *time.Time { return &t },
	"field": func(d formData, name string) fieldRef {
		return fieldRef{Errors: d.Errors, Field: name}
	},
}

type fieldRef struct {
	Errors map[string]string
	Field  string
}

// ScopeGrid is the create form's grid: resources × read/create/update, and
// the other scopes (webhooks:manage, the host's own) as a list.
type ScopeGrid struct {
	// Actions are the columns: read, create, update.
	Actions []string
	// Rows are the resources.
	Rows []GridRow
	// Other are the scopes outside the grid, e.g. webhooks:manage.
	Other []string
}

// GridRow is one resource of a [ScopeGrid].
type GridRow struct {
	Resource string
	// Cells hold the scope of each action, "" when it does not exist.
	Cells []string
}

var gridActions = []string{"read", "create", "update"}

func newScopeGrid(all []scope.Scope) ScopeGrid {
	g := ScopeGrid{Actions: gridActions}
	rows := map[string]*GridRow{}
	var order []string
	for _, s := range all {
		res, act, _ := strings.Cut(string(s), ":")
		i := slices.Index(gridActions, act)
		if i < 0 {
			g.Other = append(g.Other, string(s))
			continue
		}
		row, ok := rows[res]
		if !ok {
			row = &GridRow{Resource: res, Cells: make([]string, len(gridActions))}
			rows[res] = row
			order = append(order, res)
		}
		row.Cells[i] = string(s)
	}
	for _, res := range order {
		g.Rows = append(g.Rows, *rows[res])
	}
	return g
}

// keyView is a key as the list and detail pages show it.
type keyView struct {
	auth.Key
	Status, StatusClass  string
	IsRevoked, IsRotated bool
}

func (h *Handler) view(k auth.Key, now time.Time) keyView {
	v := keyView{Key: k, IsRevoked: k.Revoked(), IsRotated: k.Rotated()}
	switch {
	case k.Revoked():
		v.Status, v.StatusClass = "Revoked", "revoked"
	case k.Expired(now):
		v.Status, v.StatusClass = "Expired", "expired"
	case k.ExpiresAt != nil && k.ExpiresAt.Sub(now) <= h.opts.ExpiringSoon:
		v.Status, v.StatusClass = "Expiring soon", "expiring"
	default:
		v.Status, v.StatusClass = "Active", "active"
	}
	return v
}

// viewer returns the organization and actor of the request, or answers
// 404 (no session for this page) or the disabled explanation.
func (h *Handler) viewer(w http.ResponseWriter, r *http.Request) (org, actor string, ok bool) {
	org, actor, ok = h.opts.Viewer(r)
	if !ok || org == "" {
		h.message(w, r, http.StatusNotFound, "Not found", "There is no such page.")
		return "", "", false
	}
	on, err := h.Visible(r.Context(), org)
	if err != nil {
		h.internal(w, r, fmt.Errorf("keysui: API enabled: %w", err))
		return "", "", false
	}
	if !on {
		h.render(w, r, http.StatusForbidden, h.opts.Title, "disabled", messageData{H: h, Heading: h.opts.Title, Detail: h.opts.DisabledText})
		return "", "", false
	}
	return org, actor, true
}

// key returns the organization's key of the path, or answers 404.
func (h *Handler) key(w http.ResponseWriter, r *http.Request, org string) (auth.Key, bool) {
	id := r.PathValue("id")
	if !uuid.Valid(id) {
		h.message(w, r, http.StatusNotFound, "Not found", "There is no such key.")
		return auth.Key{}, false
	}
	k, err := h.opts.Admin.Keys().GetKey(r.Context(), org, id)
	if errors.Is(err, auth.ErrNotFound) {
		h.message(w, r, http.StatusNotFound, "Not found", "There is no such key.")
		return auth.Key{}, false
	}
	if err != nil {
		h.internal(w, r, fmt.Errorf("keysui: get key: %w", err))
		return auth.Key{}, false
	}
	return k, true
}

type listData struct {
	H      *Handler
	Keys   []keyView
	Notice string
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	org, _, ok := h.viewer(w, r)
	if !ok {
		return
	}
	keys, err := h.opts.Admin.Keys().ListKeys(r.Context(), org)
	if err != nil {
		h.internal(w, r, fmt.Errorf("keysui: list keys: %w", err))
		return
	}
	now := h.opts.Now()
	d := listData{H: h}
	for _, k := range keys {
		d.Keys = append(d.Keys, h.view(k, now))
	}
	switch r.URL.Query().Get("done") {
	case "revoked":
		d.Notice = "The key was revoked. Requests with it now get 401."
	}
	h.render(w, r, http.StatusOK, h.opts.Title, "list", d)
}

// formData is the create form: values as typed, errors by field.
type formData struct {
	H        *Handler
	Token    string
	Name     string
	Scopes   map[string]bool
	Limit    string
	Expires  string
	Errors   map[string]string
	DefLimit int
	MaxLimit int
}

func (h *Handler) newFormData(token string) formData {
	def, max := h.opts.Admin.Limits()
	return formData{H: h, Token: token, Scopes: map[string]bool{}, Limit: strconv.Itoa(def), Errors: map[string]string{}, DefLimit: def, MaxLimit: max}
}

func (h *Handler) newForm(w http.ResponseWriter, r *http.Request) {
	org, _, ok := h.viewer(w, r)
	if !ok {
		return
	}
	h.renderForm(w, r, org, http.StatusOK, h.newFormData(""))
}

// renderForm shows the create form with a fresh one-time token unless d
// carries one still unused.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, org string, status int, d formData) {
	if d.Token == "" {
		d.Token = newToken()
		if err := h.opts.Tokens.Issue(r.Context(), org, d.Token, h.opts.Now().Add(h.opts.TokenTTL)); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	h.render(w, r, status, "Create an API key", "new", d)
}

// parseExpiry accepts a date (valid through that UTC day), an RFC 3339
// date-time, or a date-time without zone ("2026-12-31T18:00", UTC).
func parseExpiry(s string) (time.Time, error) {
	if t, err := admin.ParseExpiry(s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil && t.Year() <= 9999 {
			return t, nil
		}
	}
	return time.Time{}, errors.New("keysui: bad expiry")
}

type shownData struct {
	H       *Handler
	Key     keyView
	Raw     string
	Rotated *keyView
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	org, actor, ok := h.viewer(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	d := h.newFormData(r.PostForm.Get("form_token"))
	d.Name = r.PostForm.Get("name")
	d.Limit = strings.TrimSpace(r.PostForm.Get("rate_limit_per_minute"))
	d.Expires = strings.TrimSpace(r.PostForm.Get("expires_at"))
	var list []scope.Scope
	for _, s := range r.PostForm["scopes"] {
		d.Scopes[s] = true
		list = append(list, scope.Scope(s))
	}
	name := strings.TrimSpace(d.Name)
	if name == "" {
		d.Errors["name"] = "Enter a name."
	} else if utf8.RuneCountInString(name) > admin.MaxNameLength {
		d.Errors["name"] = fmt.Sprintf("Use at most %d characters.", admin.MaxNameLength)
	}
	limit, err := strconv.Atoi(d.Limit)
	switch {
	case d.Limit == "":
		limit = d.DefLimit
	case err != nil:
		d.Errors["rate_limit_per_minute"] = "Enter a whole number."
	case limit < 1 || limit > d.MaxLimit:
		d.Errors["rate_limit_per_minute"] = fmt.Sprintf("Enter a number from 1 to %d.", d.MaxLimit)
	}
	var expires *time.Time
	if d.Expires != "" {
		t, err := parseExpiry(d.Expires)
		switch {
		case err != nil:
			d.Errors["expires_at"] = "Enter a date (2026-12-31) or a date and time (2026-12-31T18:00Z)."
		case !t.After(h.opts.Now()):
			d.Errors["expires_at"] = "Choose a time in the future."
		default:
			expires = &t
		}
	}
	if len(list) == 0 {
		d.Errors["scopes"] = "Choose at least one permission."
	}
	if d.Token == "" {
		h.renderForm(w, r, org, http.StatusBadRequest, d)
		return
	}
	if len(d.Errors) > 0 {
		h.renderForm(w, r, org, http.StatusBadRequest, d)
		return
	}
	// The token is claimed before the key exists: of two posts of one
	// form, only one creates a key.
	if err := h.opts.Tokens.Claim(r.Context(), org, d.Token, h.opts.Now()); err != nil {
		switch {
		case errors.Is(err, ErrTokenUsed):
			h.message(w, r, http.StatusConflict, "Already created",
				"This form was already sent: the key was created and shown once. It cannot be shown again. If you did not copy it, revoke it and create a new one.")
		case errors.Is(err, ErrTokenUnknown):
			d.Token = ""
			d.Errors["form"] = "This form has expired. Check the values and send it again."
			h.renderForm(w, r, org, http.StatusBadRequest, d)
		default:
			h.internal(w, r, err)
		}
		return
	}
	raw, k, err := h.opts.Admin.IssueKeyAs(r.Context(), actor, org, name, scope.NewSet(list...), limit, expires)
	if err != nil {
		if rerr := h.opts.Tokens.Release(r.Context(), org, d.Token); rerr != nil {
			h.opts.Logger.ErrorContext(r.Context(), "keysui: release form token", "err", rerr)
		}
		var ge *gatehouse.Error
		if errors.As(err, &ge) && ge.Status == http.StatusBadRequest {
			if details, ok := ge.Extra["details"].([]gatehouse.FieldError); ok {
				for _, fe := range details {
					d.Errors[fe.Field] = fe.Message
				}
				h.renderForm(w, r, org, http.StatusBadRequest, d)
				return
			}
		}
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusCreated, "API key created", "shown", shownData{H: h, Key: h.view(k, h.opts.Now()), Raw: raw.Reveal()})
}

type detailData struct {
	H        *Handler
	Key      keyView
	Activity []audit.Entry
	Graces   any
	Error    string
}

func (h *Handler) detail(w http.ResponseWriter, r *http.Request) {
	org, _, ok := h.viewer(w, r)
	if !ok {
		return
	}
	k, ok := h.key(w, r, org)
	if !ok {
		return
	}
	d := detailData{H: h, Key: h.view(k, h.opts.Now()), Graces: graceChoices}
	if log := h.opts.Admin.AuditLog(); log != nil {
		entries, err := log.Latest(r.Context(), org, k.ID)
		if err != nil {
			h.internal(w, r, fmt.Errorf("keysui: activity: %w", err))
			return
		}
		d.Activity = entries[:min(len(entries), 50)]
	}
	h.render(w, r, http.StatusOK, k.Name, "detail", d)
}

func (h *Handler) revokeForm(w http.ResponseWriter, r *http.Request) {
	org, _, ok := h.viewer(w, r)
	if !ok {
		return
	}
	k, ok := h.key(w, r, org)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "Revoke "+k.Name, "revoke", detailData{H: h, Key: h.view(k, h.opts.Now())})
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	org, actor, ok := h.viewer(w, r)
	if !ok {
		return
	}
	k, ok := h.key(w, r, org)
	if !ok {
		return
	}
	if _, err := h.opts.Admin.RevokeKeyAs(r.Context(), actor, org, k.ID); err != nil {
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, h.Path()+"?done=revoked", http.StatusSeeOther)
}

func (h *Handler) rotateForm(w http.ResponseWriter, r *http.Request) {
	org, _, ok := h.viewer(w, r)
	if !ok {
		return
	}
	k, ok := h.key(w, r, org)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "Rotate "+k.Name, "rotate", detailData{H: h, Key: h.view(k, h.opts.Now()), Graces: graceChoices})
}

func (h *Handler) rotate(w http.ResponseWriter, r *http.Request) {
	org, actor, ok := h.viewer(w, r)
	if !ok {
		return
	}
	k, ok := h.key(w, r, org)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	// Only the offered choices; the admin API takes any 0–604800.
	g := r.PostForm.Get("grace_seconds")
	offered := slices.ContainsFunc(graceChoices, func(c struct{ Value, Label string }) bool { return c.Value == g })
	secs, err := strconv.Atoi(g)
	if !offered || err != nil {
		h.render(w, r, http.StatusBadRequest, "Rotate "+k.Name, "rotate",
			detailData{H: h, Key: h.view(k, h.opts.Now()), Graces: graceChoices, Error: "Choose when the current key stops working."})
		return
	}
	rot, err := h.opts.Admin.RotateKeyAs(r.Context(), actor, org, k.ID, time.Duration(secs)*time.Second)
	if err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) && ge.Status == http.StatusConflict {
			detail := "This key cannot be rotated: " + strings.ToLower(ge.Msg[:1]) + ge.Msg[1:] + "."
			if ge.Msg == admin.MsgKeyRotated {
				detail = "This key was already rotated: the new key was shown once and cannot be shown again."
			}
			h.message(w, r, http.StatusConflict, "Not rotated", detail)
			return
		}
		h.internal(w, r, err)
		return
	}
	now := h.opts.Now()
	old := h.view(rot.Old, now)
	h.render(w, r, http.StatusCreated, "API key rotated", "shown", shownData{H: h, Key: h.view(rot.New, now), Raw: rot.Raw.Reveal(), Rotated: &old})
}
