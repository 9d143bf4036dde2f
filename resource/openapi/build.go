package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// Header names the document describes.
const (
	hRequestID        = gatehouse.RequestIDHeader
	hRetryAfter       = "Retry-After"
	hLocation         = "Location"
	hLink             = "Link"
	hAllow            = "Allow"
	hWWWAuthenticate  = "WWW-Authenticate"
	hIdempotencyKey   = "Idempotency-Key"
	hReplayed         = "Idempotent-Replayed"
	hRateLimitPolicy  = "RateLimit-Policy"
	hRateLimit        = "RateLimit"
	hXRateLimitLimit  = "X-RateLimit-Limit"
	hXRateLimitRemain = "X-RateLimit-Remaining"
	hXRateLimitReset  = "X-RateLimit-Reset"
	jsonType          = "application/json"
	metaTag           = "meta"
	timePattern       = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
	textIDPattern     = "^[A-Za-z0-9._:-]{1,64}$"
	datePattern       = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)

// builder assembles the document tree. Schema positions hold *schema
// values, rendered per version by materialize.
type builder struct {
	opts       Options
	reg        *resource.Registry
	errs       *errorSet
	schemas    map[string]*schema
	custom     map[string]json.RawMessage // route components, as declared
	paths      map[string]map[string]any
	opIDs      map[string]string
	tags       []any
	tagSeen    map[string]bool
	versionHdr string
	// parsed are the schemas read from route documentation outside
	// components, whose references are checked at the end.
	parsed []*schema
}

// operation is one documented operation before rendering.
type operation struct {
	method, path string
	id           string
	summary      string
	description  string
	tag          string
	scope        string
	public       bool
	pathParams   []any
	query        []any
	body         *schema
	success      []success
	errors       []*errorKind
}

type success struct {
	status      int
	description string
	schema      *schema
	headers     map[string]any
}

func newBuilder(opts Options) (*builder, error) {
	if opts.DisabledMessage == "" {
		opts.DisabledMessage = gatehouse.MsgModuleDisabled
	}
	b := &builder{
		opts:    opts,
		reg:     opts.Registry,
		errs:    newErrorSet(opts.DisabledMessage),
		schemas: map[string]*schema{},
		custom:  map[string]json.RawMessage{},
		paths:   map[string]map[string]any{},
		opIDs:   map[string]string{},
		tagSeen: map[string]bool{},
	}
	if opts.Versioner != nil {
		b.versionHdr = opts.Versioner.Header()
	}
	return b, nil
}

// kinds returns the error kinds of the catalogue messages.
func (b *builder) kinds(msgs ...string) ([]*errorKind, error) {
	out := make([]*errorKind, 0, len(msgs))
	for _, m := range msgs {
		k := b.errs.kind(m)
		if k == nil {
			return nil, fmt.Errorf("openapi: %q is not in the error catalogue", m)
		}
		out = append(out, k)
	}
	return out, nil
}

func (b *builder) addSchema(name string, s *schema) error {
	if _, dup := b.schemas[name]; dup {
		return fmt.Errorf("openapi: schema name %s is used twice (rename a resource or a route component)", name)
	}
	b.schemas[name] = s
	return nil
}

func (b *builder) addTag(name, description string) {
	if b.tagSeen[name] {
		return
	}
	b.tagSeen[name] = true
	t := map[string]any{"name": name}
	if description != "" {
		t["description"] = description
	}
	b.tags = append(b.tags, t)
}

func (b *builder) build() (map[string]any, error) {
	b.schemas["FieldError"] = object([]string{"field", "message"},
		prop{"field", withDescription(str(), "The field, parameter or header.")},
		prop{"message", withDescription(str(), "Why its value was refused.")})
	for _, r := range b.reg.Resources() {
		if err := b.resource(r); err != nil {
			return nil, err
		}
	}
	if err := b.schemaOp(); err != nil {
		return nil, err
	}
	for _, rt := range append(b.reg.Routes(), b.opts.Routes...) {
		if err := b.route(rt); err != nil {
			return nil, err
		}
	}
	var hooks map[string]any
	if b.opts.Events {
		var err error
		if hooks, err = b.events(); err != nil {
			return nil, err
		}
	}
	// The answers to what the paths do not list are always documented.
	b.errs.used["UnsupportedResource"] = true
	b.errs.used["MethodNotAllowed"] = true
	for name, k := range b.errs.names {
		if b.errs.used[name] {
			if err := b.addSchema("Error"+name, k.schema()); err != nil {
				return nil, err
			}
		}
	}
	for name, s := range b.schemas {
		for _, r := range s.refs(nil) {
			if _, ok := b.schemas[r]; !ok {
				return nil, fmt.Errorf("openapi: schema %s refers to #/components/schemas/%s, which is not declared", name, r)
			}
		}
	}
	for _, s := range b.parsed {
		for _, r := range s.refs(nil) {
			if _, ok := b.schemas[r]; !ok {
				return nil, fmt.Errorf("openapi: route documentation refers to #/components/schemas/%s, which is not declared", r)
			}
		}
	}

	schemas := make(map[string]any, len(b.schemas))
	for k, s := range b.schemas {
		schemas[k] = s
	}
	paths := make(map[string]any, len(b.paths))
	for k, p := range b.paths {
		paths[k] = p
	}
	info := map[string]any{
		"title":       b.opts.Title,
		"version":     b.opts.Version,
		"description": b.description(),
	}
	doc := map[string]any{
		"openapi": versioned{v31: "3.1.0", v30: "3.0.3"},
		"info":    info,
		"paths":   paths,
		"tags":    b.tags,
		"security": []any{
			map[string]any{"bearerAuth": []any{}},
		},
		"components": map[string]any{
			"schemas":         schemas,
			"responses":       b.responses(),
			"parameters":      b.parameters(),
			"headers":         b.headers(),
			"securitySchemes": b.securitySchemes(),
		},
	}
	if hooks != nil {
		doc["webhooks"] = versioned{v31: hooks}
	}
	if b.opts.KeyHeader != "" {
		doc["security"] = []any{
			map[string]any{"bearerAuth": []any{}},
			map[string]any{"apiKeyHeader": []any{}},
		}
	}
	if len(b.opts.Servers) > 0 {
		var servers []any
		for _, s := range b.opts.Servers {
			srv := map[string]any{"url": s.URL}
			if s.Description != "" {
				srv["description"] = s.Description
			}
			if len(s.Variables) > 0 {
				vars := map[string]any{}
				for name, v := range s.Variables {
					m := map[string]any{"default": v.Default}
					if v.Description != "" {
						m["description"] = v.Description
					}
					if v.Enum != nil {
						m["enum"] = v.Enum
					}
					vars[name] = m
				}
				srv["variables"] = vars
			}
			servers = append(servers, srv)
		}
		doc["servers"] = servers
	}
	return doc, nil
}

// events returns the webhooks member: one POST per event type. The
// payload schemas (<Name>Event) are components.
func (b *builder) events() (map[string]any, error) {
	hooks := map[string]any{}
	header := func(name, desc string, s *schema) map[string]any {
		return map[string]any{"name": name, "in": "header", "required": true, "description": desc, "schema": s}
	}
	digits := str()
	digits.Pattern = "^[0-9]+$"
	sig := str()
	sig.Pattern = "^v1,"
	for _, r := range b.reg.Resources() {
		name := camel(r.Singular)
		types := []string{r.Singular + ".created", r.Singular + ".updated"}
		evType := &schema{Type: typeList{"string"}, Enum: []json.RawMessage{rawJSON(types[0]), rawJSON(types[1])}}
		id := str()
		id.Pattern = "^evt_[0-9a-f]{32}$"
		payload := object([]string{"id", "type", "created_at", "organization_id", "data"},
			prop{"id", withDescription(id, "The event id, also in webhook-id: receivers de-duplicate on it (delivery is at least once).")},
			prop{"type", evType},
			prop{"created_at", withDescription(strFormat("date-time"), "When the change was committed.")},
			prop{"organization_id", str()},
			prop{"data", withDescription(ref(name), "The record as the API returns it after the change.")},
		)
		payload.Description = fmt.Sprintf("The body of a %s event delivery.", r.Singular)
		if err := b.addSchema(name+"Event", payload); err != nil {
			return nil, err
		}
		for _, typ := range types {
			opID := "on" + camel(typ)
			if prev, dup := b.opIDs[opID]; dup {
				return nil, fmt.Errorf("openapi: operation id %s of webhook %s is used by %s", opID, typ, prev)
			}
			b.opIDs[opID] = "webhook " + typ
			hooks[typ] = map[string]any{"post": map[string]any{
				"operationId": opID,
				"security":    []any{},
				"tags":        []any{r.Name},
				"summary":     fmt.Sprintf("A %s was %s", r.Singular, strings.TrimPrefix(typ, r.Singular+".")),
				"description": fmt.Sprintf("Sent to the subscribed endpoints of the organization whose key may read %s (scope %s:read). "+
					"Verify the signature over the raw body before parsing it.", r.Name, r.Name),
				"parameters": []any{
					header("webhook-id", "The event id.", str()),
					header("webhook-timestamp", "Unix seconds of the attempt; reject one more than 5 minutes from now.", digits),
					header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>` "+
						"under the endpoint's secret (two while a rotated secret is in its grace period).", sig),
				},
				"requestBody": map[string]any{"required": true, "content": map[string]any{jsonType: map[string]any{"schema": ref(name + "Event")}}},
				"responses": map[string]any{"2XX": map[string]any{
					"description": "Any 2xx acknowledges the delivery; any other answer or a timeout is retried with exponential backoff.",
				}},
			}}
		}
	}
	return hooks, nil
}

// description is info.description: the service's text and the
// conventions of the API.
func (b *builder) description() string {
	var sb strings.Builder
	if d := strings.TrimSpace(b.opts.Description); d != "" {
		sb.WriteString(d)
		sb.WriteString("\n\n")
	}
	l := b.reg.Limits()
	sb.WriteString("## Conventions\n\n")
	sb.WriteString("- **Authentication**: every operation not marked otherwise needs an API key, as `Authorization: Bearer <key>`")
	if b.opts.KeyHeader != "" {
		fmt.Fprintf(&sb, " or in the `%s` header", b.opts.KeyHeader)
	}
	sb.WriteString(". Each operation names the scope it requires (`x-required-scope`); a key without it gets 403 `Missing scope` with `required_scope`.\n")
	sb.WriteString("- **Envelopes**: a record is answered as `{\"data\":{…},\"request_id\":…}`, a list as `{\"data\":[…],\"limit\",\"offset\",\"has_more\",\"next_cursor\",\"request_id\"}`. " +
		"Every error is `{\"error\":\"<message>\",…,\"request_id\":…}`; the messages never change, so clients may match on them. Every answer carries `X-Request-Id`.\n")
	fmt.Fprintf(&sb, "- **Lists**: newest first (created_at, then id, descending). `limit` defaults to %d and is clamped to %d; `offset` goes up to %d. ", l.DefaultLimit, l.MaxLimit, l.MaxOffset)
	if b.reg.CursorsEnabled() {
		sb.WriteString("To page deeper, send `next_cursor` back as `cursor` (the `Link: <…>; rel=\"next\"` header has the same URL): cursors are opaque, tamper-evident and bound to the filters and the organization. ")
	}
	sb.WriteString("Exact filters take the field's type; `q` searches the resource's search fields case-insensitively.\n")
	sb.WriteString("- **Writes**: bodies are JSON objects of at most 1 MiB. Unknown or read-only members are refused, `null` clears an optional field, strings hold no U+0000 and required strings must not be blank.\n")
	if b.opts.Idempotency {
		sb.WriteString("- **Retries**: send `Idempotency-Key` on POST and PATCH to retry safely: the same key with the same request replays the first answer (`Idempotent-Replayed: true`), " +
			"with another request it is 422, while the first is still running 409 with `Retry-After`.\n")
	}
	if b.versionHdr != "" {
		fmt.Fprintf(&sb, "- **Versions**: every answer carries `%s`; a request may send it to pin a version (`%s`).\n", b.versionHdr, strings.Join(b.opts.Versioner.Supported(), "`, `"))
	}
	sb.WriteString("- **Rate limits**: per API key; past the limit the answer is 429 with `Retry-After` in seconds.\n")
	fmt.Fprintf(&sb, "- **Other paths and methods**: a path under `%s` that is not listed here is answered 404 `Unsupported resource` "+
		"(`#/components/responses/UnsupportedResource`), a method a listed path does not support 405 `Method not allowed` with `Allow` "+
		"(`#/components/responses/MethodNotAllowed`); both only after the API key was accepted.\n", b.reg.Prefix())
	return sb.String()
}

// fieldSchema is the schema of a field's value.
func fieldSchema(f resource.Field) *schema {
	var s *schema
	switch f.Type {
	case resource.String, resource.Text:
		s = str()
		s.MaxLength = intp(f.MaxLength)
	case resource.Email:
		s = strFormat("email")
		s.MaxLength = intp(f.MaxLength)
	case resource.Date:
		s = strFormat("date")
	case resource.Time:
		s = str()
		s.Pattern = timePattern
		s.Description = "A time of day, HH:MM."
	case resource.DateTime:
		s = strFormat("date-time")
	case resource.Integer:
		s = integer()
		s.Format = "int64"
	case resource.Number:
		s = &schema{Type: typeList{"number"}, Format: "double"}
	case resource.Boolean:
		s = boolean()
	case resource.UUID:
		s = strFormat("uuid")
	case resource.JSONObject:
		s = &schema{Type: typeList{"object"}, Description: "Any JSON object."}
	default:
		s = &schema{}
	}
	return s
}

// idSchema is the schema of an id of type t.
func idSchema(t resource.IDType) *schema {
	switch t {
	case resource.IDInteger:
		s := integer()
		s.Format = "int64"
		return s
	case resource.IDText:
		s := str()
		s.Pattern = textIDPattern
		return s
	}
	return strFormat("uuid")
}

// fieldDoc describes a field in words: what the schema cannot say.
func fieldDoc(f resource.Field, base string) string {
	var parts []string
	if base != "" {
		parts = append(parts, base)
	}
	switch {
	case f.References != "" && f.GlobalReference:
		parts = append(parts, "The id of a "+f.References+" row.")
	case f.References != "":
		parts = append(parts, "The id of a "+f.References+" record of the caller's organization.")
	}
	if f.Sequence {
		parts = append(parts, "Numbered per organization from 1 by the server.")
	}
	return strings.Join(parts, " ")
}

// resource documents the list, get, create and update operations of r.
func (b *builder) resource(r resource.Resource) error {
	name := camel(r.Singular)
	if name == "" {
		return fmt.Errorf("openapi: resource %s: no usable schema name", r.Name)
	}
	protected := b.reg.Protected()
	ro := func(f resource.Field) bool { return f.ReadOnly || slices.Contains(protected, f.Name) }

	// The record as answered.
	idRec := idSchema(r.IDType)
	idRec.ReadOnly = true
	idDoc := "The record's id."
	if r.IDType == resource.IDInteger {
		idDoc += " Integers above 2^53 lose precision in clients that read JSON numbers as doubles."
	}
	recProps := []prop{{"id", withDescription(idRec, idDoc)}}
	required := []string{"id"}
	for _, f := range r.Fields {
		s := fieldSchema(f)
		s.Description = fieldDoc(f, s.Description)
		if !f.Required && !f.Sequence {
			s = nullable(s)
		}
		s.ReadOnly = ro(f)
		recProps = append(recProps, prop{f.Name, s})
		required = append(required, f.Name)
	}
	recProps = append(recProps,
		prop{"organization_id", withDescription(&schema{Type: typeList{"string"}, ReadOnly: true}, "The organization that owns the record.")})
	required = append(required, "organization_id")
	if !r.Created.None {
		recProps = append(recProps, prop{"created_at", withDescription(&schema{Type: typeList{"string"}, Format: "date-time", ReadOnly: true}, "When the record was created (UTC).")})
		required = append(required, "created_at")
	}
	if !r.Updated.None {
		recProps = append(recProps, prop{"updated_at", withDescription(&schema{Type: typeList{"string"}, Format: "date-time", ReadOnly: true}, "When the record was last changed (UTC).")})
		required = append(required, "updated_at")
	}
	rec := object(required, recProps...)
	rec.Description = fmt.Sprintf("A %s record. Read-only members are set by the server and refused in request bodies.", r.Singular)

	// Request bodies: writable fields only.
	var createProps, updateProps []prop
	var createReq []string
	hasRefs := false
	for _, f := range r.Fields {
		if ro(f) {
			continue
		}
		s := fieldSchema(f)
		s.Description = fieldDoc(f, s.Description)
		cs, us := s, s
		if f.Required {
			if f.Type == resource.String || f.Type == resource.Text {
				s.MinLength = intp(1)
				s.Description = joinText(s.Description, "Must not be blank.")
			}
			createReq = append(createReq, f.Name)
		} else {
			cs = withDescription(nullable(s), joinText(s.Description, "May be null."))
			us = withDescription(nullable(s), joinText(s.Description, "null clears it."))
		}
		createProps = append(createProps, prop{f.Name, cs})
		updateProps = append(updateProps, prop{f.Name, us})
		if f.References != "" {
			hasRefs = true
		}
	}
	create := object(createReq, createProps...)
	create.Description = fmt.Sprintf("The body of a %s create.", r.Singular)
	update := object(nil, updateProps...)
	update.Description = fmt.Sprintf("The body of a %s update: any subset of the writable fields, at least one.", r.Singular)
	update.MinProperties = intp(1)

	list := object([]string{"data", "limit", "offset", "has_more", "next_cursor", "request_id"},
		prop{"data", withDescription(arrayOf(ref(name)), "The page, newest first.")},
		prop{"limit", withDescription(integer(), "The page size used.")},
		prop{"offset", withDescription(integer(), "The offset used (0 in cursor mode).")},
		prop{"has_more", withDescription(boolean(), "Whether rows follow this page.")},
		prop{"next_cursor", withDescription(nullable(str()), "Send as cursor to get the next page; null on the last page (always null when cursors are off).")},
		prop{"request_id", requestIDSchema()},
	)
	list.Description = fmt.Sprintf("A page of %s.", r.Name)
	one := object([]string{"data", "request_id"}, prop{"data", ref(name)}, prop{"request_id", requestIDSchema()})
	one.Description = fmt.Sprintf("One %s.", r.Singular)
	for _, c := range []struct {
		n string
		s *schema
	}{{name, rec}, {name + "Create", create}, {name + "Update", update}, {name + "List", list}, {name + "Envelope", one}} {
		if err := b.addSchema(c.n, c.s); err != nil {
			return err
		}
	}

	b.addTag(r.Name, fmt.Sprintf("%s (scopes %s:read, %s:create, %s:update).", camel(r.Name), r.Name, r.Name, r.Name))
	collection := b.reg.Prefix() + "/" + r.Name
	item := collection + "/{id}"
	idParam := map[string]any{
		"name": "id", "in": "path", "required": true,
		"description": "The record's id (a malformed one is answered 404).",
		"schema":      idSchema(r.IDType),
	}

	// List.
	query := []any{paramRef("Limit"), paramRef("Offset")}
	if b.reg.CursorsEnabled() {
		query = append(query, paramRef("Cursor"))
	}
	if !r.Created.None {
		query = append(query, paramRef("CreatedAfter"), paramRef("CreatedBefore"))
	}
	query = append(query, paramRef("Q"))
	fields := map[string]resource.Field{"id": {Name: "id"}}
	for _, f := range r.Fields {
		fields[f.Name] = f
	}
	for _, fname := range r.Filters {
		f, ok := fields[fname]
		if !ok {
			return fmt.Errorf("openapi: resource %s: filter %s is not a field", r.Name, fname)
		}
		s := fieldSchema(f)
		if fname == "id" {
			s = idSchema(r.IDType)
		}
		s.Description = ""
		query = append(query, map[string]any{
			"name": fname, "in": "query",
			"description": fmt.Sprintf("Only records whose %s equals this value.", fname),
			"schema":      s,
		})
	}
	listErrs := []string{gatehouse.MsgUnsupportedFilters, gatehouse.MsgInvalidQuery}
	if b.reg.CursorsEnabled() {
		listErrs = append(listErrs, gatehouse.MsgInvalidCursor)
	}
	listKinds, err := b.kinds(listErrs...)
	if err != nil {
		return err
	}
	linkHdr := map[string]any{}
	if b.reg.CursorsEnabled() {
		linkHdr[hLink] = headerRef(hLink)
	}
	read := r.Name + ":read"
	var listDoc string
	if r.Created.None {
		listDoc = "Ordered by id, descending (the records have no creation time)."
	}
	ops := []*operation{{
		method: http.MethodGet, path: collection, id: "list" + camel(r.Name), tag: r.Name, scope: read,
		summary: "List " + r.Name, description: listDoc, query: query, errors: listKinds,
		success: []success{{status: 200, description: "A page of " + r.Name + ".", schema: ref(name + "List"), headers: linkHdr}},
	}}

	// Get.
	nf, err := b.kinds(gatehouse.MsgNotFound)
	if err != nil {
		return err
	}
	ops = append(ops, &operation{
		method: http.MethodGet, path: item, id: "get" + name, tag: r.Name, scope: read,
		summary: "Get a " + r.Singular, pathParams: []any{idParam}, errors: nf,
		success: []success{{status: 200, description: "The " + r.Singular + ".", schema: ref(name + "Envelope")}},
	})

	// Create.
	writeErrs := []string{gatehouse.MsgInvalidJSON, gatehouse.MsgUnsupportedFields, gatehouse.MsgInvalidFieldValues}
	if hasRefs {
		writeErrs = append(writeErrs, gatehouse.MsgInvalidForeignKey)
	}
	createKinds, err := b.kinds(writeErrs...)
	if err != nil {
		return err
	}
	ops = append(ops, &operation{
		method: http.MethodPost, path: collection, id: "create" + name, tag: r.Name, scope: r.Name + ":create",
		summary: "Create a " + r.Singular, body: ref(name + "Create"), errors: createKinds,
		success: []success{{status: 201, description: "The created " + r.Singular + ".", schema: ref(name + "Envelope"),
			headers: map[string]any{hLocation: headerRef(hLocation)}}},
	})

	// Update.
	updateKinds, err := b.kinds(append(writeErrs, gatehouse.MsgNoFieldsToUpdate, gatehouse.MsgNotFound)...)
	if err != nil {
		return err
	}
	updateDoc := "Changes only the members sent; updated_at is set to now."
	if r.Updated.None {
		updateDoc = "Changes only the members sent."
	}
	ops = append(ops, &operation{
		method: http.MethodPatch, path: item, id: "update" + name, tag: r.Name, scope: r.Name + ":update",
		summary: "Update a " + r.Singular, description: updateDoc,
		pathParams: []any{idParam}, body: ref(name + "Update"), errors: updateKinds,
		success: []success{{status: 200, description: "The updated " + r.Singular + ".", schema: ref(name + "Envelope")}},
	})
	for _, o := range ops {
		if err := b.addOp(o); err != nil {
			return err
		}
	}
	return nil
}

// schemaOp documents GET <prefix>/schema.
func (b *builder) schemaOp() error {
	l := b.reg.Limits()
	field := object([]string{"name", "type", "required", "max_length", "nullable"},
		prop{"name", str()},
		prop{"type", withDescription(&schema{Type: typeList{"string"}, Enum: enumOf(
			resource.String, resource.Text, resource.Email, resource.Date, resource.Time, resource.DateTime,
			resource.Integer, resource.Number, resource.Boolean, resource.UUID, resource.JSONObject)}, "The field's type.")},
		prop{"required", boolean()},
		prop{"max_length", withDescription(nullable(integer()), "The longest value in characters (string types), else null.")},
		prop{"nullable", withDescription(boolean(), "Whether null is accepted (to clear the field).")},
	)
	scopes := object([]string{"read", "create", "update"}, prop{"read", str()}, prop{"create", str()}, prop{"update", str()})
	res := object([]string{"name", "scopes", "create_fields", "update_fields", "filters", "search_fields"},
		prop{"name", str()},
		prop{"scopes", scopes},
		prop{"create_fields", arrayOf(ref("SchemaField"))},
		prop{"update_fields", arrayOf(ref("SchemaField"))},
		prop{"filters", arrayOf(str())},
		prop{"search_fields", arrayOf(str())},
	)
	// The figures the registry only reports are in every answer when set.
	required := []string{"default_limit", "max_limit", "max_offset"}
	for _, f := range []struct {
		name string
		v    int
	}{{"default_rate_limit_per_minute", l.DefaultRateLimitPerMinute}, {"max_rate_limit_per_minute", l.MaxRateLimitPerMinute}, {"audit_log_size", l.AuditLogSize}} {
		if f.v > 0 {
			required = append(required, f.name)
		}
	}
	limits := object(required,
		prop{"default_limit", integer()}, prop{"max_limit", integer()}, prop{"max_offset", integer()},
		prop{"default_rate_limit_per_minute", integer()}, prop{"max_rate_limit_per_minute", integer()},
		prop{"audit_log_size", integer()},
	)
	doc := object([]string{"version", "resources", "list_parameters", "protected_fields", "limits"},
		prop{"version", withDescription(str(), "The API version serving the request.")},
		prop{"resources", arrayOf(ref("SchemaResource"))},
		prop{"list_parameters", withDescription(arrayOf(str()), "The parameters every list takes besides its filters.")},
		prop{"protected_fields", withDescription(arrayOf(str()), "Fields refused in every request body.")},
		prop{"limits", limits},
	)
	doc.Description = "The live description of every resource."
	for _, c := range []struct {
		n string
		s *schema
	}{{"Schema", doc}, {"SchemaResource", res}, {"SchemaField", field}} {
		if err := b.addSchema(c.n, c.s); err != nil {
			return err
		}
	}
	b.addTag(metaTag, "The API itself.")
	return b.addOp(&operation{
		method: http.MethodGet, path: b.reg.Prefix() + "/schema", id: "getSchema", tag: metaTag,
		summary: "Describe every resource",
		success: []success{{status: 200, description: "The schema.", schema: object([]string{"data", "request_id"},
			prop{"data", ref("Schema")}, prop{"request_id", requestIDSchema()})}},
	})
}

func enumOf(ts ...resource.Type) []json.RawMessage {
	out := make([]json.RawMessage, len(ts))
	for i, t := range ts {
		out[i] = rawJSON(string(t))
	}
	return out
}

// route documents an extra route from its RouteDoc.
func (b *builder) route(rt resource.Route) error {
	where := rt.Method + " " + rt.Path
	d := rt.Doc
	if d == nil {
		return fmt.Errorf("openapi: route %s has no Doc", where)
	}
	if d.OperationID == "" {
		return fmt.Errorf("openapi: route %s: Doc.OperationID is required", where)
	}
	if len(d.Responses) == 0 {
		return fmt.Errorf("openapi: route %s: Doc.Responses is empty", where)
	}
	names := make([]string, 0, len(d.Components))
	for n := range d.Components {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		raw := d.Components[n]
		if prev, ok := b.custom[n]; ok {
			if !sameJSON(prev, raw) {
				return fmt.Errorf("openapi: route %s: component %s is declared twice, differently", where, n)
			}
			continue
		}
		if !validComponentName(n) {
			return fmt.Errorf("openapi: route %s: invalid component name %q", where, n)
		}
		s, err := parseSchema(raw)
		if err != nil {
			return fmt.Errorf("openapi: route %s: component %s: %w", where, n, err)
		}
		if err := b.addSchema(n, s); err != nil {
			return err
		}
		b.custom[n] = raw
	}
	tag := d.Tag
	if tag == "" {
		tag = metaTag
	}
	b.addTag(tag, "")
	o := &operation{
		method: rt.Method, path: rt.Path, id: d.OperationID, tag: tag, scope: string(rt.Scope),
		summary: rt.Summary, description: d.Description, public: d.Public,
	}

	// Path parameters: every {name} of the pattern.
	docs := map[string]resource.ParamDoc{}
	for _, p := range d.Path {
		docs[p.Name] = p
	}
	seen := map[string]bool{}
	for _, seg := range strings.Split(rt.Path, "/") {
		if !strings.HasPrefix(seg, "{") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		if strings.HasSuffix(name, "...") || name == "$" || name == "" {
			return fmt.Errorf("openapi: route %s: wildcard %s cannot be documented", where, seg)
		}
		seen[name] = true
		p, err := b.param(docs[name], "path")
		if err != nil {
			return fmt.Errorf("openapi: route %s: path parameter %s: %w", where, name, err)
		}
		p["name"], p["required"] = name, true
		o.pathParams = append(o.pathParams, p)
	}
	for _, p := range d.Path {
		if !seen[p.Name] {
			return fmt.Errorf("openapi: route %s: Doc.Path documents %q, which is not in the path", where, p.Name)
		}
	}
	for _, q := range d.Query {
		if q.Name == "" {
			return fmt.Errorf("openapi: route %s: query parameter without a name", where)
		}
		p, err := b.param(q, "query")
		if err != nil {
			return fmt.Errorf("openapi: route %s: query parameter %s: %w", where, q.Name, err)
		}
		o.query = append(o.query, p)
	}
	if d.Body != nil {
		s, err := b.parse(d.Body)
		if err != nil {
			return fmt.Errorf("openapi: route %s: Body: %w", where, err)
		}
		o.body = s
	}
	for _, r := range d.Responses {
		if r.Status < 100 || r.Status > 399 {
			return fmt.Errorf("openapi: route %s: response status %d is not a success (document errors in Errors)", where, r.Status)
		}
		sr := success{status: r.Status, description: r.Description, headers: map[string]any{}}
		if sr.description == "" {
			sr.description = statusText(r.Status)
		}
		switch {
		case r.Data != nil && r.Body != nil:
			return fmt.Errorf("openapi: route %s: response %d sets both Data and Body", where, r.Status)
		case r.Data != nil:
			s, err := b.parse(r.Data)
			if err != nil {
				return fmt.Errorf("openapi: route %s: response %d: %w", where, r.Status, err)
			}
			sr.schema = object([]string{"data", "request_id"}, prop{"data", s}, prop{"request_id", requestIDSchema()})
		case r.Body != nil:
			s, err := b.parse(r.Body)
			if err != nil {
				return fmt.Errorf("openapi: route %s: response %d: %w", where, r.Status, err)
			}
			sr.schema = s
		}
		for _, h := range r.Headers {
			if !validToken(h.Name) {
				return fmt.Errorf("openapi: route %s: response %d: invalid header name %q", where, r.Status, h.Name)
			}
			hs := str()
			if h.Schema != nil {
				s, err := b.parse(h.Schema)
				if err != nil {
					return fmt.Errorf("openapi: route %s: header %s: %w", where, h.Name, err)
				}
				hs = s
			}
			hdr := map[string]any{"schema": hs}
			if h.Description != "" {
				hdr["description"] = h.Description
			}
			if h.Required {
				hdr["required"] = true
			}
			sr.headers[h.Name] = hdr
		}
		o.success = append(o.success, sr)
	}
	for _, e := range d.Errors {
		k, err := b.errs.fromDoc(e)
		if err != nil {
			return fmt.Errorf("openapi: route %s: %w", where, err)
		}
		o.errors = append(o.errors, k)
	}
	return b.addOp(o)
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func validComponentName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return n != ""
}

// parse reads a schema of route documentation outside components.
func (b *builder) parse(raw json.RawMessage) (*schema, error) {
	s, err := parseSchema(raw)
	if err != nil {
		return nil, err
	}
	b.parsed = append(b.parsed, s)
	return s, nil
}

// param renders a ParamDoc as a Parameter Object (without name for path
// parameters, which the caller sets).
func (b *builder) param(p resource.ParamDoc, in string) (map[string]any, error) {
	s := str()
	if p.Schema != nil {
		var err error
		if s, err = b.parse(p.Schema); err != nil {
			return nil, err
		}
	}
	out := map[string]any{"name": p.Name, "in": in, "schema": s}
	if p.Description != "" {
		out["description"] = p.Description
	}
	if p.Required {
		out["required"] = true
	}
	return out, nil
}

func paramRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/parameters/" + name}
}

func headerRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/headers/" + name}
}

func responseRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/responses/" + name}
}

// addOp renders an operation into its path item, adding the parameters,
// headers and errors of the chain around the handler.
func (b *builder) addOp(o *operation) error {
	if prev, dup := b.opIDs[o.id]; dup {
		return fmt.Errorf("openapi: operation id %s is used by %s and %s %s", o.id, prev, o.method, o.path)
	}
	if !validComponentName(o.id) {
		return fmt.Errorf("openapi: invalid operation id %q", o.id)
	}
	b.opIDs[o.id] = o.method + " " + o.path
	writes := o.method == http.MethodPost || o.method == http.MethodPatch || o.method == http.MethodPut
	idem := b.opts.Idempotency && (o.method == http.MethodPost || o.method == http.MethodPatch)

	op := map[string]any{
		"operationId": o.id,
		"tags":        []any{o.tag},
	}
	if o.summary != "" {
		op["summary"] = o.summary
	}
	desc := o.description
	switch {
	case o.public:
		op["security"] = []any{}
		desc = joinText(desc, "No API key is needed.")
	case o.scope != "":
		op["x-required-scope"] = o.scope
		desc = joinText(desc, fmt.Sprintf("Requires scope `%s`.", o.scope))
	default:
		desc = joinText(desc, "Any valid API key may call it.")
	}
	op["description"] = desc

	params := append([]any{}, o.pathParams...)
	params = append(params, o.query...)
	if idem {
		params = append(params, paramRef("IdempotencyKey"))
	}
	if b.versionHdr != "" {
		params = append(params, paramRef("APIVersion"))
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if o.body != nil {
		op["requestBody"] = map[string]any{
			"required": true,
			"content":  map[string]any{jsonType: map[string]any{"schema": o.body}},
		}
	}

	responses := map[string]any{}
	for _, s := range o.success {
		headers := b.commonHeaders()
		if !o.public && b.opts.RateLimitHeaders {
			for _, h := range []string{hRateLimitPolicy, hRateLimit, hXRateLimitLimit, hXRateLimitRemain, hXRateLimitReset} {
				headers[h] = headerRef(h)
			}
		}
		if idem {
			headers[hReplayed] = headerRef(hReplayed)
		}
		for k, v := range s.headers {
			headers[k] = v
		}
		resp := map[string]any{"description": s.description, "headers": headers}
		if s.schema != nil {
			resp["content"] = map[string]any{jsonType: map[string]any{"schema": s.schema}}
		}
		responses[strconv.Itoa(s.status)] = resp
	}

	// Errors by status: the handler's, then the chain's.
	byStatus := map[int][]*errorKind{}
	add := func(ks ...*errorKind) {
		for _, k := range ks {
			if !slices.Contains(byStatus[k.status], k) {
				byStatus[k.status] = append(byStatus[k.status], k)
			}
		}
	}
	add(o.errors...)
	var chain []string
	if b.versionHdr != "" {
		chain = append(chain, gatehouse.MsgUnsupportedVersion)
	}
	if idem {
		chain = append(chain, gatehouse.MsgInvalidHeaders, gatehouse.MsgIdempotencyInProgress, gatehouse.MsgIdempotencyMismatch)
	}
	if writes {
		chain = append(chain, gatehouse.MsgBodyTooLarge)
	}
	if !o.public {
		chain = append(chain, gatehouse.MsgMissingKey, b.opts.DisabledMessage)
		if o.scope != "" {
			chain = append(chain, gatehouse.MsgMissingScope)
		}
		chain = append(chain, gatehouse.MsgRateLimited)
		if b.opts.LimiterUnavailable {
			chain = append(chain, MsgLimiterUnavailable)
		}
	}
	chain = append(chain, gatehouse.MsgInternal)
	ks, err := b.kinds(chain...)
	if err != nil {
		return err
	}
	add(ks...)
	for status, kinds := range byStatus {
		for _, k := range kinds {
			b.errs.used[k.name] = true
		}
		if name, ok := b.namedResponse(kinds); ok {
			responses[strconv.Itoa(status)] = responseRef(name)
			continue
		}
		responses[strconv.Itoa(status)] = b.errorResponse(status, kinds, nil)
	}
	op["responses"] = responses

	item := b.paths[o.path]
	if item == nil {
		item = map[string]any{}
		b.paths[o.path] = item
	}
	m := strings.ToLower(o.method)
	if _, dup := item[m]; dup {
		return fmt.Errorf("openapi: %s %s is documented twice", o.method, o.path)
	}
	item[m] = op
	return nil
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return strings.TrimSpace(a) + " " + b
}

// commonHeaders are the headers of every answer.
func (b *builder) commonHeaders() map[string]any {
	h := map[string]any{hRequestID: headerRef(hRequestID)}
	if b.versionHdr != "" {
		h[b.versionHdr] = headerRef("APIVersion")
	}
	return h
}

// errorResponse renders an error answer of one status with the kinds'
// schemas (oneOf when there are several) and the extra headers.
func (b *builder) errorResponse(status int, kinds []*errorKind, extra map[string]any) map[string]any {
	headers := b.commonHeaders()
	for k, v := range extra {
		headers[k] = v
	}
	var s *schema
	if len(kinds) == 1 {
		s = ref("Error" + kinds[0].name)
	} else {
		s = &schema{}
		for _, k := range kinds {
			s.OneOf = append(s.OneOf, ref("Error"+k.name))
		}
	}
	desc := statusText(status)
	if len(kinds) == 1 && kinds[0].description != "" {
		desc = kinds[0].description
	}
	return map[string]any{
		"description": desc,
		"headers":     headers,
		"content":     map[string]any{jsonType: map[string]any{"schema": s}},
	}
}

// namedResponses are the components.responses of fixed errors.
func (b *builder) namedResponses() []struct {
	name    string
	kind    string
	headers map[string]any
} {
	rl := map[string]any{hRetryAfter: headerRef(hRetryAfter)}
	if b.opts.RateLimitHeaders {
		for _, h := range []string{hRateLimitPolicy, hRateLimit, hXRateLimitLimit, hXRateLimitRemain, hXRateLimitReset} {
			rl[h] = headerRef(h)
		}
	}
	return []struct {
		name    string
		kind    string
		headers map[string]any
	}{
		{"Unauthorized", "Unauthorized", map[string]any{hWWWAuthenticate: headerRef(hWWWAuthenticate)}},
		{"ModuleDisabled", "ModuleDisabled", nil},
		{"NotFound", "NotFound", nil},
		{"UnsupportedResource", "UnsupportedResource", nil},
		{"MethodNotAllowed", "MethodNotAllowed", map[string]any{hAllow: headerRef(hAllow)}},
		{"IdempotencyInProgress", "IdempotencyInProgress", map[string]any{hRetryAfter: headerRef(hRetryAfter)}},
		{"PayloadTooLarge", "BodyTooLarge", nil},
		{"IdempotencyMismatch", "IdempotencyMismatch", nil},
		{"TooManyRequests", "RateLimited", rl},
		{"InternalError", "Internal", nil},
		{"ServiceUnavailable", "LimiterUnavailable", map[string]any{hRetryAfter: headerRef(hRetryAfter)}},
	}
}

// namedResponse returns the components.responses entry that answers
// exactly kinds.
func (b *builder) namedResponse(kinds []*errorKind) (string, bool) {
	if len(kinds) != 1 {
		return "", false
	}
	for _, n := range b.namedResponses() {
		if n.kind == kinds[0].name {
			return n.name, true
		}
	}
	return "", false
}

// responses returns components.responses: the fixed errors in use, and
// always UnsupportedResource and MethodNotAllowed, which answer what the
// paths do not list.
func (b *builder) responses() map[string]any {
	out := map[string]any{}
	for _, n := range b.namedResponses() {
		if !b.errs.used[n.kind] {
			continue
		}
		k := b.errs.names[n.kind]
		out[n.name] = b.errorResponse(k.status, []*errorKind{k}, n.headers)
	}
	return out
}

// parameters returns components.parameters.
func (b *builder) parameters() map[string]any {
	l := b.reg.Limits()
	limit := integer()
	limit.Minimum = num(1)
	limit.Default = rawJSON(l.DefaultLimit)
	offset := integer()
	offset.Minimum, offset.Maximum = num(0), num(l.MaxOffset)
	offset.Default = rawJSON(0)
	date := str()
	date.Pattern = datePattern
	q := str()
	q.MaxLength = intp(resource.MaxSearchLength)
	out := map[string]any{
		"Limit": map[string]any{"name": "limit", "in": "query", "schema": limit,
			"description": fmt.Sprintf("The page size: default %d; values above %d are clamped to %d.", l.DefaultLimit, l.MaxLimit, l.MaxLimit)},
		"Offset": map[string]any{"name": "offset", "in": "query", "schema": offset,
			"description": "Rows to skip. Not with cursor."},
		"CreatedAfter": map[string]any{"name": "created_after", "in": "query", "schema": date,
			"description": "Only records created at or after this date (YYYY-MM-DD, midnight UTC) or RFC 3339 date-time."},
		"CreatedBefore": map[string]any{"name": "created_before", "in": "query", "schema": date,
			"description": "Only records created before this date (YYYY-MM-DD, midnight UTC) or RFC 3339 date-time."},
		"Q": map[string]any{"name": "q", "in": "query", "schema": q,
			"description": "Search text: records whose search fields contain it, case-insensitively for ASCII."},
	}
	if b.reg.CursorsEnabled() {
		out["Cursor"] = map[string]any{"name": "cursor", "in": "query", "schema": str(),
			"description": "The next_cursor of the previous page, with the same filters. Not with offset; empty means the first page."}
	}
	if b.opts.Idempotency {
		key := str()
		key.MinLength, key.MaxLength = intp(1), intp(255)
		key.Pattern = "^[ -~]+$"
		out["IdempotencyKey"] = map[string]any{"name": hIdempotencyKey, "in": "header", "schema": key,
			"description": "Makes the request safe to retry: 1 to 255 printable ASCII characters, unique per intended operation (e.g. a UUID), " +
				"scoped to the API key and kept 24 hours."}
	}
	if b.versionHdr != "" {
		s := str()
		for _, v := range b.opts.Versioner.Supported() {
			s.Enum = append(s.Enum, rawJSON(v))
		}
		out["APIVersion"] = map[string]any{"name": b.versionHdr, "in": "header", "schema": s,
			"description": fmt.Sprintf("Pins the API version; default %s.", b.opts.Versioner.Current())}
	}
	return out
}

// headers returns components.headers.
func (b *builder) headers() map[string]any {
	retry := integer()
	retry.Minimum = num(1)
	nonNeg := integer()
	nonNeg.Minimum = num(0)
	replayed := str()
	replayed.Enum = []json.RawMessage{rawJSON("true")}
	out := map[string]any{
		hRequestID: map[string]any{"required": true, "schema": strFormat("uuid"),
			"description": "The request's id (also request_id in the body, except in a replayed answer, which keeps the first request's)."},
		hRetryAfter: map[string]any{"required": true, "schema": retry, "description": "Seconds to wait before retrying."},
		hLocation: map[string]any{"required": true, "schema": str(),
			"description": "The path of the created record."},
		hLink: map[string]any{"schema": str(),
			"description": "`<URL>; rel=\"next\"` (RFC 8288): the next page, when there is one."},
		hAllow: map[string]any{"required": true, "schema": str(),
			"description": "The methods the path supports."},
		hWWWAuthenticate: map[string]any{"required": true, "schema": str(), "description": "`Bearer`."},
	}
	if b.opts.Idempotency {
		out[hReplayed] = map[string]any{"schema": replayed,
			"description": "`true` when the answer replays the one stored for this Idempotency-Key."}
	}
	if b.opts.RateLimitHeaders {
		out[hRateLimitPolicy] = map[string]any{"schema": str(), "description": "`\"default\";q=<limit>;w=<window seconds>` (IETF RateLimit header fields draft)."}
		out[hRateLimit] = map[string]any{"schema": str(), "description": "`\"default\";r=<remaining>;t=<seconds until full>` (IETF RateLimit header fields draft)."}
		out[hXRateLimitLimit] = map[string]any{"schema": nonNeg, "description": "Requests per minute of the API key."}
		out[hXRateLimitRemain] = map[string]any{"schema": nonNeg, "description": "Requests left now."}
		out[hXRateLimitReset] = map[string]any{"schema": nonNeg, "description": "Unix time (seconds) when the allowance is full again."}
	}
	if b.versionHdr != "" {
		s := str()
		for _, v := range b.opts.Versioner.Supported() {
			s.Enum = append(s.Enum, rawJSON(v))
		}
		out["APIVersion"] = map[string]any{"required": true, "schema": s,
			"description": "The API version that served the request."}
	}
	return out
}

func (b *builder) securitySchemes() map[string]any {
	bearer := map[string]any{"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer <key>`."}
	if b.opts.KeyFormat != "" {
		bearer["bearerFormat"] = b.opts.KeyFormat
	}
	out := map[string]any{"bearerAuth": bearer}
	if b.opts.KeyHeader != "" {
		out["apiKeyHeader"] = map[string]any{"type": "apiKey", "in": "header", "name": b.opts.KeyHeader,
			"description": "The same API key in this header instead of Authorization (sending both with different keys is 401)."}
	}
	return out
}
