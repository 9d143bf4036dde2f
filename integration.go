package gatehouse

// Messages of the error catalogue for the integration features: cursor
// pagination (package resource), Idempotency-Key (package idempotency) and
// the API version header ([Versioner]). Like the other Msg constants they
// are public "error" texts that clients may match on, so they never change.
const (
	// MsgInvalidCursor (400): a cursor= value that is malformed, altered,
	// signed by an unknown secret, or used with other filters, on another
	// resource or by another organization than the one it was issued to.
	MsgInvalidCursor = "Invalid cursor"
	// MsgInvalidHeaders (400): request headers with invalid values; "fields"
	// names the headers and "details" says why, like
	// [MsgInvalidQuery] for query parameters.
	MsgInvalidHeaders = "Invalid request headers"
	// MsgIdempotencyMismatch (422): an Idempotency-Key reused with another
	// method, path or body.
	MsgIdempotencyMismatch = "Idempotency key reused with a different request"
	// MsgIdempotencyInProgress (409, with Retry-After): the first request
	// with this Idempotency-Key has not finished yet.
	MsgIdempotencyInProgress = "A request with this idempotency key is in progress"
	// MsgUnsupportedVersion (400): the version header names a version the
	// API does not serve; "supported" lists those it does.
	MsgUnsupportedVersion = "Unsupported API version"
)
