// Package client is a Go client of the Joby API (examples/joby) generated
// with oapi-codegen from the committed OpenAPI 3.0.3 rendition of its
// document, examples/joby/testdata/openapi-3.0.json. It proves that the
// document gatehouse generates drives a real client end to end; see
// client_test.go and docs/openapi.md.
//
// Regenerate it after the document changed (the test TestGeneratedUpToDate
// fails until then):
//
//	go generate ./...
package client

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../joby/testdata/openapi-3.0.json
