package openapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
)

// TestIDTypes: integer ids are integers, text ids patterned strings, in
// records, paths, filters and references; resources without timestamps
// document neither the members nor created_after/created_before. Live
// exchanges validate against both renditions.
func TestIDTypes(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	for _, s := range []string{
		`CREATE TABLE kinds (kind_id INTEGER PRIMARY KEY, name TEXT)`,
		`CREATE TABLE parts (part_id INTEGER PRIMARY KEY, org TEXT NOT NULL, name TEXT, kind_id INTEGER, bin_id TEXT)`,
		`CREATE TABLE bins (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, label TEXT, created_at INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	var n atomic.Int64
	reg, err := resource.New(resource.Options{DB: db, Resources: []resource.Resource{
		{
			Name: "parts", IDColumn: "part_id", IDType: resource.IDInteger, OrgColumn: "org",
			Created: resource.Timestamp{None: true}, Updated: resource.Timestamp{None: true},
			Fields: []resource.Field{
				{Name: "name"},
				{Name: "kind_id", Type: resource.Integer, References: "kinds", ReferenceColumn: "kind_id", GlobalReference: true},
				{Name: "bin_id", References: "bins"},
			},
			Filters: []string{"id", "bin_id"},
		},
		{
			Name: "bins", IDType: resource.IDText,
			NewID:   func(context.Context) (string, error) { return "bin:" + strconv.FormatInt(n.Add(1), 10), nil },
			Created: resource.Timestamp{Format: resource.TimeUnix},
			Fields:  []resource.Field{{Name: "label"}},
			Filters: []string{"id"},
		},
	}, Routes: []resource.Route{openapi.NewHandler(openapi.HandlerOptions{}).Route("/v1/openapi.json")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := openapi.New(openapi.Options{Registry: reg, Title: "Parts"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rendition := range []string{openapi.V31, openapi.V30} {
		doc := load(t, d, rendition)
		kind := func(s interface {
			Slice() []string
		}, format string) string {
			types := slices.DeleteFunc(slices.Clone(s.Slice()), func(s string) bool { return s == "null" })
			return strings.Join(types, ",") + "/" + format
		}
		part, bin := doc.Components.Schemas["Part"].Value, doc.Components.Schemas["Bin"].Value
		for name, c := range map[string]struct {
			got, want string
		}{
			"Part.id":      {kind(part.Properties["id"].Value.Type, part.Properties["id"].Value.Format), "integer/int64"},
			"Part.kind_id": {kind(part.Properties["kind_id"].Value.Type, part.Properties["kind_id"].Value.Format), "integer/int64"},
			"Part.bin_id":  {kind(part.Properties["bin_id"].Value.Type, part.Properties["bin_id"].Value.Format), "string/"},
			"Bin.id":       {kind(bin.Properties["id"].Value.Type, bin.Properties["id"].Value.Format), "string/"},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s is %s, want %s", rendition, name, c.got, c.want)
			}
		}
		if bin.Properties["id"].Value.Pattern == "" {
			t.Errorf("%s: text ids have no pattern", rendition)
		}
		for _, m := range []string{"created_at", "updated_at"} {
			if part.Properties[m] != nil || slices.Contains(part.Required, m) {
				t.Errorf("%s: Part documents %s", rendition, m)
			}
			if bin.Properties[m] == nil {
				t.Errorf("%s: Bin lacks %s", rendition, m)
			}
		}
		params := map[string]string{}
		for _, p := range doc.Paths.Value("/v1/parts").Get.Parameters {
			params[p.Value.Name] = kind(p.Value.Schema.Value.Type, p.Value.Schema.Value.Format)
		}
		if params["id"] != "integer/int64" || params["created_after"] != "" || params["created_before"] != "" {
			t.Errorf("%s: parts list parameters %v", rendition, params)
		}
		for _, p := range doc.Paths.Value("/v1/parts/{id}").Get.Parameters {
			if p.Value.Name == "id" && kind(p.Value.Schema.Value.Type, p.Value.Schema.Value.Format) != "integer/int64" {
				t.Errorf("%s: path id of parts is %v", rendition, p.Value.Schema.Value.Type)
			}
		}
	}

	// Live exchanges against both renditions.
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: "org-1", Scopes: scope.NewSet("parts:read", "parts:create", "parts:update", "bins:read", "bins:create", "bins:update").Sorted()})
		reg.ServeHTTP(w, r.WithContext(ctx))
	}))
	if _, err := db.Exec(`INSERT INTO kinds (name) VALUES ('bolt')`); err != nil {
		t.Fatal(err)
	}
	vs := []*validator{newValidator(t, d, openapi.V31), newValidator(t, d, openapi.V30)}
	send := func(method, path, body string) map[string]any {
		t.Helper()
		mk := func() *http.Request {
			req := httptest.NewRequest(method, "http://parts.test"+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			return req
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, mk())
		for i, v := range vs {
			if err := v.check(mk(), true, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Errorf("%s %s → %d %s: rendition %d: %v", method, path, rec.Code, rec.Body.String(), i, err)
			}
		}
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out
	}
	b, _ := send("POST", "/v1/bins", `{"label":"A1"}`)["data"].(map[string]any)
	binID, _ := b["id"].(string)
	p, _ := send("POST", "/v1/parts", `{"name":"bolt","kind_id":1,"bin_id":"`+binID+`"}`)["data"].(map[string]any)
	id, _ := p["id"].(float64)
	if id < 1 || binID == "" {
		t.Fatalf("created part %v, bin %v", p, b)
	}
	pid := strconv.Itoa(int(id))
	send("GET", "/v1/parts/"+pid, "")
	send("PATCH", "/v1/parts/"+pid, `{"name":"nut"}`)
	send("GET", "/v1/parts?id="+pid, "")
	send("GET", "/v1/parts?bin_id="+binID, "")
	send("GET", "/v1/parts/999", "")
	send("GET", "/v1/bins/"+binID, "")
	send("GET", "/v1/bins?created_after=2020-01-01", "")
	send("POST", "/v1/parts", `{"kind_id":7}`)
}
