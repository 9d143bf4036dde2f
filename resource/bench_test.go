package resource_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// BenchmarkList50 serves GET /v1/leads?limit=50 from SQLite: routing, scope
// check, query parsing, the organization-scoped query, scanning and JSON.
func BenchmarkList50(b *testing.B) {
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(b), Dialect: tenancy.SQLite}
	e := newEnv(b, db, nil)
	org := uuid.New()
	for i := range 60 {
		e.mustCreate("leads", fmt.Sprintf(`{"first_name":"First%d","last_name":"Last","phone":"+1555000%04d","email":"lead%d@example.com","status":"New","notes":"Some notes about the lead"}`, i, i, i), org)
	}
	ctx := gatehouse.NewRequestContext(context.Background(), uuid.New())
	ctx = tenancy.NewContext(scopeCtx(ctx, e.all), org)
	req := httptest.NewRequest("GET", "/v1/leads?limit=50&status=New", nil).WithContext(ctx)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.reg.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkParseListQuery parses a typical list query.
func BenchmarkParseListQuery(b *testing.B) {
	res := testResources()[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resource.ParseListQuery(res, resource.Limits{}, "limit=50&offset=100&status=New&q=ann&created_after=2026-01-01"); err != nil {
			b.Fatal(err)
		}
	}
}
