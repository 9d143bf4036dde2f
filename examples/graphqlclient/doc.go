// Package graphqlclient is a typed Go client of the Joby GraphQL API
// (examples/joby, POST /v1/graphql) generated with genqlient from the
// committed schema examples/joby/testdata/schema.graphql and the
// operations in operations.graphql. It proves that the schema gatehouse
// generates drives a real external client end to end; see client_test.go.
//
// Regenerate it after the schema or the operations changed (the test
// TestGeneratedUpToDate fails until then):
//
//	go generate ./...
package graphqlclient

//go:generate go tool genqlient genqlient.yaml
