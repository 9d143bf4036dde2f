package openapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"

	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/sqldb"
)

// Example builds the document of a one-resource registry, serves it as a
// registry route and lists its operations.
func Example() {
	dir, _ := os.MkdirTemp("", "openapi-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	// The handler is registered before the registry exists, and gets the
	// document built from it afterwards.
	spec := openapi.NewHandler(openapi.HandlerOptions{})
	reg, err := resource.New(resource.Options{
		DB: db,
		Resources: []resource.Resource{{
			Name: "leads",
			Fields: []resource.Field{
				{Name: "lead_number", Sequence: true},
				{Name: "first_name", Required: true},
				{Name: "email", Type: resource.Email},
			},
			Filters: []string{"id", "email"},
		}},
		Routes: []resource.Route{spec.Route("/v1/openapi.json")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	doc, err := openapi.New(openapi.Options{Registry: reg, Title: "CRM", KeyHeader: "X-CRM-Key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	spec.Set(doc)

	rec := httptest.NewRecorder()
	spec.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json?version=3.0", nil))
	var served struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("openapi", served.OpenAPI)
	var ops []string
	for path, item := range served.Paths {
		for method, op := range item {
			ops = append(ops, fmt.Sprintf("%-6s %-21s %-12s %v", method, path, op["operationId"], op["x-required-scope"]))
		}
	}
	slices.Sort(ops)
	for _, op := range ops {
		fmt.Println(op)
	}
	// Output:
	// openapi 3.0.3
	// get    /v1/leads             listLeads    leads:read
	// get    /v1/leads/{id}        getLead      leads:read
	// get    /v1/openapi.json      getOpenAPI   <nil>
	// get    /v1/schema            getSchema    <nil>
	// patch  /v1/leads/{id}        updateLead   leads:update
	// post   /v1/leads             createLead   leads:create
}
