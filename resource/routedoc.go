package resource

import "encoding/json"

// RouteDoc documents a [Route] for generated API descriptions (package
// resource/openapi builds an OpenAPI document from the registry with it).
// The registry itself never reads it.
//
// Schemas are JSON Schema 2020-12 objects in JSON, as OpenAPI 3.1 writes
// them: a nullable string is {"type":["string","null"]}, a fixed value
// {"const":…}. They may refer to the named schemas of any route's
// Components as {"$ref":"#/components/schemas/<Name>"}. The generator
// converts them for OpenAPI 3.0 and refuses keywords it does not know.
type RouteDoc struct {
	// OperationID names the operation in generated clients, e.g.
	// "getWhoAmI". Required; unique across the document.
	OperationID string
	// Tag groups the operation, e.g. "webhooks". Empty means "meta".
	Tag string
	// Description is longer CommonMark text; Route.Summary is the
	// one-line summary.
	Description string
	// Public operations need no API key: the service serves them outside
	// its authentication middleware (they are documented without security
	// requirements and without the 401, 403 and 429 answers).
	Public bool
	// Path documents the {name} wildcards of Route.Path; a wildcard not
	// listed is a string.
	Path []ParamDoc
	// Query lists the query parameters, in the order documented.
	Query []ParamDoc
	// Body is the schema of the JSON request body; nil means the
	// operation takes none.
	Body json.RawMessage
	// Responses are the successful answers, e.g. 200 or 201 and 204.
	// At least one is required.
	Responses []ResponseDoc
	// Errors are the errors the handler itself may answer besides those
	// of the chain around it (authentication, scope, rate limit, API
	// version, Idempotency-Key, 500), e.g. 404 "Not found".
	Errors []ErrorDoc
	// Components are named schemas the other schemas refer to (e.g.
	// "WebhookEndpoint"). Routes may declare the same name only with the
	// same schema.
	Components map[string]json.RawMessage
}

// ParamDoc documents a path or query parameter of a [RouteDoc].
type ParamDoc struct {
	// Name of the parameter. Required.
	Name string
	// Description of the parameter.
	Description string
	// Required query parameters must be present (path parameters always
	// are).
	Required bool
	// Schema of the value; nil means a string.
	Schema json.RawMessage
}

// ResponseDoc documents a successful answer of a [RouteDoc].
type ResponseDoc struct {
	// Status is the HTTP status, e.g. 200. Required.
	Status int
	// Description of the answer; empty means the status text.
	Description string
	// Data is the schema of the "data" member of the envelope
	// {"data":…,"request_id":…} that gatehouse.WriteData writes.
	Data json.RawMessage
	// Body is the schema of a JSON body written as it is, without the
	// envelope. Set at most one of Data and Body; neither means the answer
	// has no body (e.g. 204).
	Body json.RawMessage
	// Headers the answer carries besides those of every answer (e.g.
	// Location).
	Headers []HeaderDoc
}

// HeaderDoc documents a response header of a [ResponseDoc].
type HeaderDoc struct {
	// Name of the header, e.g. "Location". Required.
	Name string
	// Description of the header.
	Description string
	// Required headers are always sent with the answer.
	Required bool
	// Schema of the value; nil means a string.
	Schema json.RawMessage
}

// ErrorDoc documents an error answer, written by gatehouse.WriteError as
// {"error":Message,…Extra,"request_id":…}.
type ErrorDoc struct {
	// Status is the HTTP status. Zero means the status the error
	// catalogue gives Message (e.g. 404 for gatehouse.MsgNotFound).
	Status int
	// Message is the "error" text. Required.
	Message string
	// Extra are the schemas of the members besides "error" and
	// "request_id", all always present (e.g. "limit"). Nil means the
	// members the error catalogue gives Message (e.g. "fields" and
	// "details" for gatehouse.MsgInvalidFieldValues), or none.
	Extra map[string]json.RawMessage
}
