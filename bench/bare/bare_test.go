package bare_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse.dev/bench/bare"
	"gatehouse.dev/internal/dbtest"
)

// TestBareServesLeads: the baseline answers the benchmark's four workloads
// with the example's shapes, numbers leads per organization and keeps
// organizations apart, on SQLite and PostgreSQL.
func TestBareServesLeads(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		for _, s := range bare.Schema(db.Dialect) {
			if _, err := db.DB.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		h := bare.New(db.DB, db.Dialect)
		do := func(method, target, org, body string) (int, map[string]any) {
			t.Helper()
			req := httptest.NewRequest(method, target, strings.NewReader(body))
			if org != "" {
				req.Header.Set(bare.OrgHeader, org)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
			}
			return rec.Code, out
		}
		const orgA, orgB = "0b6c7a1e-0000-4000-8000-00000000000a", "0b6c7a1e-0000-4000-8000-00000000000b"
		var ids []string
		for i, st := range []string{"New", "Won", "New"} {
			code, out := do("POST", "/v1/leads", orgA, `{"first_name":"F","status":"`+st+`"}`)
			rec, _ := out["data"].(map[string]any)
			if code != http.StatusCreated || rec["lead_number"] != float64(i+1) || rec["status"] != st {
				t.Fatalf("create %d: %d %v", i, code, out)
			}
			ids = append(ids, rec["id"].(string))
		}
		if code, out := do("POST", "/v1/leads", orgB, `{"first_name":"B"}`); code != http.StatusCreated || out["data"].(map[string]any)["lead_number"] != float64(1) {
			t.Fatalf("other organization's first lead: %d %v", code, out)
		}
		if code, _ := do("POST", "/v1/leads", orgA, `{"lead_number":9}`); code != http.StatusBadRequest {
			t.Fatalf("protected field: %d", code)
		}
		code, out := do("GET", "/v1/leads?limit=2", orgA, "")
		if list, _ := out["data"].([]any); code != 200 || len(list) != 2 || out["has_more"] != true {
			t.Fatalf("list: %d %v", code, out)
		}
		code, out = do("GET", "/v1/leads?status=Won&limit=50", orgA, "")
		if list, _ := out["data"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != ids[1] {
			t.Fatalf("filter: %d %v", code, out)
		}
		if code, out := do("GET", "/v1/leads/"+ids[0], orgA, ""); code != 200 || out["data"].(map[string]any)["id"] != ids[0] {
			t.Fatalf("get: %d %v", code, out)
		}
		if code, _ := do("GET", "/v1/leads/"+ids[0], orgB, ""); code != http.StatusNotFound {
			t.Fatalf("other organization's get: %d", code)
		}
	})
}
