package resource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

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
	ctx = withCaller(ctx, org, e.all)
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

// BenchmarkCursorPage serves page 1 and page 500 of 100,000 leads (pages of
// 200) through the registry, on SQLite and PostgreSQL: with keyset
// pagination the last page costs what the first does. offset=9800 (page 50,
// the deepest page offset can reach) is there for comparison. The dataset is
// built once per database in one transaction; the page-500 cursor is reached
// with pages of 1,000 (a cursor does not depend on limit).
func BenchmarkCursorPage(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := dbtest.DB{Name: name, Dialect: tenancy.SQLite}
			if name == "postgres" {
				db.DB, db.Dialect = dbtest.Postgres(b), tenancy.Postgres
			} else {
				db.DB = dbtest.SQLite(b)
			}
			e := newEnv(b, db, func(o *resource.Options) { o.Keyring = testKeyring(b, "bench") })
			org := uuid.New()
			const total, limit = 100_000, 200
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			rows := make([]leadRow, total)
			for i := range rows {
				st := "new"
				if i%3 == 0 {
					st = "won"
				}
				// Two leads per second: ties on created_at are ordered by id.
				// Time-ordered ids keep the bulk insert sequential in both
				// indexes.
				at := base.Add(time.Duration(i/2) * time.Second)
				rows[i] = leadRow{id: uuid.NewV7(at), first: fmt.Sprintf("Lead %d", i), status: st, at: at}
			}
			bulkLeads(b, db, org, rows)
			if _, err := db.DB.Exec("ANALYZE"); err != nil {
				b.Fatal(err)
			}
			ctx := gatehouse.NewRequestContext(context.Background(), uuid.New())
			ctx = withCaller(ctx, org, e.all)
			type page struct {
				Data       []struct{} `json:"data"`
				HasMore    bool       `json:"has_more"`
				NextCursor string     `json:"next_cursor"`
			}
			get := func(b *testing.B, target string) page {
				rec := httptest.NewRecorder()
				e.reg.ServeHTTP(rec, httptest.NewRequest("GET", target, nil).WithContext(ctx))
				if rec.Code != 200 {
					b.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
				}
				var p page
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					b.Fatal(err)
				}
				return p
			}
			// Walk to the start of page 500: 99 pages of 1,000, then 4 of 200.
			cursor := ""
			for i := range 103 {
				l := 1000
				if i >= 99 {
					l = limit
				}
				target := fmt.Sprintf("/v1/leads?limit=%d", l)
				if cursor != "" {
					target += "&cursor=" + cursor
				}
				cursor = get(b, target).NextCursor
			}
			last := get(b, "/v1/leads?limit=200&cursor="+cursor)
			if len(last.Data) != limit || last.HasMore {
				b.Fatalf("page 500: %d rows, has_more %v", len(last.Data), last.HasMore)
			}
			for _, bc := range []struct{ name, target string }{
				{"page=1", "/v1/leads?limit=200"},
				{"page=500", "/v1/leads?limit=200&cursor=" + cursor},
				{"offset=9800", "/v1/leads?limit=200&offset=9800"},
			} {
				b.Run(bc.name, func(b *testing.B) {
					req := httptest.NewRequest("GET", bc.target, nil).WithContext(ctx)
					b.ReportAllocs()
					for b.Loop() {
						rec := httptest.NewRecorder()
						e.reg.ServeHTTP(rec, req)
						if rec.Code != 200 {
							b.Fatalf("%d %s", rec.Code, rec.Body)
						}
					}
				})
			}
		})
	}
}
