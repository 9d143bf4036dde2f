package graphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"gatehouse.dev"
)

// Media types of GraphQL over HTTP.
const (
	// MediaTypeResponse is the GraphQL-over-HTTP response type: answered
	// when the client accepts it, with 400 for requests that fail before
	// execution.
	MediaTypeResponse = "application/graphql-response+json"
	mediaTypeJSON     = "application/json"
)

// Public messages of the HTTP layer.
const (
	// MsgUnsupportedMediaType answers a body that is not application/json
	// (415).
	MsgUnsupportedMediaType = "Unsupported media type: send application/json"
	// MsgBatchNotSupported answers a JSON array of requests (400).
	MsgBatchNotSupported = "Batched GraphQL requests are not supported"
	// MsgIdempotencyKey answers a request with an Idempotency-Key header
	// (400): GraphQL mutations are not replayed.
	MsgIdempotencyKey = "Idempotency-Key is not supported on GraphQL requests"
)

// ServeHTTP serves one GraphQL request: POST with a JSON body {query,
// variables, operationName}. Other methods are 405 with Allow: POST, a
// body that is not application/json 415, a JSON array (a batch) 400, an
// Idempotency-Key header 400, a body over Options.MaxBodyBytes 413: those
// answers use the REST error shape. Everything else is a GraphQL response
// with extensions.request_id: application/graphql-response+json when the
// client accepts it (400 for requests that fail before execution, 200
// otherwise), application/json with 200 otherwise. A query the caller's
// points bucket cannot pay now is 429 with Retry-After.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.route != "" {
		gatehouse.SetRoute(r.Context(), h.route)
	}
	if r.Method != http.MethodPost {
		gatehouse.WriteError(w, r, h.logger, gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).WithHeader("Allow", http.MethodPost))
		return
	}
	if r.Header.Get("Idempotency-Key") != "" {
		gatehouse.WriteError(w, r, h.logger, gatehouse.NewError(http.StatusBadRequest, MsgIdempotencyKey))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != mediaTypeJSON {
		gatehouse.WriteError(w, r, h.logger, gatehouse.NewError(http.StatusUnsupportedMediaType, MsgUnsupportedMediaType))
		return
	}
	body, err := gatehouse.ReadBody(w, r, h.body)
	if err != nil {
		gatehouse.WriteError(w, r, h.logger, err)
		return
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		gatehouse.WriteError(w, r, h.logger, gatehouse.NewError(http.StatusBadRequest, MsgBatchNotSupported))
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		gatehouse.WriteError(w, r, h.logger, err)
		return
	}
	resp, err := h.Execute(r.Context(), req)
	if err != nil {
		gatehouse.WriteError(w, r, h.logger, err)
		return
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["request_id"] = gatehouse.RequestIDFromContext(r.Context())
	status, ct := http.StatusOK, mediaTypeJSON
	if accepts(r.Header.Values("Accept"), MediaTypeResponse) {
		ct = MediaTypeResponse
		if resp.RequestError {
			status = http.StatusBadRequest
		}
	}
	buf := h.buffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledBuffer {
			h.buffers.Put(buf)
		}
	}()
	b, err := resp.appendJSON((*buf)[:0])
	if err != nil {
		gatehouse.WriteError(w, r, h.logger, err)
		return
	}
	*buf = b
	hd := w.Header()
	if resp.Throttle != nil {
		for k, v := range throttleHeaders(*resp.Throttle) {
			hd.Set(k, v)
		}
	}
	hd.Set("Content-Type", ct)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b = append(b, '\n')
	*buf = b
	_, _ = w.Write(b)
}

// maxPooledBuffer bounds the response buffers kept for reuse.
const maxPooledBuffer = 1 << 20

// decodeRequest decodes the JSON body: an object with query (a string),
// variables (an object or null) and operationName (a string or null).
// Numbers keep their digits (json.Number).
func decodeRequest(body []byte) (Request, error) {
	bad := gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidJSON)
	m, err := gatehouse.DecodeObject(body)
	if err != nil {
		return Request{}, err
	}
	var req Request
	for k, raw := range m {
		var err error
		switch k {
		case "query":
			err = json.Unmarshal(raw, &req.Query)
		case "operationName":
			var s *string
			if err = json.Unmarshal(raw, &s); err == nil && s != nil {
				req.OperationName = *s
			}
		case "variables":
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v any
			if err = dec.Decode(&v); err == nil {
				switch v := v.(type) {
				case map[string]any:
					req.Variables = v
				case nil:
				default:
					err = errors.New("variables is not an object")
				}
			}
		case "extensions":
		}
		if err != nil {
			return Request{}, bad.With("fields", []string{k}).Wrap(err)
		}
	}
	return req, nil
}

// accepts reports whether the Accept header values list the media type
// (without q=0).
func accepts(values []string, mediaType string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || !strings.EqualFold(mt, mediaType) {
				continue
			}
			if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
				continue
			}
			return true
		}
	}
	return false
}
