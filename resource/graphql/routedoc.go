package graphql

import (
	"encoding/json"
	"net/http"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// RouteDoc documents POST <prefix>/graphql for the OpenAPI document
// (package resource/openapi), e.g. in openapi.Options.Routes:
//
//	resource.Route{Method: "POST", Path: "/v1/graphql", Summary: "GraphQL", Doc: graphql.RouteDoc()}
//
// It describes the JSON request and the GraphQL response; the schema itself
// is the SDL ([Handler.SDL]) and introspection.
func RouteDoc() *resource.RouteDoc {
	return &resource.RouteDoc{
		OperationID: "graphql",
		Tag:         "graphql",
		Description: "GraphQL over HTTP on the same resources, keys, scopes and organizations as the REST API. " +
			"The schema is served by introspection. Each query is charged its cost in points " +
			"(1 per root field, first per connection, 1 per record for each to-one reference under it, " +
			"10 per mutation) from the key's bucket of rate_limit_per_minute × 50 points a minute; " +
			"extensions.cost reports it. Field errors, forbidden fields (FORBIDDEN with required_scope) " +
			"and userErrors come back with status 200; clients that accept application/graphql-response+json " +
			"get 400 for requests that fail before execution.",
		Body: json.RawMessage(`{"type":"object","required":["query"],"properties":{` +
			`"query":{"type":"string","description":"The GraphQL document."},` +
			`"variables":{"type":["object","null"],"description":"Values of the operation's variables."},` +
			`"operationName":{"type":["string","null"],"description":"The operation to run, for a document with several."}}}`),
		Responses: []resource.ResponseDoc{{
			Status:      http.StatusOK,
			Description: "A GraphQL response: data (absent when the request failed before execution), errors, extensions (request_id, cost).",
			Body: json.RawMessage(`{"type":"object","properties":{` +
				`"data":{"type":["object","null"]},` +
				`"errors":{"type":"array","items":{"$ref":"#/components/schemas/GraphQLError"}},` +
				`"extensions":{"type":"object"}}}`),
		}},
		Errors: []resource.ErrorDoc{
			{Status: http.StatusBadRequest, Message: MsgBatchNotSupported},
			{Status: http.StatusBadRequest, Message: MsgIdempotencyKey},
			{Status: http.StatusBadRequest, Message: gatehouse.MsgInvalidJSON},
			{Status: http.StatusRequestEntityTooLarge, Message: gatehouse.MsgBodyTooLarge},
			{Status: http.StatusUnsupportedMediaType, Message: MsgUnsupportedMediaType},
		},
		Components: map[string]json.RawMessage{
			"GraphQLError": json.RawMessage(`{"type":"object","required":["message"],"properties":{` +
				`"message":{"type":"string"},` +
				`"locations":{"type":"array","items":{"type":"object","properties":{"line":{"type":"integer"},"column":{"type":"integer"}}}},` +
				`"path":{"type":"array","items":{"description":"A response key (string) or a list index (integer)."}},` +
				`"extensions":{"type":"object"}}}`),
		},
	}
}
