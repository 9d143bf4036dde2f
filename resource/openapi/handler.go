package openapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// HandlerOptions configures [NewHandler]. The zero value works.
type HandlerOptions struct {
	// Public documents the operation as needing no API key. The service
	// must then serve the handler outside its authentication middleware
	// (in front of the registry's chain); by default the document is, like
	// /schema, readable with any valid API key.
	Public bool
	// Logger receives the cause of a 500 (no document set); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Handler serves a [Document]: GET answers the OpenAPI 3.1 rendition,
// GET ?version=3.0 the 3.0.3 one, both as application/json. A registry
// route must exist before the registry does, and the document can only be
// built from the registry, so the handler is made first, registered with
// [Handler.Route], and given the document with [Handler.Set] once the
// registry is built; until then it answers 500.
type Handler struct {
	public bool
	logger *slog.Logger
	doc    atomic.Pointer[Document]
}

// NewHandler returns a handler without a document.
func NewHandler(opts HandlerOptions) *Handler {
	h := &Handler{public: opts.Public, logger: opts.Logger}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h
}

// Set makes the handler serve d.
func (h *Handler) Set(d *Document) { h.doc.Store(d) }

var errNoDocument = errors.New("openapi: Handler.Set has not been called")

// ServeHTTP answers the document. Query parameters other than version are
// 400 "Unsupported filters"; a version other than 3.1, 3.1.0, 3.0 or 3.0.3
// (or a repeated one) is 400 "Invalid query parameters".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		gatehouse.WriteError(w, r, h.logger, gatehouse.FieldsError(gatehouse.MsgInvalidQuery, "version").
			With("details", []gatehouse.FieldError{{Field: "version", Message: "has an invalid escape"}}))
		return
	}
	var unknown []string
	for k := range q {
		if k != "version" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		gatehouse.WriteError(w, r, h.logger, gatehouse.FieldsError(gatehouse.MsgUnsupportedFilters, unknown...))
		return
	}
	rendition := V31
	if vs, ok := q["version"]; ok {
		rendition = vs[0]
		if len(vs) != 1 || !slices.Contains([]string{V31, "3.1.0", V30, "3.0.3"}, rendition) {
			gatehouse.WriteError(w, r, h.logger, gatehouse.FieldsError(gatehouse.MsgInvalidQuery, "version").
				With("details", []gatehouse.FieldError{{Field: "version", Message: "must be 3.1 or 3.0, once"}}))
			return
		}
	}
	d := h.doc.Load()
	if d == nil {
		gatehouse.WriteError(w, r, h.logger, errNoDocument)
		return
	}
	b, _ := d.JSON(rendition) // a known rendition
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// Route returns the registry route that serves the handler at GET path
// (e.g. "/v1/openapi.json", a path the registry reserves for it),
// documented as the operation getOpenAPI.
func (h *Handler) Route(path string) resource.Route {
	return resource.Route{
		Method:  http.MethodGet,
		Path:    path,
		Summary: "This OpenAPI document",
		Handler: h,
		Doc: &resource.RouteDoc{
			OperationID: "getOpenAPI",
			Description: "The OpenAPI description of this API, generated from its registry: OpenAPI 3.1 by default, 3.0.3 with version=3.0.",
			Public:      h.public,
			Query: []resource.ParamDoc{{
				Name:        "version",
				Description: "The OpenAPI version of the document: 3.1 (default) or 3.0 (3.0.3, for tools that do not read 3.1).",
				Schema:      json.RawMessage(`{"type":"string","enum":["3.1","3.1.0","3.0","3.0.3"],"default":"3.1"}`),
			}},
			Responses: []resource.ResponseDoc{{
				Status:      http.StatusOK,
				Description: "The OpenAPI document (not wrapped in an envelope).",
				Body:        json.RawMessage(`{"type":"object","required":["openapi","info","paths"],"properties":{"openapi":{"type":"string"},"info":{"type":"object"},"paths":{"type":"object"}}}`),
			}},
			Errors: []resource.ErrorDoc{
				{Message: gatehouse.MsgUnsupportedFilters},
				{Message: gatehouse.MsgInvalidQuery},
			},
		},
	}
}
