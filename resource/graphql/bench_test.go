package graphql_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// BenchmarkList50 serves a list of 50 leads through the REST handler and
// through GraphQL (the same fields; then with each lead's client nested,
// one more SELECT), on SQLite and PostgreSQL: the issue asks GraphQL to
// stay within 2× of REST.
func BenchmarkList50(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := dbtest.DB{Name: name, Dialect: tenancy.SQLite}
			if name == "postgres" {
				db.DB, db.Dialect = dbtest.Postgres(b), tenancy.Postgres
			} else {
				db.DB = dbtest.SQLite(b)
			}
			e := newEnv(b, db, graphql.Options{})
			org := uuid.New()
			var clients []string
			for i := range 10 {
				clients = append(clients, e.create(org, "clients", fmt.Sprintf(`{"first_name":"C%d"}`, i)))
			}
			for i := range 60 {
				e.create(org, "leads", fmt.Sprintf(`{"first_name":"L%d","last_name":"X","email":"l%d@example.com","status":"new","client_id":%q}`, i, i, clients[i%10]))
			}
			ctx := callerCtx(org, e.all)
			rest := func() *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				e.reg.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/leads?limit=50", nil).WithContext(ctx))
				return rec
			}
			gql := func(q string) func() *httptest.ResponseRecorder {
				body, _ := json.Marshal(map[string]string{"query": q})
				return func() *httptest.ResponseRecorder {
					req := httptest.NewRequest(http.MethodPost, "/v1/graphql", strings.NewReader(string(body))).WithContext(ctx)
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					e.h.ServeHTTP(rec, req)
					return rec
				}
			}
			const fields = `id databaseId leadNumber firstName lastName email status scheduledAt clientId notes score hot budget organizationId createdAt updatedAt`
			for _, bc := range []struct {
				name string
				do   func() *httptest.ResponseRecorder
			}{
				{"rest", rest},
				{"graphql", gql(`{ leads(first: 50) { nodes { ` + fields + ` } pageInfo { hasNextPage endCursor } } }`)},
				{"graphql+client", gql(`{ leads(first: 50) { nodes { ` + fields + ` client { id firstName } } pageInfo { hasNextPage endCursor } } }`)},
			} {
				if rec := bc.do(); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
					b.Fatalf("%s: %d %s", bc.name, rec.Code, rec.Body)
				}
				b.Run(bc.name, func(b *testing.B) {
					b.ReportAllocs()
					start := cpuTime()
					for b.Loop() {
						bc.do()
					}
					b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}
