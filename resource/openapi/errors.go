package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// MsgLimiterUnavailable is the 503 "error" of a rate limiter that fails
// closed while its backend is unreachable (redislimit.MsgUnavailable).
const MsgLimiterUnavailable = "Rate limiter unavailable"

// errorKind is one error schema: one message (or, for 401, the family of
// messages that share a shape) and the members it always or may carry.
type errorKind struct {
	name        string // component name, without the "Error" prefix
	status      int
	messages    []string
	description string
	extra       []prop // always present
	optional    []prop // sometimes present
}

func fieldList(what string) prop {
	return prop{"fields", withDescription(&schema{Type: typeList{"array"}, Items: str()}, what)}
}

func details() prop {
	return prop{"details", withDescription(arrayOf(ref("FieldError")), "Why each one was refused.")}
}

// catalogue is the error catalogue of gatehouse (README, "Errors");
// disabled is the 403 text of an organization whose API is off.
func catalogue(disabled string) []errorKind {
	return []errorKind{
		{name: "InvalidJSON", status: 400, messages: []string{gatehouse.MsgInvalidJSON},
			description: "The body is not exactly one JSON object (malformed, not an object, or data after it)."},
		{name: "UnsupportedFields", status: 400, messages: []string{gatehouse.MsgUnsupportedFields},
			description: "The body has members that are unknown or protected (read-only).",
			extra:       []prop{fieldList("The refused members, sorted.")}},
		{name: "InvalidFieldValues", status: 400, messages: []string{gatehouse.MsgInvalidFieldValues},
			description: "Values of the wrong type or format, too long, holding U+0000, or required and missing or null.",
			extra:       []prop{fieldList("The refused fields, sorted."), details()}},
		{name: "InvalidForeignKey", status: 400, messages: []string{gatehouse.MsgInvalidForeignKey},
			description: "A reference names no record of the caller's organization.",
			extra:       []prop{fieldList("The fields holding such references, sorted.")}},
		{name: "UnsupportedFilters", status: 400, messages: []string{gatehouse.MsgUnsupportedFilters},
			description: "Unknown query parameters (checked before their values).",
			extra:       []prop{fieldList("All the unknown parameters, sorted.")}},
		{name: "InvalidQuery", status: 400, messages: []string{gatehouse.MsgInvalidQuery},
			description: "Query parameters with invalid values, repeated, or combined in a way that is refused (offset with cursor).",
			extra:       []prop{fieldList("The refused parameters, sorted.")},
			optional:    []prop{details()}},
		{name: "NoFieldsToUpdate", status: 400, messages: []string{gatehouse.MsgNoFieldsToUpdate},
			description: "The update body is the empty object."},
		{name: "InvalidCursor", status: 400, messages: []string{gatehouse.MsgInvalidCursor},
			description: "The cursor is malformed or altered, or was issued for other filters, another resource or another organization."},
		{name: "InvalidHeaders", status: 400, messages: []string{gatehouse.MsgInvalidHeaders},
			description: "Request headers with invalid values (e.g. a malformed or repeated Idempotency-Key).",
			extra:       []prop{fieldList("The refused headers."), details()}},
		{name: "UnsupportedVersion", status: 400, messages: []string{gatehouse.MsgUnsupportedVersion},
			description: "The API version header names a version this API does not serve.",
			extra:       []prop{{"supported", withDescription(arrayOf(str()), "The versions a request may pin.")}}},
		{name: "Unauthorized", status: 401,
			messages: []string{gatehouse.MsgMissingKey, gatehouse.MsgInvalidKey, gatehouse.MsgKeyExpired, gatehouse.MsgKeyRevoked},
			description: "No usable API key. \"Invalid API key\" covers every unusable key alike (malformed, bad checksum, unknown, wrong secret, two different keys); " +
				"\"API key expired\" and \"API key revoked\" are only said once the secret matched."},
		{name: "ModuleDisabled", status: 403, messages: []string{disabled},
			description: "The organization has not enabled the Developer API."},
		{name: "MissingScope", status: 403, messages: []string{gatehouse.MsgMissingScope},
			description: "The API key lacks the scope the operation requires.",
			extra:       []prop{{"required_scope", withDescription(str(), "The scope that is missing, e.g. leads:read.")}}},
		{name: "NotFound", status: 404, messages: []string{gatehouse.MsgNotFound},
			description: "No such record in the caller's organization (also for a malformed id)."},
		{name: "UnsupportedResource", status: 404, messages: []string{gatehouse.MsgUnsupportedResource},
			description: "No operation is served at this path."},
		{name: "MethodNotAllowed", status: 405, messages: []string{gatehouse.MsgMethodNotAllowed},
			description: "The path does not support this method; Allow lists those it does."},
		{name: "IdempotencyInProgress", status: 409, messages: []string{gatehouse.MsgIdempotencyInProgress},
			description: "The first request with this Idempotency-Key has not finished; retry after Retry-After seconds."},
		{name: "BodyTooLarge", status: 413, messages: []string{gatehouse.MsgBodyTooLarge},
			description: "The request body is above the size limit (1 MiB by default)."},
		{name: "IdempotencyMismatch", status: 422, messages: []string{gatehouse.MsgIdempotencyMismatch},
			description: "The Idempotency-Key was used with another method, path or body."},
		{name: "RateLimited", status: 429, messages: []string{gatehouse.MsgRateLimited},
			description: "The API key's rate limit (or the client address's failed-authentication limit) is used up; retry after Retry-After seconds."},
		{name: "Internal", status: 500, messages: []string{gatehouse.MsgInternal},
			description: "An unexpected failure; the cause is logged by the server, never written."},
		{name: "LimiterUnavailable", status: 503, messages: []string{MsgLimiterUnavailable},
			description: "The rate limiter cannot reach its backend and fails closed; retry after Retry-After seconds."},
	}
}

// errorSet maps messages to error kinds: the catalogue plus the custom
// errors of route documentation.
type errorSet struct {
	byMsg map[string]*errorKind
	names map[string]*errorKind
	used  map[string]bool // names of kinds referenced by the document
}

func newErrorSet(disabled string) *errorSet {
	es := &errorSet{byMsg: map[string]*errorKind{}, names: map[string]*errorKind{}, used: map[string]bool{}}
	for _, k := range catalogue(disabled) {
		k := k
		es.names[k.name] = &k
		for _, m := range k.messages {
			es.byMsg[m] = &k
		}
	}
	return es
}

// kind returns the kind of msg, or nil.
func (es *errorSet) kind(msg string) *errorKind { return es.byMsg[msg] }

// fromDoc returns the kind an ErrorDoc of route documentation describes.
func (es *errorSet) fromDoc(d resource.ErrorDoc) (*errorKind, error) {
	if d.Message == "" {
		return nil, fmt.Errorf("error without Message")
	}
	if k, ok := es.byMsg[d.Message]; ok {
		if d.Status != 0 && d.Status != k.status {
			return nil, fmt.Errorf("error %q has status %d in the catalogue, not %d", d.Message, k.status, d.Status)
		}
		if d.Extra != nil {
			return nil, fmt.Errorf("error %q is in the catalogue: leave Extra nil", d.Message)
		}
		return k, nil
	}
	if d.Status < 400 || d.Status > 599 {
		return nil, fmt.Errorf("error %q: Status %d is not an error status", d.Message, d.Status)
	}
	k := &errorKind{name: camel(d.Message), status: d.Status, messages: []string{d.Message}}
	names := make([]string, 0, len(d.Extra))
	for name := range d.Extra {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "error" || name == "request_id" {
			return nil, fmt.Errorf("error %q: Extra must not redefine %q", d.Message, name)
		}
		s, err := parseSchema(d.Extra[name])
		if err != nil {
			return nil, fmt.Errorf("error %q: Extra %s: %w", d.Message, name, err)
		}
		k.extra = append(k.extra, prop{name, s})
	}
	if prev, ok := es.names[k.name]; ok {
		return nil, fmt.Errorf("error %q: its schema name Error%s is taken by %q", d.Message, k.name, prev.messages[0])
	}
	es.names[k.name] = k
	es.byMsg[d.Message] = k
	return k, nil
}

// schema returns the schema of the error body.
func (k *errorKind) schema() *schema {
	msg := &schema{Type: typeList{"string"}}
	if len(k.messages) == 1 {
		msg.Const = rawJSON(k.messages[0])
	} else {
		for _, m := range k.messages {
			msg.Enum = append(msg.Enum, rawJSON(m))
		}
	}
	props := []prop{{"error", withDescription(msg, "The error message; clients may match on it.")}}
	required := []string{"error"}
	for _, p := range k.extra {
		props = append(props, p)
		required = append(required, p.name)
	}
	props = append(props, k.optional...)
	props = append(props, prop{"request_id", requestIDSchema()})
	required = append(required, "request_id")
	s := object(required, props...)
	s.Description = k.description
	return s
}

func requestIDSchema() *schema {
	return withDescription(strFormat("uuid"), "The request's id, also in the X-Request-Id header.")
}

// camel turns "webhook endpoint limit", "job_types" or "job-type" into
// "WebhookEndpointLimit", "JobTypes" and "JobType".
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == ' ' || r == '_' || r == '-' || r == '.' || r == '/':
			up = true
		case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9':
			if up && 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		}
	}
	return b.String()
}

// statusText is the default description of a status.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("Status %d", code)
}
