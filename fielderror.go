package gatehouse

import (
	"net/http"
	"slices"
)

// FieldError is one entry of the "details" of a 400 "Invalid field values".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidFields returns the 400 "Invalid field values" error with "fields"
// (the sorted, distinct field names) and "details" (in the given order).
func InvalidFields(details ...FieldError) *Error {
	fields := make([]string, 0, len(details))
	for _, d := range details {
		fields = append(fields, d.Field)
	}
	slices.Sort(fields)
	fields = slices.Compact(fields)
	return &Error{
		Status: http.StatusBadRequest,
		Msg:    MsgInvalidFieldValues,
		Extra:  map[string]any{"fields": fields, "details": details},
	}
}

// FieldsError returns a 400 error with message msg and the sorted, distinct
// field names as "fields" (for "Unsupported or protected fields", "Invalid
// foreign key", "Unsupported filters" and "Invalid query parameters").
func FieldsError(msg string, fields ...string) *Error {
	f := slices.Clone(fields)
	slices.Sort(f)
	f = slices.Compact(f)
	if f == nil {
		f = []string{}
	}
	return &Error{Status: http.StatusBadRequest, Msg: msg, Extra: map[string]any{"fields": f}}
}
