package gatehouse

import (
	"context"
	"net/http"
	"strings"
	"time"

	"gatehouse.dev/internal/uuid"
)

// RequestIDHeader is the response header that carries the request id.
const RequestIDHeader = "X-Request-Id"

type requestKey struct{}

// requestState is the per-request record shared by the middlewares of one
// chain. Inner handlers fill in what outer middlewares read after the handler
// returns (the route pattern, the outcome and the caller, see outcome.go).
type requestState struct {
	id      string
	route   string
	outcome string
	keyID   string
	orgID   string
	// principal is the authenticated caller (an auth.Key), set once by
	// the authentication middleware before it calls the next handler.
	principal any
}

// RequestID is the first middleware of every chain: it gives the request a
// fresh time-ordered UUID (version 7, so ids of one pod sort by time and
// order audit entries of the same millisecond), puts it in the context for
// [RequestIDFromContext] and sets the X-Request-Id response header. An
// incoming X-Request-Id is never adopted, so clients cannot forge audit
// entries.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{id: uuid.NewV7(time.Now())}
		w.Header().Set(RequestIDHeader, st.id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, st)))
	})
}

// NewRequestContext returns ctx carrying request id id, for code that serves
// requests without the [RequestID] middleware (tests, background jobs).
func NewRequestContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, &requestState{id: id})
}

// RequestIDFromContext returns the request id set by [RequestID], or "".
func RequestIDFromContext(ctx context.Context) string {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.id
	}
	return ""
}

// SetRoute records the route pattern that served the request (for example
// "/v1/leads/{id}"), for middlewares that run outside the router such as the
// audit log. A leading method ("GET ") is dropped. It is a no-op without the
// [RequestID] middleware.
func SetRoute(ctx context.Context, pattern string) {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		if _, p, found := strings.Cut(pattern, " "); found {
			pattern = p
		}
		st.route = pattern
	}
}

// RouteFromContext returns the pattern recorded by [SetRoute] or
// [RecordRoute], or "".
func RouteFromContext(ctx context.Context) string {
	if st, ok := ctx.Value(requestKey{}).(*requestState); ok {
		return st.route
	}
	return ""
}

// RecordRoute wraps a router such as *http.ServeMux: after it has served the
// request, the pattern it matched (r.Pattern) is recorded with [SetRoute].
func RecordRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern != "" && RouteFromContext(r.Context()) == "" {
			SetRoute(r.Context(), r.Pattern)
		}
	})
}
