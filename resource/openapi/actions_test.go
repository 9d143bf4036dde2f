package openapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
)

// TestActions checks each rule of the ChatGPT Actions rendition. The import
// into ChatGPT itself cannot be tested here.
func TestActions(t *testing.T) {
	t.Parallel()
	var opts openapi.Options
	st := newStack(t, stackOptions{mod: func(o *openapi.Options) {
		o.Idempotency = true
		o.Events = true
		o.Description = strings.Repeat("Long text. ", 100)
		opts = *o
	}})
	for _, bad := range []string{"", "http://api.gadgets.test", "/v1", "https://", "https://api.gadgets.test/?x=1", "https://u:p@api.gadgets.test"} {
		if _, err := openapi.NewActions(opts, openapi.ActionsOptions{BaseURL: bad}); err == nil {
			t.Errorf("BaseURL %q accepted", bad)
		}
	}
	d, err := openapi.NewActions(opts, openapi.ActionsOptions{BaseURL: "https://api.gadgets.test/"})
	if err != nil {
		t.Fatal(err)
	}
	load(t, d, openapi.V31)
	load(t, d, openapi.V30)
	doc := decode(t, d, openapi.V31)

	t.Run("absolute https server", func(t *testing.T) {
		servers, _ := doc["servers"].([]any)
		if len(servers) != 1 || servers[0].(map[string]any)["url"] != "https://api.gadgets.test" {
			t.Errorf("servers %v", servers)
		}
	})
	t.Run("bearer only", func(t *testing.T) {
		schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
		b, _ := schemes["bearerAuth"].(map[string]any)
		if len(schemes) != 1 || b["type"] != "http" || b["scheme"] != "bearer" {
			t.Errorf("securitySchemes %v", schemes)
		}
		if got, _ := json.Marshal(doc["security"]); string(got) != `[{"bearerAuth":[]}]` {
			t.Errorf("security %s", got)
		}
		if _, ok := doc["webhooks"]; ok {
			t.Error("webhooks in an Action")
		}
	})
	ops := operations(doc)
	if len(ops) < 9 {
		t.Fatalf("only %d operations", len(ops))
	}
	t.Run("operation ids, texts, consequential", func(t *testing.T) {
		ids := map[string]bool{}
		for where, op := range ops {
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q missing or repeated", where, id)
			}
			ids[id] = true
			for _, k := range []string{"summary", "description"} {
				if s, _ := op[k].(string); utf8.RuneCountInString(s) > openapi.ActionsMaxDescription {
					t.Errorf("%s: %s has %d characters", where, k, utf8.RuneCountInString(s))
				}
			}
			write := !strings.HasPrefix(where, "GET ")
			if op[openapi.ConsequentialExtension] != write {
				t.Errorf("%s: %s = %v", where, openapi.ConsequentialExtension, op[openapi.ConsequentialExtension])
			}
		}
	})
	t.Run("parameters", func(t *testing.T) {
		var params []map[string]any
		for _, op := range ops {
			for _, p := range op["parameters"].([]any) {
				params = append(params, resolveParam(doc, p.(map[string]any)))
			}
		}
		for _, p := range doc["components"].(map[string]any)["parameters"].(map[string]any) {
			params = append(params, p.(map[string]any))
		}
		headers := 0
		for _, p := range params {
			if d, _ := p["description"].(string); utf8.RuneCountInString(d) > openapi.ActionsMaxParamDescription {
				t.Errorf("parameter %v: description of %d characters", p["name"], utf8.RuneCountInString(d))
			}
			if p["in"] == "header" {
				headers++
				if p["required"] == true {
					t.Errorf("required header %v", p["name"])
				}
			}
		}
		if headers == 0 {
			t.Error("no optional header parameters (Idempotency-Key, version) to check")
		}
	})

	// A page at the documented maximum limit, of records at their maximum
	// declared sizes, stays under the response bound.
	t.Run("limit keeps a page under 100,000 characters", func(t *testing.T) {
		limit := listLimit(t, doc, ops["GET /v1/gadgets"])
		if limit < 1 || limit >= resource.DefaultMaxLimit {
			t.Fatalf("limit %d", limit)
		}
		org := uuid.New()
		auth := "Bearer " + org + ":gadgets:read,gadgets:create"
		big := map[string]any{
			"name": strings.Repeat("n", 255), "body": strings.Repeat("b", 2000), "contact": strings.Repeat("c", 243) + "@example.com",
			"born": "2020-02-29", "at_time": "23:59", "seen_at": "2026-01-02T03:04:05.123456Z", "count": -9223372036854775808,
			"ratio": -1.2345678901234567e-300, "active": false, "extra": map[string]string{"k": strings.Repeat("x", openapi.DefaultObjectChars-12)},
		}
		body, _ := json.Marshal(big)
		for range limit + 1 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/v1/gadgets", bytes.NewReader(body))
			req.Header.Set("Authorization", auth)
			st.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/v1/gadgets?limit=%d", limit), nil)
		req.Header.Set("Authorization", auth)
		st.handler.ServeHTTP(rec, req)
		var page struct {
			Data    []any `json:"data"`
			HasMore bool  `json:"has_more"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Data) != limit || !page.HasMore {
			t.Fatalf("list: %d records, has_more %v, %v", len(page.Data), page.HasMore, err)
		}
		n := utf8.RuneCount(rec.Body.Bytes())
		if n >= openapi.ActionsMaxResponseChars {
			t.Errorf("a page of %d records is %d characters", limit, n)
		}
		t.Logf("limit %d: %d characters", limit, n)
	})
}

// operations returns the operations of a decoded document by
// "METHOD path".
func operations(doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if m, ok := op.(map[string]any); ok {
				out[strings.ToUpper(method)+" "+path] = m
			}
		}
	}
	return out
}

func resolveParam(doc map[string]any, p map[string]any) map[string]any {
	ref, ok := p["$ref"].(string)
	if !ok {
		return p
	}
	name := strings.TrimPrefix(ref, "#/components/parameters/")
	m, _ := doc["components"].(map[string]any)["parameters"].(map[string]any)[name].(map[string]any)
	return m
}

// listLimit returns the maximum of the required limit of a list operation.
func listLimit(t *testing.T, doc map[string]any, op map[string]any) int {
	t.Helper()
	for _, p := range op["parameters"].([]any) {
		pm := resolveParam(doc, p.(map[string]any))
		if pm["name"] != "limit" {
			continue
		}
		if pm["required"] != true {
			t.Errorf("limit is not required: %v", pm)
		}
		s, _ := pm["schema"].(map[string]any)
		n, _ := s["maximum"].(float64)
		return int(n)
	}
	t.Fatal("no limit parameter")
	return 0
}

// TestSchemas compiles the exported per-resource schemas as JSON Schema
// 2020-12 and checks a record answered by the API against its schema.
func TestSchemas(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	all, err := openapi.Schemas(st.reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Resource != "owners" || all[1].Resource != "gadgets" {
		t.Fatalf("%+v", all)
	}
	g := all[1]
	compile := func(name string, raw json.RawMessage) *jsonschema.Schema {
		t.Helper()
		if bytes.Contains(raw, []byte(`"$ref"`)) {
			t.Errorf("%s: not self-contained: %s", name, raw)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource("mem://"+name, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("mem://" + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	rec := compile("record", g.Record)
	compile("id", g.ID)
	create := compile("create", g.Create)
	compile("update", g.Update)
	list := compile("list", g.List)

	var lm struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(g.List, &lm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range lm.Properties {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"active", "at_time", "born", "code", "contact", "count", "created_after", "created_before", "cursor", "id", "limit", "name", "owner_id", "q", "ratio", "seen_at"}
	if !slices.Equal(names, want) {
		t.Errorf("list properties %v", names)
	}
	if lm.Properties["limit"]["maximum"] != float64(resource.DefaultMaxLimit) {
		t.Errorf("limit %v", lm.Properties["limit"])
	}
	inst := func(s string) any {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := list.Validate(inst(`{"limit":5,"active":true,"q":"x"}`)); err != nil {
		t.Error(err)
	}
	if err := list.Validate(inst(`{"offset":5}`)); err == nil {
		t.Error("offset accepted by the list schema")
	}
	if err := create.Validate(inst(`{"body":"x"}`)); err == nil {
		t.Error("create without the required name accepted")
	}

	r := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/gadgets", strings.NewReader(`{"name":"Widget","count":3,"extra":{"a":1}}`))
	req.Header.Set("Authorization", "Bearer "+uuid.New()+":gadgets:create")
	st.handler.ServeHTTP(r, req)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Body.Bytes(), &env); err != nil || r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	if err := rec.Validate(inst(string(env.Data))); err != nil {
		t.Errorf("record %s: %v", env.Data, err)
	}
}
