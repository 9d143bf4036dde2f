package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

var errNotFound = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)

// endpointJSON is an endpoint as both APIs return it. Secret is set only in
// the responses of create and rotate-secret.
type endpointJSON struct {
	ID                      string     `json:"id"`
	OrganizationID          string     `json:"organization_id"`
	APIKeyID                *string    `json:"api_key_id"`
	TargetURL               string     `json:"target_url"`
	Events                  []string   `json:"events"`
	Description             string     `json:"description"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          *string    `json:"disabled_reason"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	LastSuccessAt           *time.Time `json:"last_success_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	Secret                  string     `json:"secret,omitempty"`
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toJSON(ep Endpoint) endpointJSON {
	return endpointJSON{
		ID: ep.ID, OrganizationID: ep.OrganizationID, APIKeyID: nonEmpty(ep.KeyID), TargetURL: ep.URL,
		Events: ep.Events, Description: ep.Description, Enabled: ep.Enabled,
		DisabledReason: nonEmpty(ep.DisabledReason), PreviousSecretExpiresAt: ep.PreviousSecretExpiresAt,
		LastSuccessAt: ep.LastSuccessAt, CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt,
	}
}

// apiError maps the service's errors to API errors.
func apiError(err error) error {
	if errors.Is(err, ErrNotFound) {
		return errNotFound.Wrap(err)
	}
	return err
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	gatehouse.WriteError(w, r, s.logger, apiError(err))
}

// body reads a JSON object and refuses members outside allowed.
func (s *Service) body(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	return gatehouse.ReadFields(w, r, s.maxBody, allowed...)
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// fields decodes the members of an endpoint body. Type errors go to v.
type fields struct {
	url         *string
	events      []string
	description *string
	enabled     *bool
}

func decodeFields(m map[string]json.RawMessage, create bool, v *invalid) fields {
	var f fields
	if raw, ok := m["target_url"]; ok {
		var u string
		if isNull(raw) || json.Unmarshal(raw, &u) != nil {
			v.add("target_url", "must be a string")
		} else {
			f.url = &u
		}
	} else if create {
		v.add("target_url", msgRequired)
	}
	if raw, ok := m["events"]; ok {
		var list []string
		if isNull(raw) || json.Unmarshal(raw, &list) != nil {
			v.add("events", "must be an array of strings")
		} else {
			if list == nil {
				list = []string{}
			}
			f.events = list
		}
	} else if create {
		v.add("events", msgRequired)
	}
	if raw, ok := m["description"]; ok {
		var d string
		switch {
		case isNull(raw):
			f.description = &d
		case json.Unmarshal(raw, &d) != nil:
			v.add("description", "must be a string or null")
		default:
			f.description = &d
		}
	}
	if raw, ok := m["enabled"]; ok {
		var b bool
		if isNull(raw) || json.Unmarshal(raw, &b) != nil {
			v.add("enabled", "must be a boolean")
		} else {
			f.enabled = &b
		}
	}
	return f
}

// Routes returns the public API operations, to pass in
// resource.Options.Routes so they share the registry's router, its
// authentication chain and its JSON 404/405 answers:
//
//	POST   /v1/webhooks       subscribe {"target_url","events","description"} → 201, the secret shown once
//	GET    /v1/webhooks       the caller's key's subscriptions
//	GET    /v1/webhooks/{id}
//	PATCH  /v1/webhooks/{id}  {"target_url","events","description","enabled"}, any subset
//	DELETE /v1/webhooks/{id}  unsubscribe → 204
//
// Each requires the manage scope (default webhooks:manage). A subscription
// belongs to the API key that made it (the request's gatehouse.Caller, or
// Options.Caller): other keys, even of the same organization, get 404.
// Subscribing to a type needs its read scope (403 Missing scope otherwise);
// "*" stands for the types the key can read. It is an error to call Routes
// without Options.KeyCheck (deliveries re-check the owning key).
func (s *Service) Routes() ([]resource.Route, error) {
	if s.keyCheck == nil {
		return nil, errors.New("webhook: Routes needs Options.KeyCheck")
	}
	col, item := s.prefix+"/webhooks", s.prefix+"/webhooks/{id}"
	d := s.routeDocs()
	return []resource.Route{
		{Method: http.MethodPost, Path: col, Scope: s.manage, Summary: "Subscribe a URL to events (REST Hooks); the signing secret is shown once", Handler: http.HandlerFunc(s.publicCreate), Doc: d.create},
		{Method: http.MethodGet, Path: col, Scope: s.manage, Summary: "List this API key's webhook subscriptions", Handler: http.HandlerFunc(s.publicList), Doc: d.list},
		{Method: http.MethodGet, Path: item, Scope: s.manage, Summary: "Get a webhook subscription", Handler: http.HandlerFunc(s.publicGet), Doc: d.get},
		{Method: http.MethodPatch, Path: item, Scope: s.manage, Summary: "Change a webhook subscription", Handler: http.HandlerFunc(s.publicPatch), Doc: d.patch},
		{Method: http.MethodDelete, Path: item, Scope: s.manage, Summary: "Unsubscribe (REST Hooks)", Handler: http.HandlerFunc(s.publicDelete), Doc: d.delete},
	}, nil
}

// publicDocs documents the public routes for generated API descriptions
// (resource.RouteDoc, package resource/openapi).
type publicDocs struct {
	create, list, get, patch, delete *resource.RouteDoc
}

// schemaJSON encodes a JSON Schema written as Go values.
func schemaJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil // only maps, slices and strings below: never happens
	}
	return b
}

type jsonObj = map[string]any

// routeDocs describes the public routes: the endpoint as returned (with
// the secret in the answer to a create), the bodies and the errors.
func (s *Service) routeDocs() publicDocs {
	types := []any{Wildcard}
	for _, t := range s.types {
		types = append(types, t.Name)
	}
	events := jsonObj{"type": "array", "minItems": 1, "maxItems": maxEvents, "items": jsonObj{"type": "string", "enum": types},
		"description": "Event types (<singular>.created, <singular>.updated) or \"*\" for every type the API key may read; subscribing to a type needs its read scope."}
	targetURL := jsonObj{"type": "string", "format": "uri", "maxLength": maxURLLength,
		"description": "The https URL receiving the events as POSTs signed per Standard Webhooks; it must resolve to public addresses only."}
	description := jsonObj{"type": []string{"string", "null"}, "maxLength": maxDescription, "description": "Free text; null means empty."}
	dateTime := jsonObj{"type": "string", "format": "date-time"}
	nullDateTime := jsonObj{"type": []string{"string", "null"}, "format": "date-time"}
	endpoint := func(secret bool) json.RawMessage {
		props := jsonObj{
			"id":                         jsonObj{"type": "string", "format": "uuid"},
			"organization_id":            jsonObj{"type": "string"},
			"api_key_id":                 jsonObj{"type": []string{"string", "null"}, "format": "uuid", "description": "The API key the subscription belongs to; null when made through the admin API."},
			"target_url":                 jsonObj{"type": "string"},
			"events":                     jsonObj{"type": "array", "items": jsonObj{"type": "string"}},
			"description":                jsonObj{"type": "string"},
			"enabled":                    jsonObj{"type": "boolean"},
			"disabled_reason":            jsonObj{"type": []string{"string", "null"}, "description": "Why the endpoint is disabled (e.g. repeated delivery failures); null when enabled."},
			"previous_secret_expires_at": jsonObj{"type": []string{"string", "null"}, "format": "date-time", "description": "Until when the secret replaced by the last rotation still signs."},
			"last_success_at":            nullDateTime,
			"created_at":                 dateTime,
			"updated_at":                 dateTime,
		}
		required := []string{"id", "organization_id", "api_key_id", "target_url", "events", "description", "enabled",
			"disabled_reason", "previous_secret_expires_at", "last_success_at", "created_at", "updated_at"}
		desc := "A webhook subscription."
		if secret {
			props["secret"] = jsonObj{"type": "string", "pattern": "^whsec_", "description": "The signing secret, shown only in this answer."}
			required = append(required, "secret")
			desc = "A new webhook subscription with its signing secret, shown only once."
		}
		return schemaJSON(jsonObj{"type": "object", "additionalProperties": false, "required": required, "properties": props, "description": desc})
	}
	components := map[string]json.RawMessage{
		"WebhookEndpoint":           endpoint(false),
		"WebhookEndpointWithSecret": endpoint(true),
	}
	ref := func(name string) json.RawMessage { return schemaJSON(jsonObj{"$ref": "#/components/schemas/" + name}) }
	id := []resource.ParamDoc{{Name: "id", Description: "The subscription's id.", Schema: schemaJSON(jsonObj{"type": "string", "format": "uuid"})}}
	notFound := resource.ErrorDoc{Message: gatehouse.MsgNotFound}
	bodyErrs := []resource.ErrorDoc{
		{Message: gatehouse.MsgInvalidJSON}, {Message: gatehouse.MsgUnsupportedFields}, {Message: gatehouse.MsgInvalidFieldValues},
		{Message: gatehouse.MsgMissingScope},
	}
	const tag = "webhooks"
	return publicDocs{
		create: &resource.RouteDoc{
			OperationID: "createWebhook", Tag: tag, Components: components,
			Description: "Subscribes target_url to the event types (REST Hooks subscribe). The subscription belongs to the calling API key.",
			Body: schemaJSON(jsonObj{"type": "object", "additionalProperties": false, "required": []string{"target_url", "events"},
				"properties": jsonObj{"target_url": targetURL, "events": events, "description": description}}),
			Responses: []resource.ResponseDoc{{Status: http.StatusCreated, Description: "The subscription with its signing secret.",
				Data:    ref("WebhookEndpointWithSecret"),
				Headers: []resource.HeaderDoc{{Name: "Location", Description: "The path of the subscription.", Required: true}}}},
			Errors: append(slices.Clone(bodyErrs), resource.ErrorDoc{Status: http.StatusBadRequest, Message: MsgTooManyEndpoints,
				Extra: map[string]json.RawMessage{"limit": schemaJSON(jsonObj{"type": "integer", "description": "The most endpoints an organization may have."})}}),
		},
		list: &resource.RouteDoc{
			OperationID: "listWebhooks", Tag: tag, Components: components,
			Responses: []resource.ResponseDoc{{Status: http.StatusOK, Description: "The calling API key's subscriptions.",
				Data: schemaJSON(jsonObj{"type": "array", "items": jsonObj{"$ref": "#/components/schemas/WebhookEndpoint"}})}},
		},
		get: &resource.RouteDoc{
			OperationID: "getWebhook", Tag: tag, Components: components, Path: id,
			Responses: []resource.ResponseDoc{{Status: http.StatusOK, Description: "The subscription.", Data: ref("WebhookEndpoint")}},
			Errors:    []resource.ErrorDoc{notFound},
		},
		patch: &resource.RouteDoc{
			OperationID: "updateWebhook", Tag: tag, Components: components, Path: id,
			Description: "Changes any subset of target_url, events, description and enabled.",
			Body: schemaJSON(jsonObj{"type": "object", "additionalProperties": false, "minProperties": 1,
				"properties": jsonObj{"target_url": targetURL, "events": events, "description": description, "enabled": jsonObj{"type": "boolean"}}}),
			Responses: []resource.ResponseDoc{{Status: http.StatusOK, Description: "The changed subscription.", Data: ref("WebhookEndpoint")}},
			Errors:    append(slices.Clone(bodyErrs), resource.ErrorDoc{Message: gatehouse.MsgNoFieldsToUpdate}, notFound),
		},
		delete: &resource.RouteDoc{
			OperationID: "deleteWebhook", Tag: tag, Path: id,
			Description: "Deletes the subscription (REST Hooks unsubscribe).",
			Responses:   []resource.ResponseDoc{{Status: http.StatusNoContent, Description: "Unsubscribed."}},
			Errors:      []resource.ErrorDoc{notFound},
		},
	}
}

// principal returns the calling key, its organization and its scopes, or
// the 403 of a caller without the manage scope.
func (s *Service) principal(r *http.Request) (keyID, orgID string, granted scope.Set, err error) {
	denied := gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", string(s.manage))
	granted, ok := scope.FromContext(r.Context())
	if !ok || !granted.Has(s.manage) {
		return "", "", scope.Set{}, denied
	}
	keyID, orgID, ok = s.caller(r)
	if !ok || keyID == "" || orgID == "" {
		return "", "", scope.Set{}, denied
	}
	return keyID, orgID, granted, nil
}

func (s *Service) publicCreate(w http.ResponseWriter, r *http.Request) {
	keyID, orgID, granted, err := s.principal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.body(w, r, "target_url", "events", "description")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var dec invalid
	f := decodeFields(m, true, &dec)
	in := EndpointInput{Events: f.events, KeyID: keyID}
	if f.url != nil {
		in.URL = *f.url
	}
	if f.description != nil {
		in.Description = *f.description
	}
	if len(dec) > 0 {
		s.fail(w, r, dec.err())
		return
	}
	ep, secret, err := s.create(r.Context(), orgID, in, &granted)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toJSON(ep)
	out.Secret = secret.Reveal()
	w.Header().Set("Location", s.public+s.prefix+"/webhooks/"+ep.ID)
	w.Header().Set("Cache-Control", "no-store") // the secret, once
	gatehouse.WriteData(w, r, http.StatusCreated, out)
}

func (s *Service) publicList(w http.ResponseWriter, r *http.Request) {
	keyID, orgID, _, err := s.principal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	eps, err := s.Endpoints(r.Context(), orgID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []endpointJSON{}
	for _, ep := range eps {
		if ep.KeyID == keyID {
			out = append(out, toJSON(ep))
		}
	}
	gatehouse.WriteData(w, r, http.StatusOK, out)
}

// owned returns the caller's endpoint of the path.
func (s *Service) owned(ctx context.Context, keyID, orgID, id string) (Endpoint, error) {
	ep, err := s.Endpoint(ctx, orgID, id)
	if err != nil {
		return Endpoint{}, err
	}
	if ep.KeyID != keyID {
		return Endpoint{}, ErrNotFound
	}
	return ep, nil
}

func (s *Service) publicGet(w http.ResponseWriter, r *http.Request) {
	keyID, orgID, _, err := s.principal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ep, err := s.owned(r.Context(), keyID, orgID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toJSON(ep))
}

var errNoFields = gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgNoFieldsToUpdate)

func (s *Service) publicPatch(w http.ResponseWriter, r *http.Request) {
	keyID, orgID, granted, err := s.principal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.owned(r.Context(), keyID, orgID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.patch(w, r, orgID, keyID, &granted)
}

// patch serves a PATCH of either API; owner and granted are set for the
// public one.
func (s *Service) patch(w http.ResponseWriter, r *http.Request, orgID, owner string, granted *scope.Set) {
	m, err := s.body(w, r, "target_url", "events", "description", "enabled")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(m) == 0 {
		s.fail(w, r, errNoFields)
		return
	}
	var dec invalid
	f := decodeFields(m, false, &dec)
	if len(dec) > 0 {
		s.fail(w, r, dec.err())
		return
	}
	ep, err := s.update(r.Context(), orgID, r.PathValue("id"), EndpointUpdate{
		URL: f.url, Events: f.events, Description: f.description, Enabled: f.enabled,
	}, granted, owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toJSON(ep))
}

func (s *Service) publicDelete(w http.ResponseWriter, r *http.Request) {
	keyID, orgID, _, err := s.principal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.delete(r.Context(), orgID, r.PathValue("id"), keyID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// AdminOptions configures [Service.AdminHandler].
type AdminOptions struct {
	// Authorize decides whether a request may use the admin API; a
	// non-nil error is written with gatehouse.WriteError (use a
	// *gatehouse.Error with status 401 or 403). Required.
	Authorize func(r *http.Request) error
	// Prefix is where the admin API is mounted: default "/admin".
	Prefix string
	// OrgExists, when set, makes an unknown organization a 404; without
	// it an unknown organization simply has no endpoints.
	OrgExists func(ctx context.Context, orgID string) (bool, error)
	// OrgIDType is the type of organization ids, as the admin package's
	// Options.OrgIDType: empty means tenancy.OrgIDUUID. Another id is 400
	// "Invalid organization id".
	OrgIDType tenancy.OrgIDType
}

// adminHandler serves the admin webhook routes.
type adminHandler struct {
	s    *Service
	opts AdminOptions
	mux  *http.ServeMux
}

// AdminHandler returns the admin API of an organization's endpoints, in the
// admin API's envelopes and error shapes:
//
//	GET, POST           /admin/orgs/{org_id}/webhooks       list; create {"target_url","events","description","enabled"} → 201 with the secret
//	GET, PATCH, DELETE  /admin/orgs/{org_id}/webhooks/{id}
//	GET                 /admin/orgs/{org_id}/webhooks/{id}/deliveries     the delivery log, newest first (?limit=1..100, default 50)
//	POST                /admin/orgs/{org_id}/webhooks/{id}/rotate-secret  {"grace_period_seconds"} optional → the new secret, once
//
// Admin endpoints belong to the organization, not to a key, and are not
// limited by scopes. Mount it for "<prefix>/orgs/{org_id}/webhooks" and
// "<prefix>/orgs/{org_id}/webhooks/" next to the admin package's handler.
func (s *Service) AdminHandler(opts AdminOptions) (http.Handler, error) {
	if opts.Authorize == nil {
		return nil, errors.New("webhook: AdminOptions.Authorize is required")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/admin"
	}
	if len(opts.Prefix) < 2 || opts.Prefix[0] != '/' || opts.Prefix[len(opts.Prefix)-1] == '/' {
		return nil, errors.New("webhook: AdminOptions.Prefix must start and not end with /")
	}
	if err := opts.OrgIDType.Check(); err != nil {
		return nil, err // "tenancy: unknown OrgIDType …"
	}
	h := &adminHandler{s: s, opts: opts, mux: http.NewServeMux()}
	base := opts.Prefix + "/orgs/{org_id}/webhooks"
	type route struct {
		method string
		fn     http.HandlerFunc
	}
	table := []struct {
		path   string
		routes []route
	}{
		{base, []route{{http.MethodGet, h.list}, {http.MethodPost, h.create}}},
		{base + "/{id}", []route{{http.MethodGet, h.get}, {http.MethodPatch, h.patch}, {http.MethodDelete, h.delete}}},
		{base + "/{id}/deliveries", []route{{http.MethodGet, h.deliveries}}},
		{base + "/{id}/rotate-secret", []route{{http.MethodPost, h.rotate}}},
	}
	for _, e := range table {
		var allow []string
		for _, rt := range e.routes {
			h.mux.HandleFunc(rt.method+" "+e.path, rt.fn)
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		slices.Sort(allow)
		notAllowed := gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).
			WithHeader("Allow", strings.Join(allow, ", "))
		h.mux.HandleFunc(e.path, func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, notAllowed) })
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errNotFound) })
	return h, nil
}

// ServeHTTP authorizes the request and routes it.
func (h *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.opts.Authorize(r); err != nil {
		h.s.fail(w, r, err)
		return
	}
	if !gatehouse.CleanPath(r.URL.EscapedPath()) {
		h.s.fail(w, r, errNotFound) // not ServeMux's redirect
		return
	}
	gatehouse.RecordRoute(h.mux).ServeHTTP(w, r)
}

// org returns the organization of the path, checked with OrgExists.
func (h *adminHandler) org(r *http.Request) (string, error) {
	id, err := h.opts.OrgIDType.Parse(r.PathValue("org_id"))
	if err != nil {
		return "", err
	}
	if h.opts.OrgExists != nil {
		ok, err := h.opts.OrgExists(r.Context(), id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", errNotFound
		}
	}
	return id, nil
}

func (h *adminHandler) list(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	eps, err := h.s.Endpoints(r.Context(), orgID)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	out := make([]endpointJSON, 0, len(eps))
	for _, ep := range eps {
		out = append(out, toJSON(ep))
	}
	gatehouse.WriteData(w, r, http.StatusOK, out)
}

func (h *adminHandler) create(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	m, err := h.s.body(w, r, "target_url", "events", "description", "enabled")
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	var dec invalid
	f := decodeFields(m, true, &dec)
	if len(dec) > 0 {
		h.s.fail(w, r, dec.err())
		return
	}
	in := EndpointInput{URL: *f.url, Events: f.events}
	if f.description != nil {
		in.Description = *f.description
	}
	if f.enabled != nil {
		in.Disabled = !*f.enabled
	}
	ep, secret, err := h.s.CreateEndpoint(r.Context(), orgID, in)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	out := toJSON(ep)
	out.Secret = secret.Reveal()
	w.Header().Set("Location", h.opts.Prefix+"/orgs/"+orgID+"/webhooks/"+ep.ID)
	w.Header().Set("Cache-Control", "no-store") // the secret, once
	gatehouse.WriteData(w, r, http.StatusCreated, out)
}

func (h *adminHandler) get(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	ep, err := h.s.Endpoint(r.Context(), orgID, r.PathValue("id"))
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	gatehouse.WriteData(w, r, http.StatusOK, toJSON(ep))
}

func (h *adminHandler) patch(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	if _, err := h.s.Endpoint(r.Context(), orgID, r.PathValue("id")); err != nil {
		h.s.fail(w, r, err)
		return
	}
	h.s.patch(w, r, orgID, "", nil)
}

func (h *adminHandler) delete(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	if err := h.s.DeleteEndpoint(r.Context(), orgID, r.PathValue("id")); err != nil {
		h.s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// attemptJSON is one line of the delivery log.
type attemptJSON struct {
	DeliveryID    string     `json:"delivery_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Attempt       int        `json:"attempt"`
	Outcome       string     `json:"outcome"`
	StatusCode    *int       `json:"status_code"`
	DurationMS    int64      `json:"duration_ms"`
	Error         *string    `json:"error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

const defaultLogLimit, maxLogLimit = 50, 100

func (h *adminHandler) deliveries(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	ep, err := h.s.Endpoint(r.Context(), orgID, r.PathValue("id"))
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	var unknown []string
	for k := range q {
		if k != "limit" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		h.s.fail(w, r, gatehouse.FieldsError(gatehouse.MsgUnsupportedFilters, unknown...))
		return
	}
	limit := defaultLogLimit
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if len(vs) != 1 || err != nil || n < 1 {
			h.s.fail(w, r, gatehouse.FieldsError(gatehouse.MsgInvalidQuery, "limit"))
			return
		}
		limit = min(n, maxLogLimit)
	}
	log, err := h.s.Attempts(r.Context(), orgID, ep.ID, limit)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	out := make([]attemptJSON, 0, len(log))
	for _, a := range log {
		j := attemptJSON{
			DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Number,
			Outcome: a.Outcome, DurationMS: a.Duration.Milliseconds(), Error: nonEmpty(a.Error),
			NextAttemptAt: a.NextAttemptAt, CreatedAt: a.CreatedAt,
		}
		if a.StatusCode != 0 {
			sc := a.StatusCode
			j.StatusCode = &sc
		}
		out = append(out, j)
	}
	gatehouse.WriteData(w, r, http.StatusOK, out)
}

func (h *adminHandler) rotate(w http.ResponseWriter, r *http.Request) {
	orgID, err := h.org(r)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	if _, err := h.s.Endpoint(r.Context(), orgID, r.PathValue("id")); err != nil {
		h.s.fail(w, r, err)
		return
	}
	raw, err := gatehouse.ReadBody(w, r, h.s.maxBody)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	grace := h.s.grace
	if len(bytes.TrimSpace(raw)) > 0 {
		m, err := gatehouse.DecodeObject(raw)
		if err != nil {
			h.s.fail(w, r, err)
			return
		}
		var bad []string
		for k := range m {
			if k != "grace_period_seconds" {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			h.s.fail(w, r, gatehouse.FieldsError(gatehouse.MsgUnsupportedFields, bad...))
			return
		}
		if g, ok := m["grace_period_seconds"]; ok {
			var n int64
			maxSeconds := int64(MaxSecretGracePeriod / time.Second)
			if json.Unmarshal(g, &n) != nil || n < 0 || n > maxSeconds {
				h.s.fail(w, r, gatehouse.InvalidFields(gatehouse.FieldError{
					Field: "grace_period_seconds", Message: "must be an integer from 0 to " + strconv.FormatInt(maxSeconds, 10),
				}))
				return
			}
			grace = time.Duration(n) * time.Second
		}
	}
	ep, secret, err := h.s.RotateSecret(r.Context(), orgID, r.PathValue("id"), grace)
	if err != nil {
		h.s.fail(w, r, err)
		return
	}
	out := toJSON(ep)
	out.Secret = secret.Reveal()
	w.Header().Set("Cache-Control", "no-store") // the secret, once
	gatehouse.WriteData(w, r, http.StatusOK, out)
}
