package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// Renditions of the document, as [Document.JSON] takes them.
const (
	// V31 is OpenAPI 3.1.0, the default.
	V31 = "3.1"
	// V30 is OpenAPI 3.0.3, for tools that do not read 3.1 yet.
	V30 = "3.0"
)

type version int

const (
	v31 version = iota
	v30
)

// Options configures [New]. Only Registry is required; every other zero
// field leaves the feature undocumented or takes the default in its
// comment. Document what the service's chain really does: the generator
// cannot see the middlewares around the registry.
type Options struct {
	// Registry whose resources and routes are documented. Required. Every
	// route must carry a [resource.RouteDoc].
	Registry *resource.Registry
	// Title of the API: default "API".
	Title string
	// Description of the API (CommonMark). The generator appends the
	// conventions every operation follows (envelopes, errors, paging).
	Description string
	// Version is info.version: default the registry's version.
	Version string
	// Servers where the API is served; none means the host serving the
	// document.
	Servers []Server
	// KeyHeader is the alternative request header that carries the API
	// key besides Authorization: Bearer (auth.Options.Header, e.g.
	// "X-Joby-API-Key"), documented as the apiKey scheme "apiKeyHeader".
	// Empty documents the bearer scheme only.
	KeyHeader string
	// KeyFormat describes the key in the bearer scheme (bearerFormat),
	// e.g. "joby_<env>_<public_id>_<secret>".
	KeyFormat string
	// Versioner, when the chain has one, documents its request header (a
	// parameter of every operation), its response header and its 400
	// "Unsupported API version".
	Versioner *gatehouse.Versioner
	// Idempotency documents the idempotency middleware (package
	// idempotency in resource.Options.Middleware): the Idempotency-Key
	// header of every POST and PATCH, Idempotent-Replayed, 400 "Invalid
	// request headers", 409 and 422.
	Idempotency bool
	// RateLimitHeaders documents the headers of the rate-limit middleware
	// (package ratelimit with both header families on): RateLimit-Policy,
	// RateLimit and X-RateLimit-Limit, -Remaining and -Reset. The 429 is
	// documented either way.
	RateLimitHeaders bool
	// DisabledMessage is the 403 "error" the chain answers while an
	// organization's API is switched off (auth.Options.DisabledMessage):
	// default gatehouse.MsgModuleDisabled.
	DisabledMessage string
	// LimiterUnavailable documents the 503 "Rate limiter unavailable" of a
	// limiter that fails closed (redislimit.FailClosed).
	LimiterUnavailable bool
	// Events documents the webhook deliveries of package webhook as the
	// OpenAPI 3.1 webhooks <singular>.created and <singular>.updated of
	// each resource: a POST signed per Standard Webhooks (webhook-id,
	// webhook-timestamp, webhook-signature) with the payload
	// {"id","type","created_at","organization_id","data"}, data being the
	// record. OpenAPI 3.0 has no webhooks; its rendition leaves them out.
	Events bool
	// Routes are operations served outside the registry (for example the
	// host's handlers behind gatehouse.dev/stack's Protect) that the
	// document lists after the registry's routes; each needs a Doc, like a
	// registry route.
	Routes []resource.Route
}

// Server is a place the API is served.
type Server struct {
	// URL, e.g. "https://api.example.com" or "{origin}". Required.
	URL string
	// Description of the server.
	Description string
	// Variables substitute the {name} parts of URL.
	Variables map[string]ServerVariable
}

// ServerVariable is a {name} of a [Server] URL.
type ServerVariable struct {
	// Default value. Required.
	Default string
	// Enum, when set, lists the allowed values (Default among them).
	Enum []string
	// Description of the variable.
	Description string
}

// Document is a generated OpenAPI document in its two renditions. It is
// immutable and safe for concurrent use.
type Document struct {
	v31, v30 []byte
}

// New builds the document of the registry in both renditions, or returns
// an error naming the first thing it cannot document (an undocumented
// route, an unknown schema keyword, a reference to an undeclared schema, a
// duplicate operation id, a name taken twice).
//
// The output is deterministic: objects are written with sorted keys and
// lists in declaration order, so the document can be committed and
// diffed.
func New(opts Options) (*Document, error) {
	if opts.Registry == nil {
		return nil, errors.New("openapi: Options.Registry is required")
	}
	if opts.Title == "" {
		opts.Title = "API"
	}

	if opts.Version == "" {
		opts.Version = opts.Registry.Version()
	}
	for i, s := range opts.Servers {
		if s.URL == "" {
			return nil, fmt.Errorf("openapi: Options.Servers[%d]: URL is required", i)
		}
	}
	if opts.KeyHeader != "" && (strings.EqualFold(opts.KeyHeader, "Authorization") || !validToken(opts.KeyHeader)) {
		return nil, fmt.Errorf("openapi: Options.KeyHeader %q is not a usable header name", opts.KeyHeader)
	}
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	tree, err := b.build()
	if err != nil {
		return nil, err
	}
	d := &Document{}
	if d.v31, err = encode(tree, v31); err != nil {
		return nil, err
	}
	if d.v30, err = encode(tree, v30); err != nil {
		return nil, err
	}
	return d, nil
}

// JSON returns the document in the rendition [V31] ("" means V31 too) or
// [V30], indented, with a trailing newline. The caller must not modify the
// returned slice.
func (d *Document) JSON(rendition string) ([]byte, error) {
	switch rendition {
	case "", V31, "3.1.0":
		return d.v31, nil
	case V30, "3.0.3":
		return d.v30, nil
	}
	return nil, fmt.Errorf("openapi: unknown rendition %q: want %s or %s", rendition, V31, V30)
}

// encode renders the document tree for v.
func encode(tree map[string]any, v version) ([]byte, error) {
	out, err := materialize(tree, v)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", map[version]string{v31: "3.1", v30: "3.0"}[v], err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// materialize returns node with every *schema rendered for v and the
// version-specific members resolved.
func materialize(node any, v version) (any, error) {
	switch n := node.(type) {
	case *schema:
		return n.render(v)
	case versioned:
		if v == v30 {
			return materialize(n.v30, v)
		}
		return materialize(n.v31, v)
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, e := range n {
			if vv, ok := e.(versioned); ok && (v == v31 && vv.v31 == nil || v == v30 && vv.v30 == nil) {
				continue
			}
			m, err := materialize(e, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = m
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, e := range n {
			m, err := materialize(e, v)
			if err != nil {
				return nil, err
			}
			out[i] = m
		}
		return out, nil
	}
	return node, nil
}

// versioned is a member whose value differs between the renditions; a nil
// value leaves the member out.
type versioned struct{ v31, v30 any }

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
