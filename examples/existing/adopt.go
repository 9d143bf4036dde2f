package main

import (
	"context"
	"net/http"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// adopt is the whole adoption of gatehouse by the shop: its products table
// as a resource, the developer API and the admin API mounted on its
// router, and one of its own handlers behind API keys.
func adopt(ctx context.Context, svc *Service, keyring *gatehouse.Keyring, adminToken string) (*stack.Stack, error) {
	api, err := stack.New(ctx, stack.Options{
		DB: svc.DB, Dialect: svc.Dialect, Keyring: keyring, AdminToken: adminToken, KeyPrefix: "shop",
		OrgIDType: tenancy.OrgIDInteger, // the shop's tenants are bigint ids
		Resources: []resource.Resource{{
			Name: "products", IDColumn: "product_id", IDType: resource.IDInteger, OrgColumn: "tenant_id",
			Created: resource.Timestamp{Column: "inserted_at"}, Updated: resource.Timestamp{Column: "modified_at"},
			Fields: []resource.Field{
				{Name: "name", Type: resource.String, Required: true},
				{Name: "price_cents", Type: resource.Integer},
				{Name: "category_id", Type: resource.Integer, References: "categories", ReferenceColumn: "category_id", GlobalReference: true},
			},
			Filters: []string{"id", "category_id"},
		}},
	})
	if err != nil { // New checks the declaration against the live tables: one error listing every mismatch
		return nil, err
	}
	svc.Mux.Handle("/v1/", api.Public())
	svc.Mux.Handle("/admin/", api.Admin())
	report := svc.ProductReport(func(r *http.Request) (string, bool) { return tenancy.FromContext(r.Context()) })
	svc.Mux.Handle("GET /reports/products/{id}", api.Protect("reports:read", report))
	return api, nil
}
