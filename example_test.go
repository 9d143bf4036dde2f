package gatehouse_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"gatehouse.dev"
)

// Handlers answer errors in the one JSON shape through WriteError; the
// RequestID middleware gives every response a request id.
func ExampleWriteError() {
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope).With("required_scope", "leads:create")
		gatehouse.WriteError(w, r, nil, err)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/leads", nil))

	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, body["error"], body["required_scope"], body["request_id"] == rec.Header().Get("X-Request-Id"))
	// Output: 403 Missing scope leads:create true
}
