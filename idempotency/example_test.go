package idempotency_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/idempotency"
)

func Example() {
	// The keyring seals stored responses; in production it comes from
	// gatehouse.ParseKeyring(os.Getenv("GATEHOUSE_SECRET_KEYS")).
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("2026-03"))
	if err != nil {
		fmt.Println(err)
		return
	}
	mw, err := idempotency.New(idempotency.Options{
		Store:   idempotency.NewMemory(idempotency.MemoryOptions{}),
		Keyring: keyring,
		// Key is nil: stored responses are scoped by the request's
		// gatehouse.Caller, which the authentication middleware records.
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	orders := 0
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orders++
		w.Header().Set("Location", fmt.Sprintf("/v1/orders/%d", orders))
		gatehouse.WriteJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": orders}})
	})
	h := mw.Wrap(create) // in a registry: resource.Options{Middleware: …{mw.Wrap}}
	send := func(key, body string) {
		req := httptest.NewRequest("POST", "/v1/orders", strings.NewReader(body))
		req = req.WithContext(gatehouse.NewCallerContext(req.Context(), gatehouse.Caller{KeyID: "key-1", OrgID: "org-1"}))
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Location"), rec.Header().Get("Idempotent-Replayed"), strings.TrimSpace(rec.Body.String()))
	}
	send("order-42", `{"item":"key blank"}`) // processed
	send("order-42", `{"item":"key blank"}`) // a retry: replayed, nothing created
	send("order-42", `{"item":"other"}`)     // same key, another request
	send("order-43", `{"item":"key blank"}`) // a new key: processed
	send("", `{}`)
	fmt.Println("orders created:", orders)
	// Output:
	// 201 /v1/orders/1  {"data":{"id":1}}
	// 201 /v1/orders/1 true {"data":{"id":1}}
	// 422   {"error":"Idempotency key reused with a different request","request_id":""}
	// 201 /v1/orders/2  {"data":{"id":2}}
	// 400   {"details":[{"field":"Idempotency-Key","message":"must be 1 to 255 printable ASCII characters"}],"error":"Invalid request headers","fields":["Idempotency-Key"],"request_id":""}
	// orders created: 2
}
