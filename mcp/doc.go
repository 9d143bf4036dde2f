// Package mcp serves a gatehouse registry to AI agents over the Model
// Context Protocol, on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk) and its Streamable HTTP
// transport, statelessly: every request stands alone, so any pod answers
// any request.
//
// Each resource of the registry becomes four tools — list_<name>,
// get_<singular>, create_<singular>, update_<singular> — whose input and
// output JSON Schemas come from package resource/openapi's builder, with
// the annotations the MCP specification defines (list and get read-only;
// create additive and not idempotent; update destructive and idempotent).
// A whoami tool describes the key, and the /schema document is the
// resource gatehouse://schema. Tools run through the registry's Go-level
// data API (resource.Registry.List, Get, Create, Update), so records,
// validation messages and field details are the REST API's, in tool results
// with isError for errors.
//
// The server sits behind the same middlewares as the REST API:
//
//	srv, err := mcp.New(mcp.Options{Registry: reg, Limiter: limiter, Audit: sink})
//	mux.Handle("/mcp", gatehouse.RequestID(authn.Wrap(srv)))
//
// so every HTTP request is authenticated with the API key
// (Authorization: Bearer), with the failed-authentication throttle,
// revocation and organization isolation of REST. Every tool is registered;
// tools/list shows only those the key's scopes allow, and calling one
// without its scope is a tool error naming the missing scope. Each
// tools/call is one request of the key: it takes one token of the key's
// rate limit (Options.Limiter; over the limit, a tool error with
// retry_after) and writes one audit entry (Options.Audit) with the route
// "MCP <tool>" and the status the REST operation would have answered.
// initialize, tools/list and resources/read are not counted. Requests with
// an Origin header not in Options.AllowedOrigins are refused.
//
// Clients that can send a header (Claude Desktop and Claude Code through
// their configuration, IDE agents, the MCP Inspector) connect with the URL
// and an Authorization header; clients that require OAuth are not served.
package mcp
