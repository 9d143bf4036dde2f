package gatehouse

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
)

// Messages of the error catalogue. They are the public "error" texts of the
// API; clients may match on them, so they never change.
const (
	MsgInvalidJSON         = "Invalid JSON body"
	MsgUnsupportedFields   = "Unsupported or protected fields"
	MsgInvalidFieldValues  = "Invalid field values"
	MsgInvalidForeignKey   = "Invalid foreign key"
	MsgUnsupportedFilters  = "Unsupported filters"
	MsgInvalidQuery        = "Invalid query parameters"
	MsgNoFieldsToUpdate    = "No fields to update"
	MsgMissingKey          = "Missing API key"
	MsgInvalidKey          = "Invalid API key"
	MsgKeyExpired          = "API key expired"
	MsgKeyRevoked          = "API key revoked"
	MsgModuleDisabled      = "API access is not enabled for this organization"
	MsgMissingScope        = "Missing scope"
	MsgNotFound            = "Not found"
	MsgUnsupportedResource = "Unsupported resource"
	MsgMethodNotAllowed    = "Method not allowed"
	MsgBodyTooLarge        = "Request body too large"
	MsgRateLimited         = "Rate limit exceeded"
	MsgInternal            = "Internal server error"
	MsgUnauthorized        = "Unauthorized"
	MsgClientClosedRequest = "Client closed request"
	MsgInvalidOrgID        = "Invalid organization id"
)

// StatusClientClosedRequest is written (and audited) when the client went
// away before its request was answered: nginx's 499.
const StatusClientClosedRequest = 499

// Error is the one error type of gatehouse. Everything a client may see goes
// through it: Status is the HTTP status, Msg the public message written as
// "error", Extra more public fields (for example "required_scope" or
// "fields"), Header response headers to set (for example Retry-After). Err is
// the cause: it is logged by [WriteError] and never written to the client.
type Error struct {
	Status int
	Msg    string
	Extra  map[string]any
	Header http.Header
	Err    error
}

// NewError returns an *Error with the status and public message.
func NewError(status int, msg string) *Error {
	return &Error{Status: status, Msg: msg}
}

// Error returns the public message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// With returns a copy of e with the extra field key set to v.
func (e *Error) With(key string, v any) *Error {
	c := *e
	c.Extra = maps.Clone(e.Extra)
	if c.Extra == nil {
		c.Extra = make(map[string]any, 2)
	}
	c.Extra[key] = v
	return &c
}

// WithHeader returns a copy of e that also sets the response header key.
func (e *Error) WithHeader(key, value string) *Error {
	c := *e
	c.Header = e.Header.Clone()
	if c.Header == nil {
		c.Header = make(http.Header, 1)
	}
	c.Header.Set(key, value)
	return &c
}

// Wrap returns a copy of e with cause err.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// StatusOf returns the status of the *Error in err's chain, or 500.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}

// WriteError writes err as the JSON error shape
//
//	{"error": "<message>", ...Extra, "request_id": "<id>"}
//
// An *Error found with errors.As is written as it is (its cause, if any, is
// logged at debug level). Any other error is logged with its cause at error
// level and answered 500 {"error":"Internal server error"}, so SQL text and
// host names never reach clients — except a context.Canceled error of a
// request whose context is done (the client went away), which is logged at
// debug level and answered 499. A nil logger means slog.Default().
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	var ctx context.Context = context.Background()
	if r != nil {
		ctx = r.Context()
	}
	var e *Error
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away (or the server is shutting down): not a
		// server error. 499 (nginx's "client closed request") is what the
		// audit log records; nobody reads the body.
		logger.DebugContext(ctx, "gatehouse: request cancelled", "request_id", RequestIDFromContext(ctx), "err", err)
		e = &Error{Status: StatusClientClosedRequest, Msg: MsgClientClosedRequest}
	} else if !errors.As(err, &e) || e.Status < 400 {
		logger.ErrorContext(ctx, "gatehouse: internal error", "request_id", RequestIDFromContext(ctx), "err", err)
		e = &Error{Status: http.StatusInternalServerError, Msg: MsgInternal}
	} else if e.Err != nil {
		logger.DebugContext(ctx, "gatehouse: request failed", "request_id", RequestIDFromContext(ctx), "status", e.Status, "err", e.Err)
	}
	for k, vs := range e.Header {
		w.Header()[k] = vs
	}
	body := make(map[string]any, len(e.Extra)+2)
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Msg
	body["request_id"] = RequestIDFromContext(ctx)
	writeJSON(w, e.Status, body)
}
