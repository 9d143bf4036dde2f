// Package openapi generates the OpenAPI document of a resource registry:
// [New] reads a *resource.Registry — its resources, fields, filters,
// scopes, limits and the [resource.RouteDoc] of each extra route — and
// renders an OpenAPI 3.1 document and its OpenAPI 3.0.3 rendition, for SDK
// generators, Postman, ChatGPT Actions, Zapier or n8n.
//
// For every resource the document has the operations list<Names>,
// get<Name>, create<Name> and update<Name> (e.g. listLeads, getLead) under
// a tag named after the resource, each with its scope in the description
// and as x-required-scope; the list parameters (limit, offset with its
// bounds, cursor, created_after, created_before, q and each exact filter
// with its type); the schemas <Name> (the record; protected members
// readOnly), <Name>Create (required fields required, closed),
// <Name>Update (everything optional, minProperties 1, closed), <Name>List
// and <Name>Envelope; and every error the chain may answer, from the error
// catalogue, as oneOf variants per status (400 Unsupported filters,
// Invalid query parameters, Invalid cursor, Invalid JSON body, Unsupported
// or protected fields, Invalid field values, Invalid foreign key, No fields
// to update, Invalid request headers, Unsupported API version; 401; 403
// Missing scope and module disabled; 404; 409; 413; 422; 429 with
// Retry-After and the RateLimit headers; 500; 503).
//
// What the generator cannot see — the middlewares around the registry —
// is declared in [Options]: the alternative key header, the
// gatehouse.Versioner, the Idempotency-Key middleware, the rate-limit
// headers and a fail-closed limiter. Extra routes (whoami, webhooks, this
// document) describe themselves with [resource.RouteDoc]; a route without
// one is an error, so the document stays complete.
//
// [Handler] serves the document at GET /v1/openapi.json (?version=3.0 for
// the 3.0.3 rendition), as a registry route behind the same
// authentication as /schema, or in front of it when
// [HandlerOptions].Public is set. Output is deterministic, so a service can
// commit its document and review changes to its API surface as diffs.
//
// The package imports resource and the root package only; it never
// imports auth.
package openapi
