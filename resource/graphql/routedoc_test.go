package graphql_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/tenancy"
)

// TestRouteDoc: the documented route joins an OpenAPI document in both
// renditions.
func TestRouteDoc(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{})
	doc, err := openapi.New(openapi.Options{Registry: e.reg, Routes: []resource.Route{{Method: http.MethodPost, Path: "/v1/graphql", Summary: "GraphQL", Doc: graphql.RouteDoc()}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{openapi.V31, openapi.V30} {
		b, err := doc.JSON(v)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Paths map[string]map[string]struct {
				OperationID string `json:"operationId"`
			}
		}
		if err := json.Unmarshal(b, &d); err != nil || d.Paths["/v1/graphql"]["post"].OperationID != "graphql" {
			t.Errorf("%s: %v %v", v, d.Paths["/v1/graphql"], err)
		}
	}
}
