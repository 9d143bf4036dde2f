package main

import (
	"errors"
	"io"

	"gatehouse.dev/audit"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/stack"
)

// graphqlPath is where the GraphQL API is served.
const graphqlPath = "/v1/graphql"

// graphqlRoute documents it in the OpenAPI document.
var graphqlRoute = resource.Route{Method: "POST", Path: graphqlPath, Summary: "GraphQL over HTTP", Doc: graphql.RouteDoc()}

// mountGraphQL serves the GraphQL API of the same resources at
// POST /v1/graphql: the same keys, version header, organization switch and
// audit log as REST; instead of the per-request limit, each key's bucket
// of rate_limit_per_minute × 50 points a minute pays each query's cost.
func mountGraphQL(s *stack.Stack, o stack.Options) error {
	limiter, ok := s.MeteredLimiter().(ratelimit.NLimiter)
	if !ok {
		return errors.New("joby: the rate limiter has no AllowN")
	}
	charge, err := graphql.LimiterCharge(graphql.LimiterOptions{Limiter: limiter})
	if err != nil {
		return err
	}
	trail, err := audit.New(audit.Options{Sink: s.AuditSink(), ClientIP: o.ClientIP, Now: o.Now})
	if err != nil {
		return err
	}
	h, err := graphql.New(graphql.Options{Registry: s.Registry(), Charge: charge, Route: graphqlPath, Logger: o.Logger})
	if err != nil {
		return err
	}
	s.Handle(graphqlPath, s.Authenticate(trail.Wrap(h)))
	return nil
}

// printGraphQLSDL prints the GraphQL schema (-graphql-sdl).
func printGraphQLSDL(w io.Writer, s *stack.Stack) error {
	h, err := graphql.New(graphql.Options{Registry: s.Registry()})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, h.SDL())
	return err
}
