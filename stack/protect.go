package stack

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
)

// ProtectOptions tunes [Stack.Protect]. The zero value works.
type ProtectOptions struct {
	// RoutePattern returns the route pattern of a request, recorded in
	// its audit entry and metrics. Nil means r.Pattern, set by
	// http.ServeMux, with the prefix an http.StripPrefix around the mux
	// removed put back in front. Routers that do not set r.Pattern give
	// their own; with chi:
	//
	//	func(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }
	RoutePattern func(r *http.Request) string
	// Method and Path name the route as clients call it (e.g. "GET",
	// "/api/orders/{id}") for the OpenAPI document. Required with Doc.
	Method, Path string
	// Summary of the operation in the OpenAPI document.
	Summary string
	// Doc, when set, lists the route in the OpenAPI document served at
	// {Prefix}/openapi.json.
	Doc *resource.RouteDoc
}

// Protect puts h, one of the host's own handlers, behind the same chain as
// the resources: API key authentication (401), the organization's API
// switch (403), the scope sc (403 "Missing scope"), the key's rate limit
// (429) and the per-key audit log, whose entries carry the route pattern
// (see [ProtectOptions.RoutePattern]). h finds the caller with
// gatehouse.CallerFromContext and the organization with
// tenancy.FromContext. The handler works under any mount: a ServeMux pattern, http.StripPrefix or
// chi's Mount.
//
// sc is registered: the admin API accepts it for keys from now on, and
// [Stack.Scopes] lists it. With [ProtectOptions.Doc] the route joins the
// OpenAPI document.
//
// Call Protect while setting up routes. Like http.ServeMux.Handle with an
// invalid pattern, it panics on a malformed scope or an operation the
// OpenAPI document cannot hold (a missing Method or Path, a duplicate
// operation id): both are mistakes in literals that the first start
// reveals.
func (s *Stack) Protect(sc string, h http.Handler, opts ...ProtectOptions) http.Handler {
	parsed, err := scope.Parse(sc)
	if err != nil {
		panic(fmt.Sprintf("stack: Protect: %v", err))
	}
	if len(opts) > 1 {
		panic("stack: Protect takes at most one ProtectOptions")
	}
	var o ProtectOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	if err := s.register(parsed, o); err != nil {
		panic(err.Error())
	}
	pattern := o.RoutePattern
	if pattern == nil {
		pattern = servePattern
	}
	inner := scope.Require(parsed)(h)
	chain := s.authn.Wrap(s.trail.Wrap(s.limits.Wrap(inner)))
	chain = s.tel.Middleware(chain)
	return gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := pattern(r); p != "" {
			gatehouse.SetRoute(r.Context(), p)
		}
		chain.ServeHTTP(w, r)
	}))
}

// register records the scope and, with a Doc, the documented route.
func (s *Stack) register(sc scope.Scope, o ProtectOptions) error {
	s.mu.Lock()
	s.scopes = scope.NewSet(append(s.scopes.Scopes(), sc)...)
	s.mu.Unlock()
	if s.adminAPI != nil {
		if err := s.adminAPI.AddScopes(sc); err != nil {
			return fmt.Errorf("stack: Protect: %w", err)
		}
	}
	if o.Doc == nil {
		return nil
	}
	if o.Method == "" || !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("stack: Protect %s: ProtectOptions.Method and Path are required with Doc", sc)
	}
	s.mu.Lock()
	s.protected = append(s.protected, resource.Route{Method: o.Method, Path: o.Path, Scope: sc, Summary: o.Summary, Doc: o.Doc})
	s.mu.Unlock()
	if err := s.rebuildDocument(); err != nil {
		s.mu.Lock()
		s.protected = s.protected[:len(s.protected)-1]
		s.mu.Unlock()
		return fmt.Errorf("stack: Protect %s %s: %w", o.Method, o.Path, err)
	}
	return nil
}

// servePattern is the route pattern http.ServeMux matched (method and host
// dropped), with the prefix removed by an http.StripPrefix outside the mux
// put back: the request URI's path ends with the stripped path, and what
// precedes it is the prefix.
func servePattern(r *http.Request) string {
	p := r.Pattern
	if p == "" {
		return ""
	}
	if _, rest, ok := strings.Cut(p, " "); ok {
		p = rest
	}
	if i := strings.IndexByte(p, '/'); i > 0 { // a host pattern
		p = p[i:]
	}
	if r.RequestURI == "" {
		return p
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || u.Path == r.URL.Path {
		return p
	}
	if prefix, ok := strings.CutSuffix(u.Path, r.URL.Path); ok && r.URL.Path != "" {
		return prefix + p
	}
	return p
}
