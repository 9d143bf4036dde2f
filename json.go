package gatehouse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"unicode/utf8"
)

// DefaultMaxBodyBytes bounds request bodies when an option leaves it zero.
const DefaultMaxBodyBytes = 1 << 20

// Data is the envelope of a single record: {"data": ..., "request_id": ...}.
type Data struct {
	Data      any    `json:"data"`
	RequestID string `json:"request_id"`
}

// WriteData writes v in the single-record envelope with the request id of r.
func WriteData(w http.ResponseWriter, r *http.Request, status int, v any) {
	WriteJSON(w, status, Data{Data: v, RequestID: RequestIDFromContext(r.Context())})
}

// WriteJSON writes v as JSON with the status. Encoding errors (which only a
// programming error can cause) become a 500 in the error shape.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"` + MsgInternal + `"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// ReadBody reads the request body, bounded by limit bytes (zero means
// [DefaultMaxBodyBytes]). A declared Content-Length above the limit is
// refused before reading; a longer body is cut by http.MaxBytesReader. Both
// become 413 "Request body too large".
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, NewError(http.StatusRequestEntityTooLarge, MsgBodyTooLarge)
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, NewError(http.StatusRequestEntityTooLarge, MsgBodyTooLarge)
		}
		return nil, NewError(http.StatusBadRequest, MsgInvalidJSON).Wrap(err)
	}
	return b, nil
}

// DecodeObject decodes body, which must hold exactly one JSON object and
// nothing after it, into a map of raw members. Anything else is 400
// "Invalid JSON body", including a body that is not valid UTF-8 (JSON
// text must be; encoding/json would silently turn such bytes into U+FFFD
// and store something the client never sent). Duplicate members keep the
// last value.
func DecodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, NewError(http.StatusBadRequest, MsgInvalidJSON)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, NewError(http.StatusBadRequest, MsgInvalidJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, NewError(http.StatusBadRequest, MsgInvalidJSON).Wrap(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, NewError(http.StatusBadRequest, MsgInvalidJSON)
	}
	return m, nil
}

// ReadObject is [ReadBody] followed by [DecodeObject].
func ReadObject(w http.ResponseWriter, r *http.Request, limit int64) (map[string]json.RawMessage, error) {
	b, err := ReadBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	return DecodeObject(b)
}

// ReadFields is [ReadObject] for bodies whose members must all be among
// allowed: any other member is 400 "Unsupported or protected fields" naming
// every such member.
func ReadFields(w http.ResponseWriter, r *http.Request, limit int64, allowed ...string) (map[string]json.RawMessage, error) {
	m, err := ReadObject(w, r, limit)
	if err != nil {
		return nil, err
	}
	var bad []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return nil, FieldsError(MsgUnsupportedFields, bad...)
	}
	return m, nil
}
