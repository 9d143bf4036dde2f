package openapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"gatehouse.dev/resource"
)

// Limits of ChatGPT Actions that the Actions rendition keeps.
const (
	// ActionsMaxDescription caps operation summaries and descriptions.
	ActionsMaxDescription = 300
	// ActionsMaxParamDescription caps parameter descriptions.
	ActionsMaxParamDescription = 700
	// ActionsMaxResponseChars is the response size an Action accepts.
	ActionsMaxResponseChars = 100_000
	// DefaultObjectChars is the size ActionsOptions assumes for a JSON
	// object field.
	DefaultObjectChars = 2000
	// ConsequentialExtension marks operations that ask the user before
	// running.
	ConsequentialExtension = "x-openai-isConsequential"
)

// ActionsOptions configures [NewActions].
type ActionsOptions struct {
	// BaseURL is the public base URL of the API: an absolute https URL
	// without query or fragment, such as "https://api.example.com" (the
	// paths keep the registry's prefix). Required.
	BaseURL string
	// MaxResponseChars bounds a list answer: default
	// [ActionsMaxResponseChars].
	MaxResponseChars int
	// ObjectChars is the size assumed for the value of a JSON object field
	// (whose size the registry does not bound): default
	// [DefaultObjectChars].
	ObjectChars int
}

// NewActions builds the rendition of the document meant for import as a
// ChatGPT Action, from the same options as [New]:
//   - servers is the one absolute https BaseURL;
//   - the Bearer scheme is the only security scheme (Options.KeyHeader and
//     Options.Events are ignored);
//   - every operation has an operationId; summaries and descriptions are
//     cut to [ActionsMaxDescription] characters, parameter descriptions to
//     [ActionsMaxParamDescription]; no header parameter is required
//     (Idempotency-Key and the version header stay optional);
//   - each list operation's limit is required, with a maximum (and
//     default) such that a page of records at their declared maximum sizes
//     stays under MaxResponseChars (string fields at MaxLength characters,
//     objects at ObjectChars; text full of characters JSON must escape can
//     still exceed it);
//   - writes (POST, PUT, PATCH, DELETE) are marked
//     x-openai-isConsequential: true, reads false.
//
// Serve it with a [Handler] (Public, outside the authentication middleware,
// when the host lets the document be fetched without a key).
func NewActions(opts Options, a ActionsOptions) (*Document, error) {
	if opts.Registry == nil {
		return nil, errors.New("openapi: Options.Registry is required")
	}
	u, err := url.Parse(a.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("openapi: ActionsOptions.BaseURL %q: want an absolute https URL without query or fragment", a.BaseURL)
	}
	if a.MaxResponseChars == 0 {
		a.MaxResponseChars = ActionsMaxResponseChars
	}
	if a.ObjectChars == 0 {
		a.ObjectChars = DefaultObjectChars
	}
	if a.MaxResponseChars < 0 || a.ObjectChars < 0 {
		return nil, errors.New("openapi: ActionsOptions: negative size")
	}
	if opts.Title == "" {
		opts.Title = "API"
	}
	if opts.Version == "" {
		opts.Version = opts.Registry.Version()
	}
	opts.KeyHeader, opts.Events = "", false
	opts.Servers = []Server{{URL: strings.TrimSuffix(a.BaseURL, "/")}}
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	tree, err := b.build()
	if err != nil {
		return nil, err
	}
	comps, _ := tree["components"].(map[string]any)
	if params, ok := comps["parameters"].(map[string]any); ok {
		for _, p := range params {
			actionsParam(p)
		}
	}
	if schemes, ok := comps["securitySchemes"].(map[string]any); ok {
		for k := range schemes {
			if k != "bearerAuth" {
				delete(schemes, k)
			}
		}
	}
	limits := map[string]int{}
	for _, r := range opts.Registry.Resources() {
		limits[opts.Registry.Prefix()+"/"+r.Name] = a.pageLimit(opts.Registry, r)
	}
	for path, item := range b.paths {
		for method, o := range item {
			op, ok := o.(map[string]any)
			if !ok {
				continue
			}
			if id, _ := op["operationId"].(string); id == "" {
				return nil, fmt.Errorf("openapi: %s %s has no operationId", strings.ToUpper(method), path)
			}
			for _, k := range []string{"summary", "description"} {
				if s, ok := op[k].(string); ok {
					op[k] = cut(s, ActionsMaxDescription)
				}
			}
			switch strings.ToUpper(method) {
			case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
				op[ConsequentialExtension] = true
			default:
				op[ConsequentialExtension] = false
			}
			ps, _ := op["parameters"].([]any)
			for i, p := range ps {
				pm, _ := p.(map[string]any)
				if pm["$ref"] == "#/components/parameters/Limit" && method == "get" {
					if n, ok := limits[path]; ok {
						ps[i] = limitParam(n)
						continue
					}
				}
				actionsParam(p)
			}
		}
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

// actionsParam makes an inline parameter fit: description cut, header
// parameters optional.
func actionsParam(p any) {
	pm, ok := p.(map[string]any)
	if !ok {
		return
	}
	if d, ok := pm["description"].(string); ok {
		pm["description"] = cut(d, ActionsMaxParamDescription)
	}
	if pm["in"] == "header" {
		delete(pm, "required")
	}
}

// limitParam is the required limit of a list operation whose pages stay
// under the response bound with at most n records.
func limitParam(n int) map[string]any {
	s := integer()
	s.Minimum, s.Maximum = num(1), num(n)
	s.Default = rawJSON(n)
	return map[string]any{
		"name": "limit", "in": "query", "required": true, "schema": s,
		"description": fmt.Sprintf("The page size, 1 to %d (so that a page stays under the size an Action accepts). Use next_cursor as cursor for more.", n),
	}
}

// pageLimit is the largest page of r whose list answer stays under
// MaxResponseChars, at least 1 and at most Limits.MaxLimit.
func (a ActionsOptions) pageLimit(reg *resource.Registry, r resource.Resource) int {
	// The envelope: data brackets, limit, offset, has_more, a cursor
	// (a few hundred characters), request_id.
	const envelope = 1024
	rec := recordChars(r, a.ObjectChars)
	n := (a.MaxResponseChars - envelope) / (rec + 1)
	return max(1, min(n, reg.Limits().MaxLimit))
}

// recordChars bounds the JSON size of one record of r: member names, the
// largest value of each type, separators.
func recordChars(r resource.Resource, objectChars int) int {
	const (
		uuidChars = 38 // quoted
		timeChars = 32 // quoted RFC 3339 with microseconds
	)
	n := 2                                  // braces
	n += len(`"id":`) + uuidChars + 1       // id
	n += len(`"organization_id":`) + 66 + 1 // organization ids are at most 64 characters
	n += 2 * (len(`"created_at":`) + timeChars + 1)
	for _, f := range r.Fields {
		n += len(f.Name) + 4 // quotes, colon, comma
		switch f.Type {
		case resource.String, resource.Text, resource.Email:
			n += f.MaxLength + 2
		case resource.UUID:
			n += uuidChars
		case resource.DateTime:
			n += timeChars
		case resource.Date:
			n += 12
		case resource.Time:
			n += 7
		case resource.Integer:
			n += 20
		case resource.Number:
			n += 25
		case resource.Boolean:
			n += 5
		case resource.JSONObject:
			n += objectChars
		default:
			n += objectChars
		}
	}
	return n
}

// cut shortens s to at most n characters, at a word boundary, ending in
// "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)[:n-1]
	out := string(rs)
	if i := strings.LastIndexAny(out, " \n"); i > n/2 {
		out = out[:i]
	}
	return strings.TrimRight(out, " \n,;:") + "…"
}
