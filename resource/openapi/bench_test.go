package openapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
)

// BenchmarkNew builds both renditions of the test registry's document (a
// service does it once at startup).
func BenchmarkNew(b *testing.B) {
	st := newStack(b, stackOptions{routes: []resource.Route{widgetRoute()}})
	opts := openapi.Options{Registry: st.reg, Idempotency: true, RateLimitHeaders: true, Events: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openapi.New(opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServe serves the prebuilt document.
func BenchmarkServe(b *testing.B) {
	st := newStack(b, stackOptions{})
	req := httptest.NewRequest(http.MethodGet, "/v1/openapi.json?version=3.0", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		st.spec.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// FuzzRouteSchema feeds arbitrary schemas to the generator through route
// documentation: New returns a document or an error, never panics, and a
// document it returns is valid JSON in both renditions.
func FuzzRouteSchema(f *testing.F) {
	for _, seed := range []string{
		`{"type":"object","properties":{"a":{"type":["string","null"],"const":"x"}},"required":["a"]}`,
		`{"type":"array","items":{"$ref":"#/components/schemas/FieldError"},"minItems":1}`,
		`{"oneOf":[{"type":"integer","minimum":1},{"type":"null"}]}`,
		`{"type":"null"}`,
		`{"$ref":"#/components/schemas/Nope"}`,
		`{"additionalProperties":{"type":"boolean"},"examples":[{}]}`,
		`{"type":{"a":1}}`, `[]`, `null`, `{"type":"string"} x`,
	} {
		f.Add(seed)
	}
	db := dbtest.SQLite(f)
	f.Fuzz(func(t *testing.T, s string) {
		reg, err := resource.New(resource.Options{DB: db, Routes: []resource.Route{{
			Method: http.MethodPost, Path: "/v1/things", Handler: http.NotFoundHandler(),
			Doc: &resource.RouteDoc{OperationID: "createThing", Body: json.RawMessage(s),
				Responses: []resource.ResponseDoc{{Status: 200, Data: json.RawMessage(s)}}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := openapi.New(openapi.Options{Registry: reg})
		if err != nil {
			return
		}
		for _, r := range []string{openapi.V31, openapi.V30} {
			b, err := doc.JSON(r)
			if err != nil || !json.Valid(b) {
				t.Fatalf("%s: invalid JSON (%v)", r, err)
			}
		}
	})
}
