// Package stack assembles gatehouse's standard chain from one [Options]
// struct: the resource registry with its OpenAPI document, whoami and
// webhook routes; API key authentication with the key cache; per-key rate
// limits; the per-key audit log; idempotency; the admin API; health; and
// the background loops, run together by [Stack.Run].
//
// It sits on top, beside admin and telemetry: nothing in the library
// imports it, and it is the one package that compiles go-redis for every
// part. Every part stays usable on its own; the stack only wires them, so
// a service that needs another arrangement builds its chain from the
// parts, as this package's source does.
//
// A service adds its public API in a few lines:
//
//	s, err := stack.New(ctx, stack.Options{
//		DB: db, Resources: resources, KeyPrefix: "acme",
//		Keyring: keyring, AdminToken: os.Getenv("ADMIN_TOKEN"),
//	})
//	...
//	mux.Handle("/v1/", s.Public())
//	mux.Handle("/admin/", s.Admin())
//	mux.Handle("GET /orders/{id}", s.Protect("orders:read", ordersHandler))
//	go s.Run(ctx)
//
// The public chain, outermost first: request id, telemetry, API version
// (with Options.VersionHeader), authentication (401, 403 when the
// organization's API is off, failed-authentication throttle), audit, rate
// limit (429), then the registry's router, scope check (403), idempotency
// and handler. [Stack.Protect] puts the host's own handlers behind the same
// chain.
//
// Backends: with Redis (Options.Redis or RedisURL) the rate limits, the
// audit logs and the key-change feed are shared by every pod; without it
// rate limits are per pod, the audit log is in the database and key
// changes reach other pods within the key cache's TTL. Keys, organizations,
// idempotent replays, webhooks and the admin actions trail are always in
// the database.
//
// Secrets: list cursors and webhook signing secrets need the server
// [gatehouse.Keyring]. New fails, naming the features, when one is on and
// no keyring is given, except in Options.Development, which generates one
// and keeps it in the database (never for production). The package reads
// no environment variables.
//
// Schema: New checks the declared resources against the live tables
// (resource.Registry.Check) and fails listing every mismatch, unless
// Options.SkipCheck; Options.CreateTables creates the tables of resources
// declared from scratch.
//
// Beside the API: [Stack.Handle] serves the host's other handlers on the
// same listener (an MCP server behind [Stack.Authenticate], the ChatGPT
// Actions document of [Stack.Actions], the keys page of [Stack.KeysPage]);
// [Stack.Listen], [Stack.Serve] and, for a development server,
// [Stack.DemoKey] and [Stack.PrintDemo] run it.
//
// GraphQL: Options.GraphQL.Path serves the resources over GraphQL
// (package resource/graphql) behind the same authentication, version
// header and audit log, each query paid in points from the key's bucket on
// the same limiter; [Stack.GraphQLSDL] gives the schema without serving.
//
// Links: Options.PublicURL is the one address the API is reached at; the
// Location of a create, the Link of a list and the OpenAPI servers use it.
package stack
