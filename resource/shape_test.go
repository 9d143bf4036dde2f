package resource_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// TestSQLShapeOfExistingTables checks, per dialect, the statements for an
// integer-id table (INSERT … RETURNING, the id as an int64), a global
// reference (no organization predicate) and a table without timestamps
// (ordered by id alone). Behaviour is tested on real databases in
// existing_test.go; this pins the SQL.
func TestSQLShapeOfExistingTables(t *testing.T) {
	t.Parallel()
	for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			db, mock, err := sqlmock.New(sqlmock.QueryMatcherOption(sqlmock.QueryMatcherEqual))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := time.Date(2026, 5, 1, 8, 0, 0, 123456789, time.UTC)
			keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("k"))
			if err != nil {
				t.Fatal(err)
			}
			reg, err := resource.New(resource.Options{DB: db, Dialect: d, Keyring: keyring, Now: func() time.Time { return now }, Resources: []resource.Resource{
				{
					Name: "products", IDColumn: "product_id", IDType: resource.IDInteger, OrgColumn: "tenant_id",
					Created: resource.Timestamp{Column: "inserted_at", Format: resource.TimeUnixMilli},
					Updated: resource.Timestamp{None: true},
					Fields: []resource.Field{
						{Name: "name"},
						{Name: "category_id", Type: resource.Integer, References: "categories", ReferenceColumn: "category_id", GlobalReference: true},
					},
				},
				{Name: "notes", IDType: resource.IDInteger, Created: resource.Timestamp{None: true}, Updated: resource.Timestamp{None: true}, Fields: []resource.Field{{Name: "body"}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			q := d.Rebind
			ms := now.UnixMilli()
			mock.ExpectBegin()
			mock.ExpectQuery(q(`SELECT 1 FROM "categories" WHERE "category_id" = ?`)).WithArgs(int64(3)).
				WillReturnRows(sqlmock.NewRows([]string{"1"}).AddRow(1))
			mock.ExpectQuery(q(`INSERT INTO "products" ("tenant_id", "inserted_at", "name", "category_id") VALUES (?, ?, ?, ?) RETURNING "product_id"`)).
				WithArgs("org-1", ms, "Hammer", int64(3)).WillReturnRows(sqlmock.NewRows([]string{"product_id"}).AddRow(int64(42)))
			mock.ExpectQuery(q(`SELECT "product_id", "tenant_id", "inserted_at", "name", "category_id" FROM "products" WHERE "tenant_id" = ? AND "product_id" = ?`)).
				WithArgs("org-1", int64(42)).
				WillReturnRows(sqlmock.NewRows([]string{"product_id", "tenant_id", "inserted_at", "name", "category_id"}).AddRow(int64(42), "org-1", ms, "Hammer", int64(3)))
			mock.ExpectCommit()
			notes := func() *sqlmock.Rows { return sqlmock.NewRows([]string{"id", "organization_id", "body"}) }
			mock.ExpectQuery(q(`SELECT "id", "organization_id", "body" FROM "notes" WHERE "organization_id" = ? ORDER BY "id" DESC LIMIT ?`)).
				WithArgs("org-1", 2).WillReturnRows(notes().AddRow(int64(10), "org-1", "b").AddRow(int64(9), "org-1", "a"))
			mock.ExpectQuery(q(`SELECT "id", "organization_id", "body" FROM "notes" WHERE "organization_id" = ? AND ("id" < ?) ORDER BY "id" DESC LIMIT ?`)).
				WithArgs("org-1", int64(10), 2).WillReturnRows(notes().AddRow(int64(9), "org-1", "a"))

			serve := func(method, target, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, target, strings.NewReader(body))
				ctx := gatehouse.NewCallerContext(req.Context(), gatehouse.Caller{OrgID: "org-1", Scopes: []string{"notes:read", "products:create"}})
				rec := httptest.NewRecorder()
				reg.ServeHTTP(rec, req.WithContext(ctx))
				return rec
			}
			rec := serve(http.MethodPost, "/v1/products", `{"name":"Hammer","category_id":3}`)
			if want := `"data":{"id":42,"name":"Hammer","category_id":3,"organization_id":"org-1","created_at":"2026-05-01T08:00:00.123Z"}`; rec.Code != 201 || !strings.Contains(rec.Body.String(), want) {
				t.Errorf("create: %d %s, want %s", rec.Code, rec.Body.String(), want)
			}
			if rec.Header().Get("Location") != "/v1/products/42" {
				t.Errorf("Location %q", rec.Header().Get("Location"))
			}
			page := serve(http.MethodGet, "/v1/notes?limit=1", "")
			var body struct {
				Data       []map[string]any `json:"data"`
				NextCursor string           `json:"next_cursor"`
			}
			if err := json.Unmarshal(page.Body.Bytes(), &body); err != nil || len(body.Data) != 1 || body.Data[0]["id"] != float64(10) || body.NextCursor == "" {
				t.Fatalf("first page: %v %s", err, page.Body.String())
			}
			if _, has := body.Data[0]["created_at"]; has {
				t.Errorf("created_at without a creation time: %s", page.Body.String())
			}
			if rec := serve(http.MethodGet, "/v1/notes?limit=1&cursor="+body.NextCursor, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"id":9`) {
				t.Errorf("second page: %d %s", rec.Code, rec.Body.String())
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Error(err)
			}
		})
	}
}
