package stack

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"gatehouse.dev/audit"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
)

// DefaultGraphQLSummary is the summary of the GraphQL operation in the
// OpenAPI document.
const DefaultGraphQLSummary = "GraphQL over HTTP"

// GraphQLOptions configures the GraphQL endpoint of [Options.GraphQL]
// (package gatehouse.dev/resource/graphql). The zero value is off.
type GraphQLOptions struct {
	// Path, when set (e.g. "/v1/graphql"), serves GraphQL over HTTP there
	// with [Stack.Handle]: the resources' schema behind the same key
	// header, version header, organization switch and audit log as the
	// REST API (audit route Path, operations the root fields). Instead of
	// the per-request rate limit, each key's points bucket
	// (rate_limit_per_minute × 50 points a minute by default, on the
	// stack's limiter) pays each query's cost. The route joins the OpenAPI
	// document (graphql.RouteDoc). Empty: no GraphQL endpoint.
	Path string
	// Summary of the operation in the OpenAPI document: default
	// [DefaultGraphQLSummary].
	Summary string
	// Points tunes the points bucket (graphql.LimiterCharge); Limiter is
	// set by the stack: [Stack.MeteredLimiter], so the charges are counted
	// in the rate-limit metrics. Unused when Handler.Charge is set.
	Points graphql.LimiterOptions
	// Handler tunes the handler (query limits, body size, RootFields);
	// Registry and Route are set by the stack, Charge when nil (the points
	// bucket above) and Logger when nil (the stack's).
	Handler graphql.Options
}

// checkGraphQL checks Options.GraphQL.
func (o *Options) checkGraphQL() error {
	p := o.GraphQL.Path
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("stack: Options.GraphQL.Path %q must start and not end with /", p)
	}
	if o.GraphQL.Summary == "" {
		o.GraphQL.Summary = DefaultGraphQLSummary
	}
	return nil
}

// graphqlRoutes appends the GraphQL route of the OpenAPI document to
// routes (a copy) when GraphQL is on.
func (s *Stack) graphqlRoutes(routes []resource.Route) []resource.Route {
	g := s.opts.GraphQL
	if g.Path == "" {
		return routes
	}
	return append(slices.Clip(routes), resource.Route{Method: http.MethodPost, Path: g.Path, Summary: g.Summary, Doc: graphql.RouteDoc()})
}

// buildGraphQL builds the GraphQL handler of Options.GraphQL and mounts it
// behind request id, telemetry, version, key authentication and the audit
// log; the handler charges each query itself, so the per-request rate
// limit is not in front of it.
func (s *Stack) buildGraphQL() error {
	g := s.opts.GraphQL
	if g.Path == "" {
		return nil
	}
	ho := g.Handler
	if ho.Charge == nil {
		limiter, ok := s.metered.(ratelimit.NLimiter)
		if !ok {
			return errors.New("stack: Options.GraphQL needs a rate limiter with AllowN (ratelimit.NLimiter) for its points bucket, or a Handler.Charge of its own")
		}
		po := g.Points
		po.Limiter = limiter
		charge, err := graphql.LimiterCharge(po)
		if err != nil {
			return fmt.Errorf("stack: Options.GraphQL: %w", err)
		}
		ho.Charge = charge
	}
	ho.Registry, ho.Route = s.reg, g.Path
	if ho.Logger == nil {
		ho.Logger = s.logger
	}
	h, err := graphql.New(ho)
	if err != nil {
		return fmt.Errorf("stack: Options.GraphQL: %w", err)
	}
	// A trail of its own with the stack's clock, as an embedder would
	// build it (a nil Now keeps audit's cheaper monotonic clock).
	trail, err := audit.New(audit.Options{Sink: s.sink, ClientIP: s.opts.ClientIP, Now: s.opts.Now})
	if err != nil {
		return err
	}
	s.graphql = h
	s.Handle(g.Path, s.Authenticate(trail.Wrap(h)))
	return nil
}

// GraphQL returns the GraphQL handler of [Options.GraphQL], or nil when it
// is off. It is already served at Options.GraphQL.Path; use it for
// [graphql.Handler.SDL] or [graphql.Handler.Execute].
func (s *Stack) GraphQL() *graphql.Handler { return s.graphql }

// GraphQLSDL returns the GraphQL schema (SDL) of the stack's resources, as
// introspection describes it, whether or not [Options.GraphQL] serves it:
// for printing the schema without serving (a -graphql-sdl flag) or for a
// golden file that client generators read.
func (s *Stack) GraphQLSDL() (string, error) {
	if s.graphql != nil {
		return s.graphql.SDL(), nil
	}
	h, err := graphql.New(graphql.Options{Registry: s.reg, Logger: s.logger})
	if err != nil {
		return "", fmt.Errorf("stack: GraphQL schema: %w", err)
	}
	return h.SDL(), nil
}
