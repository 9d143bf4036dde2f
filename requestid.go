package gatehouse

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"gatehouse.dev/internal/uuid"
)

// RequestIDHeader is the response header that carries the request id.
const RequestIDHeader = "X-Request-Id"

type requestKey struct{}

// requestState is the per-request record shared by the middlewares of one
// chain. Inner handlers fill in what outer middlewares read after the handler
// returns (the route pattern, the outcome and the caller). mu guards every
// field but id, hdr and the embedded Context: with http.TimeoutHandler (or
// any handler that serves on another goroutine) in the chain, an inner
// handler may still write while an outer middleware reads.
//
// The state is itself the context that carries it (it answers Value for
// requestKey, and for versionKey once the [Versioner] has recorded the
// version, and delegates everything else to the parent), and it holds the
// values of the X-Request-Id header and of the Versioner's two headers, so
// that RequestID and the Versioner cost one allocation for all of them
// rather than eight (issue 17 item 3).
type requestState struct {
	context.Context           // the parent; set at creation, never changed
	id              string    // set at creation, never changed
	hdr             [3]string // header values: X-Request-Id, then Vary and the version of the first Versioner (each set once)

	mu        sync.Mutex
	route     string
	outcome   string
	caller    Caller
	hasCaller bool
	version   any       // the served API version (a string), or nil
	ops       *[]string // SetOperations (nil: none)
}

// Value returns the state itself for requestKey, and the parent's value
// for any other key.
func (st *requestState) Value(key any) any {
	switch key.(type) {
	case requestKey:
		return st
	case versionKey:
		st.mu.Lock()
		v := st.version
		st.mu.Unlock()
		if v != nil {
			return v
		}
	}
	return st.Context.Value(key)
}

// String describes the context, as the contexts of package context do.
func (st *requestState) String() string {
	return fmt.Sprint(st.Context) + ".WithValue(gatehouse request state)"
}

// stateOf returns the per-request state of ctx, or nil.
func stateOf(ctx context.Context) *requestState {
	if st, ok := ctx.(*requestState); ok {
		return st // the common case: the state is the request's context
	}
	st, _ := ctx.Value(requestKey{}).(*requestState)
	return st
}

// setHeader sets the X-Request-Id header of h to the state's id, sharing
// the state's storage for the value.
func (st *requestState) setHeader(h http.Header) {
	st.hdr[0] = st.id
	h[RequestIDHeader] = st.hdr[0:1:1]
}

// RequestID is the first middleware of every chain: it gives the request a
// fresh time-ordered UUID (version 7, so ids of one pod sort by time and
// order audit entries of the same millisecond), puts it in the context for
// [RequestIDFromContext] and sets the X-Request-Id response header. An
// incoming X-Request-Id is never adopted, so clients cannot forge audit
// entries. A caller already in the request's context
// ([NewCallerContext]) carries over.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := newState(r.Context(), uuid.NewV7(time.Now()))
		st.setHeader(w.Header())
		next.ServeHTTP(w, r.WithContext(st))
	})
}

// newState returns a new per-request state, a child of ctx, with request id
// id, carrying over the caller of the state of ctx, if any.
func newState(ctx context.Context, id string) *requestState {
	st := &requestState{Context: ctx, id: id}
	if parent := stateOf(ctx); parent != nil {
		parent.mu.Lock()
		st.caller, st.hasCaller = parent.caller, parent.hasCaller
		parent.mu.Unlock()
	}
	return st
}

// NewRequestContext returns ctx carrying request id id, for code that serves
// requests without the [RequestID] middleware (tests, background jobs). A
// caller already in ctx ([NewCallerContext]) carries over.
func NewRequestContext(ctx context.Context, id string) context.Context {
	return newState(ctx, id)
}

// RequestIDFromContext returns the request id set by [RequestID], or "".
func RequestIDFromContext(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}

// SetRoute records the route pattern that served the request (for example
// "/v1/leads/{id}"), for middlewares that run outside the router such as the
// audit log. A leading method ("GET ") is dropped. It is a no-op without the
// [RequestID] middleware.
func SetRoute(ctx context.Context, pattern string) {
	if st := stateOf(ctx); st != nil {
		if _, p, found := strings.Cut(pattern, " "); found {
			pattern = p
		}
		st.mu.Lock()
		st.route = pattern
		st.mu.Unlock()
	}
}

// RouteFromContext returns the pattern recorded by [SetRoute] or
// [RecordRoute], or "".
func RouteFromContext(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
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
