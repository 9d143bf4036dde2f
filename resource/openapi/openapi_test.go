package openapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
)

// TestValid validates both renditions with kin-openapi, and compiles every
// schema of the 3.1 rendition as JSON Schema 2020-12 (checked against its
// metaschema) with santhosh-tekuri/jsonschema.
func TestValid(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	load(t, st.doc, openapi.V31)
	load(t, st.doc, openapi.V30)

	b, _ := st.doc.JSON(openapi.V31)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("https://gadgets.test/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	var top struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if len(top.Components.Schemas) < 30 {
		t.Fatalf("only %d schemas", len(top.Components.Schemas))
	}
	for name := range top.Components.Schemas {
		if _, err := c.Compile("https://gadgets.test/openapi.json#/components/schemas/" + name); err != nil {
			t.Errorf("schema %s is not valid JSON Schema 2020-12: %v", name, err)
		}
	}
}

// walk calls fn on every object of a JSON document with its path.
// Maps of property names (".../properties") are not passed to fn.
func walk(path string, v any, fn func(path string, m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if !strings.HasSuffix(path, "/properties") {
			fn(path, x)
		}
		for k, e := range x {
			walk(path+"/"+k, e, fn)
		}
	case []any:
		for i, e := range x {
			walk(fmt.Sprintf("%s/%d", path, i), e, fn)
		}
	}
}

func decode(t *testing.T, d *openapi.Document, rendition string) map[string]any {
	t.Helper()
	b, err := d.JSON(rendition)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRenditions checks that each rendition uses only its version's
// forms: type arrays and const in 3.1, nullable and one-value enums in 3.0.
func TestRenditions(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	v31, v30 := decode(t, st.doc, openapi.V31), decode(t, st.doc, openapi.V30)
	if v31["openapi"] != "3.1.0" || v30["openapi"] != "3.0.3" {
		t.Fatalf("versions %v %v", v31["openapi"], v30["openapi"])
	}
	var typeArrays, consts int
	walk("", v31, func(p string, m map[string]any) {
		if _, ok := m["nullable"]; ok {
			t.Errorf("3.1 %s: nullable", p)
		}
		if _, ok := m["type"].([]any); ok {
			typeArrays++
		}
		if _, ok := m["const"]; ok {
			consts++
		}
	})
	var nullables int
	walk("", v30, func(p string, m map[string]any) {
		if _, ok := m["type"].([]any); ok {
			t.Errorf("3.0 %s: type array", p)
		}
		for _, k := range []string{"const", "examples"} {
			if _, ok := m[k]; ok {
				t.Errorf("3.0 %s: %s", p, k)
			}
		}
		if m["nullable"] == true {
			nullables++
		}
	})
	if typeArrays == 0 || consts == 0 || nullables != typeArrays {
		t.Errorf("3.1 has %d type arrays and %d consts; 3.0 has %d nullables", typeArrays, consts, nullables)
	}
}

// TestMappings checks what the document says about each field type, the
// list parameters, the bodies, scopes and errors.
func TestMappings(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	for _, rendition := range []string{openapi.V31, openapi.V30} {
		doc := load(t, st.doc, rendition)
		gadget := doc.Components.Schemas["Gadget"].Value
		for field, want := range map[string]string{
			"id": "string/uuid", "code": "integer/int64", "name": "string/", "body": "string/", "contact": "string/email",
			"born": "string/date", "at_time": "string/", "seen_at": "string/date-time", "count": "integer/int64",
			"ratio": "number/double", "active": "boolean/", "owner_id": "string/uuid", "extra": "object/",
			"secret_note": "string/", "organization_id": "string/", "created_at": "string/date-time",
		} {
			p := gadget.Properties[field]
			if p == nil {
				t.Errorf("%s: Gadget.%s missing", rendition, field)
				continue
			}
			types := slices.DeleteFunc(slices.Clone(p.Value.Type.Slice()), func(s string) bool { return s == "null" })
			if got := strings.Join(types, ",") + "/" + p.Value.Format; got != want {
				t.Errorf("%s: Gadget.%s is %s, want %s", rendition, field, got, want)
			}
		}
		if gadget.Properties["at_time"].Value.Pattern != "^([01][0-9]|2[0-3]):[0-5][0-9]$" {
			t.Errorf("%s: at_time pattern %q", rendition, gadget.Properties["at_time"].Value.Pattern)
		}
		if *gadget.Properties["body"].Value.MaxLength != 2000 || *gadget.Properties["name"].Value.MaxLength != 255 {
			t.Errorf("%s: max lengths", rendition)
		}
		for _, f := range []string{"id", "code", "secret_note", "organization_id", "created_at", "updated_at"} {
			if !gadget.Properties[f].Value.ReadOnly {
				t.Errorf("%s: Gadget.%s not readOnly", rendition, f)
			}
		}
		if gadget.Properties["name"].Value.ReadOnly || len(gadget.Required) != len(gadget.Properties) {
			t.Errorf("%s: Gadget required %v", rendition, gadget.Required)
		}
		create, update := doc.Components.Schemas["GadgetCreate"].Value, doc.Components.Schemas["GadgetUpdate"].Value
		if !slices.Equal(create.Required, []string{"name"}) || create.MinProps != 0 || update.MinProps != 1 || len(update.Required) != 0 {
			t.Errorf("%s: create required %v, update minProperties %d", rendition, create.Required, update.MinProps)
		}
		for _, s := range []*struct{ name string }{{"code"}, {"secret_note"}, {"id"}, {"created_at"}} {
			if create.Properties[s.name] != nil || update.Properties[s.name] != nil {
				t.Errorf("%s: read-only %s in a body", rendition, s.name)
			}
		}
		if create.Properties["name"].Value.MinLength != 1 {
			t.Errorf("%s: required name may be empty", rendition)
		}
		for _, b := range []string{"GadgetCreate", "GadgetUpdate", "Gadget", "GadgetList", "GadgetEnvelope", "ErrorNotFound"} {
			if ap := doc.Components.Schemas[b].Value.AdditionalProperties.Has; ap == nil || *ap {
				t.Errorf("%s: %s is not closed", rendition, b)
			}
		}

		list := doc.Paths.Value("/v1/gadgets").Get
		if list.OperationID != "listGadgets" || list.Tags[0] != "gadgets" || list.Extensions["x-required-scope"] != "gadgets:read" {
			t.Errorf("%s: list %s %v %v", rendition, list.OperationID, list.Tags, list.Extensions)
		}
		params := map[string]string{}
		for _, p := range list.Parameters {
			s := p.Value.Schema.Value
			params[p.Value.In+":"+p.Value.Name] = strings.Join(s.Type.Slice(), ",") + "/" + s.Format
		}
		for name, want := range map[string]string{
			"query:limit": "integer/", "query:offset": "integer/", "query:cursor": "string/", "query:created_after": "string/",
			"query:q": "string/", "query:id": "string/uuid", "query:code": "integer/int64", "query:contact": "string/email",
			"query:born": "string/date", "query:count": "integer/int64", "query:ratio": "number/double", "query:active": "boolean/",
			"query:seen_at": "string/date-time", "query:owner_id": "string/uuid", "header:Test-Version": "string/",
		} {
			if params[name] != want {
				t.Errorf("%s: list parameter %s is %q, want %q", rendition, name, params[name], want)
			}
		}
		if len(params) != 18 {
			t.Errorf("%s: %d list parameters: %v", rendition, len(params), params)
		}
		for _, id := range []string{"getGadget", "createGadget", "updateGadget", "getSchema", "getOpenAPI", "listOwners"} {
			found := false
			for _, item := range doc.Paths.Map() {
				for _, op := range item.Operations() {
					found = found || op.OperationID == id
				}
			}
			if !found {
				t.Errorf("%s: no operation %s", rendition, id)
			}
		}
		if h := doc.Paths.Value("/v1/gadgets").Post.Responses.Value("201").Value.Headers["Location"]; h == nil || !h.Value.Required {
			t.Errorf("%s: 201 without Location", rendition)
		}
		if doc.Paths.Value("/v1/gadgets").Get.Responses.Value("200").Value.Headers["Link"] == nil {
			t.Errorf("%s: list without Link", rendition)
		}
		if doc.Components.SecuritySchemes["apiKeyHeader"].Value.Name != "X-Api-Key" || doc.Components.SecuritySchemes["bearerAuth"].Value.Scheme != "bearer" {
			t.Errorf("%s: security schemes", rendition)
		}
		if _, ok := doc.Components.Parameters["IdempotencyKey"]; ok {
			t.Errorf("%s: Idempotency-Key documented without Options.Idempotency", rendition)
		}
	}
}

// TestLiveExchanges sends real requests through a registry behind a chain
// and validates each exchange against both renditions.
func TestLiveExchanges(t *testing.T) {
	t.Parallel()
	failClosed, err := redislimit.New(redislimit.Options{
		Client:          redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}),
		Policy:          redislimit.FailClosed,
		DisableBatching: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := ratelimit.New(ratelimit.Options{Limiter: failClosed, Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
		return "k", ratelimit.PerMinute(60), r.Header.Get("X-Limit") == "redis"
	}})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ratelimit.New(ratelimit.Options{Key: func(r *http.Request) (string, ratelimit.Limit, bool) {
		return "slow", ratelimit.PerMinute(1), r.Header.Get("X-Limit") == "slow"
	}})
	if err != nil {
		t.Fatal(err)
	}
	st := newStack(t, stackOptions{limiter: func(h http.Handler) http.Handler { return mw.Wrap(mem.Wrap(h)) }})
	vs := []*validator{newValidator(t, st.doc, openapi.V31), newValidator(t, st.doc, openapi.V30)}
	org := uuid.New()
	all := "Bearer " + org + ":gadgets:read,gadgets:create,gadgets:update,owners:read,owners:create,owners:update"
	seen := map[int]bool{}
	send := func(valid bool, method, path, body string, headers ...string) map[string]any {
		t.Helper()
		mk := func() *http.Request {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req := httptest.NewRequest(method, "http://gadgets.test"+path, rd)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			return req
		}
		rec := httptest.NewRecorder()
		st.handler.ServeHTTP(rec, mk())
		seen[rec.Code] = true
		for i, v := range vs {
			if err := v.check(mk(), valid, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Errorf("%s %s → %d %s: rendition %d: %v", method, path, rec.Code, rec.Body.String(), i, err)
			}
		}
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out
	}
	auth := []string{"Authorization", all}
	owner, _ := send(true, "POST", "/v1/owners", `{"name":"Ann"}`, auth...)["data"].(map[string]any)
	ownerID, _ := owner["id"].(string)
	g, _ := send(true, "POST", "/v1/gadgets", `{"name":"Widget","body":"long text","contact":"ann@example.com","born":"2020-02-29",`+
		`"at_time":"23:59","seen_at":"2026-01-02T03:04:05.123+01:00","count":-7,"ratio":0.25,"active":true,"owner_id":"`+ownerID+`",`+
		`"extra":{"nested":{"a":[1,"two",null]}}}`, auth...)["data"].(map[string]any)
	id, _ := g["id"].(string)
	if id == "" {
		t.Fatal("no gadget created")
	}
	send(true, "POST", "/v1/gadgets", `{"name":"Bare"}`, auth...)
	send(true, "POST", "/v1/gadgets", `{"name":"Nulls","body":null,"contact":null,"count":null,"active":null,"extra":null}`, auth...)
	send(true, "GET", "/v1/gadgets/"+id, "", auth...)
	send(true, "PATCH", "/v1/gadgets/"+id, `{"active":false,"ratio":1e3,"born":null}`, auth...)
	for _, q := range []string{"code=1", "name=Widget", "contact=ann%40example.com", "born=2020-02-29", "at_time=23%3A59", "seen_at=2026-01-02T02%3A04%3A05.123Z",
		"count=-7", "ratio=0.25", "active=false", "owner_id=" + ownerID, "id=" + id, "q=widg", "created_after=2000-01-01", "limit=1", "limit=1&offset=1"} {
		send(true, "GET", "/v1/gadgets?"+q, "", auth...)
	}
	page := send(true, "GET", "/v1/gadgets?limit=1", "", auth...)
	next, _ := page["next_cursor"].(string)
	send(true, "GET", "/v1/gadgets?limit=1&cursor="+next, "", auth...)
	send(true, "GET", "/v1/schema", "", auth...)
	send(true, "GET", "/v1/schema", "", append(auth, "Test-Version", "2025-06-01")...)
	send(true, "GET", "/v1/openapi.json?version=3.0", "", auth...)

	// Errors.
	send(false, "POST", "/v1/gadgets", `{"name":"x","code":3}`, auth...)
	send(false, "POST", "/v1/gadgets", `{"count":1.5}`, auth...)
	send(false, "POST", "/v1/gadgets", `{"name":"x","at_time":"7:00"}`, auth...)
	send(true, "POST", "/v1/gadgets", `{"name":"x","owner_id":"`+uuid.New()+`"}`, auth...)
	send(false, "PATCH", "/v1/gadgets/"+id, `{}`, auth...)
	send(false, "PATCH", "/v1/gadgets/"+id, `"x"`, auth...)
	send(true, "GET", "/v1/gadgets/"+uuid.New(), "", auth...)
	send(false, "GET", "/v1/gadgets?active=maybe", "", auth...)
	send(false, "GET", "/v1/gadgets?ratio=x", "", auth...)
	send(true, "GET", "/v1/gadgets?cursor=nope", "", auth...)
	send(false, "GET", "/v1/gadgets", "", append(auth, "Test-Version", "v9")...)
	send(true, "GET", "/v1/gadgets", "", "Authorization", "Bearer "+org+":owners:read")
	send(true, "GET", "/v1/gadgets", "")
	send(true, "GET", "/v1/gadgets", "", append(auth, "X-Limit", "slow")...)
	send(true, "GET", "/v1/gadgets", "", append(auth, "X-Limit", "slow")...)
	send(true, "GET", "/v1/gadgets", "", append(auth, "X-Limit", "redis")...)
	send(false, "POST", "/v1/gadgets", `{"name":"`+strings.Repeat("x", 1<<20)+`"}`, auth...)
	for _, code := range []int{200, 201, 400, 401, 403, 404, 413, 429, 503} {
		if !seen[code] {
			t.Errorf("no exchange answered %d", code)
		}
	}
}

func TestLimiterMessage(t *testing.T) {
	if openapi.MsgLimiterUnavailable != redislimit.MsgUnavailable {
		t.Fatalf("%q != redislimit's %q", openapi.MsgLimiterUnavailable, redislimit.MsgUnavailable)
	}
}

// TestHandler checks the document's own endpoint.
func TestHandler(t *testing.T) {
	t.Parallel()
	h := openapi.NewHandler(openapi.HandlerOptions{Logger: slog.New(slog.DiscardHandler)})
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec
	}
	if rec := get("/v1/openapi.json"); rec.Code != 500 || !strings.Contains(rec.Body.String(), gatehouse.MsgInternal) {
		t.Fatalf("before Set: %d %s", rec.Code, rec.Body)
	}
	st := newStack(t, stackOptions{})
	h.Set(st.doc)
	v31, _ := st.doc.JSON(openapi.V31)
	v30, _ := st.doc.JSON(openapi.V30)
	for target, want := range map[string][]byte{
		"/v1/openapi.json": v31, "/v1/openapi.json?version=3.1": v31, "/v1/openapi.json?version=3.1.0": v31,
		"/v1/openapi.json?version=3.0": v30, "/v1/openapi.json?version=3.0.3": v30,
	} {
		rec := get(target)
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q", target, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for target, msg := range map[string]string{
		"/v1/openapi.json?version=2.0":             gatehouse.MsgInvalidQuery,
		"/v1/openapi.json?version=3.0&version=3.1": gatehouse.MsgInvalidQuery,
		"/v1/openapi.json?version=%zz":             gatehouse.MsgInvalidQuery,
		"/v1/openapi.json?format=yaml":             gatehouse.MsgUnsupportedFilters,
	} {
		rec := get(target)
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != 400 || body["error"] != msg {
			t.Errorf("%s: %d %s", target, rec.Code, rec.Body)
		}
	}
	if _, err := st.doc.JSON("2.0"); err == nil {
		t.Error("JSON(2.0) works")
	}
}

// TestPublicDocument serves the document without a key: the operation has
// no security requirement and none of the chain's auth errors.
func TestPublicDocument(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{public: true})
	for _, rendition := range []string{openapi.V31, openapi.V30} {
		doc := load(t, st.doc, rendition)
		op := doc.Paths.Value("/v1/openapi.json").Get
		if op.Security == nil || len(*op.Security) != 0 {
			t.Errorf("%s: security %v", rendition, op.Security)
		}
		for _, code := range []string{"401", "403", "429", "503"} {
			if op.Responses.Value(code) != nil {
				t.Errorf("%s: public operation documents %s", rendition, code)
			}
		}
		if doc.Paths.Value("/v1/schema").Get.Security != nil {
			t.Errorf("%s: /schema lost the document's security", rendition)
		}
	}
	v := newValidator(t, st.doc, openapi.V31)
	req := httptest.NewRequest("GET", "http://gadgets.test/v1/openapi.json", nil)
	rec := httptest.NewRecorder()
	st.handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("public document: %d %s", rec.Code, rec.Body)
	}
	if err := v.check(httptest.NewRequest("GET", "http://gadgets.test/v1/openapi.json", nil), true, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
}

// TestDeterministic builds the document twice from registries declared in
// the same order: the bytes are equal.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	route := widgetRoute()
	a := newStack(t, stackOptions{routes: []resource.Route{route}})
	b := newStack(t, stackOptions{routes: []resource.Route{route}})
	for _, r := range []string{openapi.V31, openapi.V30} {
		x, _ := a.doc.JSON(r)
		y, _ := b.doc.JSON(r)
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds", r)
		}
	}
}

// widgetRoute is a documented extra route using every RouteDoc feature.
func widgetRoute() resource.Route {
	return resource.Route{
		Method: http.MethodPost, Path: "/v1/widgets/{id}/spin", Scope: "widgets:spin", Summary: "Spin a widget",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		Doc: &resource.RouteDoc{
			OperationID: "spinWidget", Tag: "widgets", Description: "Spins it.",
			Path:       []resource.ParamDoc{{Name: "id", Schema: json.RawMessage(`{"type":"string","format":"uuid"}`)}},
			Query:      []resource.ParamDoc{{Name: "times", Required: true, Schema: json.RawMessage(`{"type":"integer","minimum":1,"maximum":10}`)}},
			Body:       json.RawMessage(`{"type":"object","properties":{"speed":{"$ref":"#/components/schemas/Speed"}},"additionalProperties":false}`),
			Components: map[string]json.RawMessage{"Speed": json.RawMessage(`{"type":["number","null"],"examples":[2],"const":2}`)},
			Responses: []resource.ResponseDoc{
				{Status: 200, Data: json.RawMessage(`{"$ref":"#/components/schemas/Speed"}`), Headers: []resource.HeaderDoc{{Name: "X-Spins", Required: true, Schema: json.RawMessage(`{"type":"integer"}`)}}},
				{Status: 204},
			},
			Errors: []resource.ErrorDoc{
				{Message: gatehouse.MsgNotFound},
				{Status: 409, Message: "Widget is dizzy", Extra: map[string]json.RawMessage{"until": json.RawMessage(`{"type":"string","format":"date-time"}`)}},
			},
		},
	}
}

// TestRouteDoc renders a route using every RouteDoc feature.
func TestRouteDoc(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{routes: []resource.Route{widgetRoute()}})
	for _, rendition := range []string{openapi.V31, openapi.V30} {
		doc := load(t, st.doc, rendition)
		op := doc.Paths.Value("/v1/widgets/{id}/spin").Post
		if op == nil || op.OperationID != "spinWidget" || op.Tags[0] != "widgets" || op.Extensions["x-required-scope"] != "widgets:spin" {
			t.Fatalf("%s: %+v", rendition, op)
		}
		for _, code := range []string{"200", "204", "400", "401", "403", "404", "409", "413", "429", "500", "503"} {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: spinWidget lacks %s", rendition, code)
			}
		}
		dizzy := doc.Components.Schemas["ErrorWidgetIsDizzy"]
		if dizzy == nil || dizzy.Value.Properties["until"].Value.Format != "date-time" || !slices.Contains(dizzy.Value.Required, "until") {
			t.Errorf("%s: custom error schema %v", rendition, dizzy)
		}
		if h := op.Responses.Value("200").Value.Headers["X-Spins"]; h == nil || !h.Value.Required {
			t.Errorf("%s: X-Spins", rendition)
		}
		if op.Responses.Value("204").Value.Content != nil {
			t.Errorf("%s: 204 with content", rendition)
		}
		speed := doc.Components.Schemas["Speed"].Value
		if rendition == openapi.V30 && (!speed.Nullable || len(speed.Enum) != 1 || speed.Example == nil) {
			t.Errorf("3.0 Speed: nullable %v enum %v example %v", speed.Nullable, speed.Enum, speed.Example)
		}
		if rendition == openapi.V31 && (speed.Const == nil || len(speed.Examples) != 1 || !speed.Type.Includes("null")) {
			t.Errorf("3.1 Speed: const %v examples %v type %v", speed.Const, speed.Examples, speed.Type)
		}
		var names []string
		for _, p := range op.Parameters {
			names = append(names, p.Value.In+":"+p.Value.Name)
		}
		if strings.Join(names, " ") != "path:id query:times header:Test-Version" {
			t.Errorf("%s: parameters %v", rendition, names)
		}
	}
}

// TestNewErrors lists what New refuses.
func TestNewErrors(t *testing.T) {
	t.Parallel()
	base := widgetRoute()
	with := func(f func(d *resource.RouteDoc)) resource.Route {
		r := base
		d := *base.Doc
		f(&d)
		r.Doc = &d
		return r
	}
	for name, tc := range map[string]struct {
		routes []resource.Route
		mod    func(*openapi.Options)
		want   string
	}{
		"no registry":       {mod: func(o *openapi.Options) { o.Registry = nil }, want: "Registry is required"},
		"undocumented":      {routes: []resource.Route{{Method: "GET", Path: "/v1/ping", Handler: http.NotFoundHandler()}}, want: "has no Doc"},
		"no operation id":   {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.OperationID = "" })}, want: "OperationID is required"},
		"duplicate id":      {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.OperationID = "listGadgets" })}, want: "operation id listGadgets"},
		"unknown keyword":   {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Body = json.RawMessage(`{"type":"object","nullable":true}`) })}, want: `unknown field "nullable"`},
		"unknown type":      {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Body = json.RawMessage(`{"type":"text"}`) })}, want: `unknown type "text"`},
		"dangling ref":      {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Body = json.RawMessage(`{"$ref":"#/components/schemas/Nope"}`) })}, want: "not declared"},
		"external ref":      {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Body = json.RawMessage(`{"$ref":"other.json#/x"}`) })}, want: "only #/components/schemas/"},
		"required unknown":  {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Body = json.RawMessage(`{"type":"object","required":["x"]}`) })}, want: `required property "x"`},
		"no responses":      {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Responses = nil })}, want: "Responses is empty"},
		"error as response": {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Responses = []resource.ResponseDoc{{Status: 404}} })}, want: "not a success"},
		"data and body": {routes: []resource.Route{with(func(d *resource.RouteDoc) {
			d.Responses = []resource.ResponseDoc{{Status: 200, Data: json.RawMessage(`{}`), Body: json.RawMessage(`{}`)}}
		})}, want: "both Data and Body"},
		"unknown wildcard": {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Path = []resource.ParamDoc{{Name: "nope"}} })}, want: `documents "nope"`},
		"catalogue extra": {routes: []resource.Route{with(func(d *resource.RouteDoc) {
			d.Errors = []resource.ErrorDoc{{Message: gatehouse.MsgNotFound, Extra: map[string]json.RawMessage{"x": json.RawMessage(`{}`)}}}
		})}, want: "leave Extra nil"},
		"catalogue status": {routes: []resource.Route{with(func(d *resource.RouteDoc) {
			d.Errors = []resource.ErrorDoc{{Status: 410, Message: gatehouse.MsgNotFound}}
		})}, want: "status 404 in the catalogue"},
		"custom success": {routes: []resource.Route{with(func(d *resource.RouteDoc) { d.Errors = []resource.ErrorDoc{{Status: 200, Message: "Fine"}} })}, want: "not an error status"},
		"two components": {routes: []resource.Route{base, {
			Method: "GET", Path: "/v1/widgets/{id}", Handler: http.NotFoundHandler(),
			Doc: &resource.RouteDoc{OperationID: "getWidget", Components: map[string]json.RawMessage{"Speed": json.RawMessage(`{"type":"integer"}`)},
				Responses: []resource.ResponseDoc{{Status: 200}}},
		}}, want: "component Speed is declared twice"},
		"schema name taken": {routes: []resource.Route{with(func(d *resource.RouteDoc) {
			d.Components = map[string]json.RawMessage{"Gadget": json.RawMessage(`{}`), "Speed": base.Doc.Components["Speed"]}
		})}, want: "schema name Gadget is used twice"},
		"authorization header": {mod: func(o *openapi.Options) { o.KeyHeader = "authorization" }, want: "KeyHeader"},
		"server without url":   {mod: func(o *openapi.Options) { o.Servers = []openapi.Server{{Description: "x"}} }, want: "URL is required"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reg, err := resource.New(resource.Options{DB: dbtest.SQLite(t), Resources: gadgets(), Routes: tc.routes})
			if err != nil {
				t.Fatal(err)
			}
			opts := openapi.Options{Registry: reg}
			if tc.mod != nil {
				tc.mod(&opts)
			}
			_, err = openapi.New(opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestEvents documents the webhook deliveries in the 3.1 rendition only.
func TestEvents(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{mod: func(o *openapi.Options) { o.Events = true }})
	v31 := load(t, st.doc, openapi.V31)
	var names []string
	for name := range v31.Webhooks {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "gadget.created gadget.updated owner.created owner.updated" {
		t.Fatalf("webhooks %v", names)
	}
	hook := v31.Webhooks["gadget.created"].Post
	if hook.OperationID != "onGadgetCreated" || len(hook.Parameters) != 3 || hook.Responses.Value("2XX") == nil {
		t.Errorf("gadget.created: %+v", hook)
	}
	payload := hook.RequestBody.Value.Content.Get("application/json").Schema.Value
	if payload.Properties["data"].Ref != "#/components/schemas/Gadget" || !slices.Contains(payload.Required, "organization_id") {
		t.Errorf("payload %+v", payload)
	}
	if v30 := decode(t, st.doc, openapi.V30); v30["webhooks"] != nil {
		t.Error("3.0 rendition has webhooks")
	}
	load(t, st.doc, openapi.V30)
}
