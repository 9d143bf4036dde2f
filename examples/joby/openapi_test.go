package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"gatehouse.dev/stack"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/resource/openapi"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi*.json from the example")

// goldenFiles maps each rendition to its committed file.
var goldenFiles = map[string]string{
	openapi.V31: "testdata/openapi.json",
	openapi.V30: "testdata/openapi-3.0.json",
}

// TestOpenAPIGolden compares the example's document with the committed
// files (go test ./examples/joby -run TestOpenAPIGolden -update rewrites
// them), so that every change of the API surface shows in review. The
// same bytes are served at /v1/openapi.json and printed by -openapi.
func TestOpenAPIGolden(t *testing.T) {
	t.Parallel()
	s, err := newApp(context.Background(), stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db"), Keyring: testKeyring(t), Logger: slog.New(slog.DiscardHandler)}, testPublicURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	doc := s.OpenAPI()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	for rendition, file := range goldenFiles {
		got, err := doc.JSON(rendition)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: the API surface changed. Review the change, then run\n\tgo test ./examples/joby -run TestOpenAPIGolden -update\n%s",
				file, firstDiff(want, got))
		}
		code, served := fetchDocument(a, key, "?version="+rendition)
		if code != 200 || !bytes.Equal(served, got) {
			t.Errorf("GET /v1/openapi.json?version=%s: %d, not the document (%d bytes, want %d)", rendition, code, len(served), len(got))
		}
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-openapi", "-openapi-version", rendition}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), got) {
			t.Errorf("-openapi -openapi-version %s prints another document", rendition)
		}
	}
	code, b := fetchDocument(a, key, "")
	var top map[string]any
	if err := json.Unmarshal(b, &top); code != 200 || err != nil || top["openapi"] != "3.1.0" {
		t.Errorf("GET /v1/openapi.json: %d openapi=%v %v", code, top["openapi"], err)
	}
	if err := run(context.Background(), []string{"-openapi", "-openapi-version", "2.0"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("-openapi-version 2.0 accepted")
	}
}

// fetchDocument GETs /v1/openapi.json with the query. The document is
// the one /v1 answer without request_id in its body (an OpenAPI document
// has no such member); X-Request-Id is still set.
func fetchDocument(a *api, key, query string) (int, []byte) {
	req := httptest.NewRequest("GET", "/v1/openapi.json"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	if rec.Header().Get("X-Request-Id") == "" || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Joby-Version") != "v1" {
		a.t.Errorf("GET /v1/openapi.json%s: headers %v", query, rec.Header())
	}
	return rec.Code, rec.Body.Bytes()
}

// firstDiff shows where two documents start to differ.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n\twant %s\n\tgot  %s", i+1, w, g)
		}
	}
	return "same lines"
}

// loadDocs loads and validates both renditions of the example's document
// with kin-openapi.
func loadDocs(t *testing.T, d *openapi.Document) map[string]*openapi3.T {
	t.Helper()
	return parseDocs(t, d, true)
}

// parseDocs loads both renditions, validating them if asked.
func parseDocs(t *testing.T, d *openapi.Document, validate bool) map[string]*openapi3.T {
	t.Helper()
	out := map[string]*openapi3.T{}
	for _, rendition := range []string{openapi.V31, openapi.V30} {
		b, err := d.JSON(rendition)
		if err != nil {
			t.Fatal(err)
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(b)
		if err != nil {
			t.Fatalf("%s: load: %v", rendition, err)
		}
		if !validate {
			out[rendition] = doc
			continue
		}
		if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
			t.Fatalf("%s: invalid document: %v", rendition, err)
		}
		want := map[string]string{openapi.V31: "3.1.0", openapi.V30: "3.0.3"}[rendition]
		if doc.OpenAPI != want {
			t.Fatalf("%s: openapi %q", rendition, doc.OpenAPI)
		}
		out[rendition] = doc
	}
	return out
}

// TestOpenAPIValid validates both renditions with kin-openapi and checks
// what the issue asks the document to say.
func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	a := newAPIWith(t, stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db")})
	for rendition, doc := range loadDocs(t, a.app.OpenAPI()) {
		for path, op := range map[string]string{
			"/v1/leads": "listLeads", "/v1/leads/{id}": "getLead", "/v1/clients": "createClient", "/v1/tasks/{id}": "updateTask",
			"/v1/schema": "getSchema", "/v1/whoami": "getWhoAmI", "/v1/webhooks": "createWebhook", "/v1/webhooks/{id}": "deleteWebhook",
			"/v1/openapi.json": "getOpenAPI",
		} {
			item := doc.Paths.Value(path)
			if item == nil {
				t.Fatalf("%s: no path %s", rendition, path)
			}
			found := false
			for _, o := range item.Operations() {
				found = found || o.OperationID == op
			}
			if !found {
				t.Errorf("%s: %s has no operation %s", rendition, path, op)
			}
		}
		list := doc.Paths.Value("/v1/leads").Get
		if list.Extensions["x-required-scope"] != "leads:read" || !strings.Contains(list.Description, "`leads:read`") {
			t.Errorf("%s: listLeads scope: %v %q", rendition, list.Extensions["x-required-scope"], list.Description)
		}
		var names []string
		for _, p := range list.Parameters {
			names = append(names, p.Value.Name)
		}
		if want := "limit offset cursor created_after created_before q id lead_number status phone email client_id Joby-Version"; strings.Join(names, " ") != want {
			t.Errorf("%s: list parameters %q", rendition, strings.Join(names, " "))
		}
		offset := list.Parameters[1].Value.Schema.Value
		if *offset.Max != 10000 || *offset.Min != 0 {
			t.Errorf("%s: offset bounds %v..%v", rendition, *offset.Min, *offset.Max)
		}
		lead := doc.Components.Schemas["Lead"].Value
		if !lead.Properties["id"].Value.ReadOnly || !lead.Properties["lead_number"].Value.ReadOnly || lead.Properties["first_name"].Value.ReadOnly {
			t.Errorf("%s: read-only flags of Lead", rendition)
		}
		create, patch := doc.Components.Schemas["LeadCreate"].Value, doc.Components.Schemas["LeadUpdate"].Value
		for _, p := range []string{"id", "organization_id", "created_at", "updated_at", "lead_number"} {
			if create.Properties[p] != nil || patch.Properties[p] != nil {
				t.Errorf("%s: protected %s in a request body", rendition, p)
			}
		}
		if patch.MinProps != 1 || patch.AdditionalProperties.Has == nil || *patch.AdditionalProperties.Has || len(patch.Required) != 0 {
			t.Errorf("%s: LeadUpdate minProperties %d, additionalProperties %v, required %v", rendition, patch.MinProps, patch.AdditionalProperties.Has, patch.Required)
		}
		if r := doc.Components.Schemas["AppointmentCreate"].Value.Required; !slices.Equal(r, []string{"appointment_date"}) {
			t.Errorf("%s: AppointmentCreate required %v", rendition, r)
		}
		appt := doc.Components.Schemas["Appointment"].Value.Properties
		for field, format := range map[string]string{"appointment_date": "date", "lead_id": "uuid", "email": "email", "created_at": "date-time"} {
			if got := appt[field].Value.Format; got != format {
				t.Errorf("%s: Appointment.%s format %q", rendition, field, got)
			}
		}
		if p := appt["appointment_time"].Value.Pattern; p == "" {
			t.Errorf("%s: appointment_time has no HH:MM pattern", rendition)
		}
		if rendition == openapi.V30 && !appt["email"].Value.Nullable {
			t.Errorf("3.0: optional email not nullable")
		}
		if rendition == openapi.V31 && !appt["email"].Value.Type.Includes("null") {
			t.Errorf("3.1: optional email type %v", appt["email"].Value.Type)
		}
		for status, name := range map[string]string{"401": "Unauthorized", "429": "TooManyRequests", "500": "InternalError", "503": "ServiceUnavailable"} {
			if r := list.Responses.Value(status); r == nil || r.Ref != "#/components/responses/"+name {
				t.Errorf("%s: listLeads %s is not %s", rendition, status, name)
			}
		}
		post := doc.Paths.Value("/v1/leads").Post
		for _, status := range []string{"201", "400", "403", "409", "413", "422"} {
			if post.Responses.Value(status) == nil {
				t.Errorf("%s: createLead lacks %s", rendition, status)
			}
		}
		bad := post.Responses.Value("400").Value.Content.Get("application/json").Schema.Value
		var variants []string
		for _, v := range bad.OneOf {
			variants = append(variants, strings.TrimPrefix(v.Ref, "#/components/schemas/"))
		}
		if want := "ErrorInvalidJSON ErrorUnsupportedFields ErrorInvalidFieldValues ErrorInvalidForeignKey ErrorUnsupportedVersion ErrorInvalidHeaders"; strings.Join(variants, " ") != want {
			t.Errorf("%s: createLead 400 variants %q", rendition, strings.Join(variants, " "))
		}
		if rendition == openapi.V31 {
			// The documented events are the webhook service's catalogue.
			var documented, served []string
			for name := range doc.Webhooks {
				documented = append(documented, name)
			}
			for _, et := range a.app.Webhooks().Types() {
				served = append(served, et.Name)
			}
			slices.Sort(documented)
			slices.Sort(served)
			if !slices.Equal(documented, served) {
				t.Errorf("webhooks %v, event types %v", documented, served)
			}
		}
		tooMany := doc.Components.Responses["TooManyRequests"].Value
		if h := tooMany.Headers["Retry-After"]; h == nil || !h.Value.Required {
			t.Errorf("%s: 429 without required Retry-After", rendition)
		}
		for _, h := range []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Remaining"} {
			if tooMany.Headers[h] == nil {
				t.Errorf("%s: 429 without %s", rendition, h)
			}
		}
	}
}

// contract sends real requests to the example's handler and checks each
// exchange against both renditions of its document with openapi3filter.
type contract struct {
	t       reporter
	a       *api
	docs    map[string]*openapi3.T
	routers map[string]routers.Router
	seen    map[string]map[int]bool // operation id → statuses answered
	opts    *openapi3filter.Options
}

// Request kinds.
const (
	valid     = iota // must pass request validation
	invalid          // the document must refuse it
	unchecked        // the document cannot tell (a bad key, a malformed cursor, an unknown parameter)
)

// reporter is the part of testing.TB the contract uses.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

func newContract(t reporter, a *api, docs map[string]*openapi3.T) *contract {
	c := &contract{t: t, a: a, docs: docs, routers: map[string]routers.Router{}, seen: map[string]map[int]bool{}}
	for v, doc := range c.docs {
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			t.Fatalf("%s: router: %v", v, err)
		}
		c.routers[v] = r
	}
	uuidRe := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	formats := map[string]openapi3.StringFormatValidator{
		"uuid": openapi3.NewRegexpFormatValidator(uuidRe.String()),
		"email": openapi3.NewCallbackValidator(func(s string) error {
			a, err := mail.ParseAddress(s)
			if err != nil || a.Address != s {
				return errors.New("not a bare email address")
			}
			return nil
		}),
		"uri": openapi3.NewCallbackValidator(func(s string) error {
			u, err := url.Parse(s)
			if err != nil || !u.IsAbs() {
				return errors.New("not an absolute URI")
			}
			return nil
		}),
	}
	c.opts = &openapi3filter.Options{
		IncludeResponseStatus:   true,
		SkipSettingDefaults:     true,
		MultiError:              true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formats)},
	}
	return c
}

const origin = "http://127.0.0.1:8080" // the default of the server variable

// call sends one request and checks the exchange against both documents.
// headers are name/value pairs.
func (c *contract) call(kind int, method, path, body string, headers ...string) resp {
	c.t.Helper()
	newReq := func() *http.Request {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, origin+path, rd)
		req.RemoteAddr = "192.0.2.10:5555"
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		return req
	}
	rec := httptest.NewRecorder()
	c.a.h.ServeHTTP(rec, newReq())
	out := resp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if len(rec.Body.Bytes()) > 0 {
		_ = json.Unmarshal(rec.Body.Bytes(), &out.Body)
	}
	for v, doc := range c.docs {
		req := newReq()
		where := fmt.Sprintf("%s: %s %s → %d %s", v, method, path, rec.Code, truncate(rec.Body.String()))
		route, params, err := c.routers[v].FindRoute(req)
		switch {
		case errors.Is(err, routers.ErrPathNotFound):
			c.checkUnlisted(doc, req, rec, where, "UnsupportedResource", 404)
			continue
		case errors.Is(err, routers.ErrMethodNotAllowed):
			c.checkUnlisted(doc, req, rec, where, "MethodNotAllowed", 405)
			continue
		case err != nil:
			c.t.Fatalf("%s: find route: %v", where, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
		reqErr := openapi3filter.ValidateRequest(context.Background(), in)
		switch {
		case kind == valid && reqErr != nil:
			c.t.Errorf("%s: the document refuses a valid request: %v", where, reqErr)
		case kind == invalid && reqErr == nil:
			c.t.Errorf("%s: the document accepts an invalid request", where)
		}
		c.checkResponse(in, rec, where)
		if c.seen[route.Operation.OperationID] == nil {
			c.seen[route.Operation.OperationID] = map[int]bool{}
		}
		c.seen[route.Operation.OperationID][rec.Code] = true
	}
	return out
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// checkResponse validates the answer: status, headers and body must be
// described by the operation.
func (c *contract) checkResponse(in *openapi3filter.RequestValidationInput, rec *httptest.ResponseRecorder, where string) {
	c.t.Helper()
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Options: c.opts,
	}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s: answer not described by the document: %v", where, err)
		return
	}
	if r := in.Route.Operation.Responses.Status(rec.Code); r != nil && len(r.Value.Content) == 0 && rec.Body.Len() > 0 {
		c.t.Errorf("%s: a body where the document describes none", where)
	}
}

// checkUnlisted validates the answer to a path or method the document
// does not list against what info.description promises: the component
// response name (404 Unsupported resource or 405 Method not allowed), or
// the 401 and 429 of the chain in front of the router.
func (c *contract) checkUnlisted(doc *openapi3.T, req *http.Request, rec *httptest.ResponseRecorder, where, name string, status int) {
	c.t.Helper()
	op := &openapi3.Operation{OperationID: "unlisted", Responses: openapi3.NewResponses(
		openapi3.WithStatus(status, doc.Components.Responses[name]),
		openapi3.WithStatus(401, doc.Components.Responses["Unauthorized"]),
		openapi3.WithStatus(429, doc.Components.Responses["TooManyRequests"]),
	)}
	route := &routers.Route{Spec: doc, Path: req.URL.Path, Method: req.Method, Operation: op}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: c.opts}
	c.checkResponse(in, rec, where)
	if rec.Code != status && rec.Code != 401 && rec.Code != 429 {
		c.t.Errorf("%s: want %d", where, status)
	}
	if c.seen["unlisted"] == nil {
		c.seen["unlisted"] = map[int]bool{}
	}
	c.seen["unlisted"][rec.Code] = true
}

// want fails the test unless the answer has the status (and, if msg is
// set, the error message).
func (c *contract) want(r resp, status int, msg string) resp {
	c.t.Helper()
	if r.Code != status || msg != "" && errText(r) != msg {
		c.t.Fatalf("want %d %q, got %d %s", status, msg, r.Code, truncate(r.Raw))
	}
	return r
}

// fingerprint is the idempotency middleware's fingerprint of a request (see
// idempotency.Claim): the hex SHA-256 of the length-prefixed API key id,
// method, path and SHA-256 of the body.
func fingerprint(keyID, method, path string, body []byte) string {
	bh := sha256.Sum256(body)
	h := sha256.New()
	for _, p := range [][]byte{[]byte(keyID), []byte(method), []byte(path), bh[:]} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestOpenAPIContract runs the example and checks a varied set of real
// exchanges — every operation, every error class — against the document:
// any answer the document does not describe fails the test.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	a := newAPIWith(t, stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db"), Webhook: loopbackWebhooks})
	c := newContract(t, a, loadDocs(t, a.app.OpenAPI()))
	org := a.newOrg(true)
	fullScopes := strings.TrimSuffix(allScopes, "]") + `,"webhooks:manage"]`
	key, keyID := a.newKey(org, `{"name":"full","rate_limit_per_minute":300,"scopes":`+fullScopes+`}`)
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	auth := bearer(key)
	otherOrg := a.newOrg(true)
	other, _ := a.newKey(otherOrg, `{"name":"other","scopes":`+fullScopes+`}`)
	readOnly, _ := a.newKey(org, `{"name":"leads only","scopes":["leads:read","tasks:read","webhooks:manage"]}`)
	slow, _ := a.newKey(org, `{"name":"slow","scopes":["leads:read"],"rate_limit_per_minute":1}`)
	off := a.newOrg(false)
	offKey, _ := a.newKey(off, "")

	// Meta operations, both key headers, the version header.
	c.want(c.call(valid, "GET", "/v1/schema", "", auth...), 200, "")
	c.want(c.call(valid, "GET", "/v1/whoami", "", auth...), 200, "")
	c.want(c.call(valid, "GET", "/v1/whoami", "", "X-Joby-API-Key", key), 200, "")
	c.want(c.call(valid, "GET", "/v1/whoami", "", append(auth, "Joby-Version", "v1")...), 200, "")
	c.want(c.call(invalid, "GET", "/v1/whoami", "", append(auth, "Joby-Version", "2019-01-01")...), 400, "Unsupported API version")
	c.want(c.call(valid, "GET", "/v1/openapi.json", "", auth...), 200, "")
	c.want(c.call(valid, "GET", "/v1/openapi.json?version=3.0", "", auth...), 200, "")
	c.want(c.call(invalid, "GET", "/v1/openapi.json?version=2.0", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(unchecked, "GET", "/v1/openapi.json?format=yaml", "", auth...), 400, "Unsupported filters")

	// Authentication and authorization.
	c.want(c.call(unchecked, "GET", "/v1/leads", ""), 401, "Missing API key")
	c.want(c.call(unchecked, "GET", "/v1/leads", "", bearer("joby_live_nope")...), 401, "Invalid API key")
	c.want(c.call(valid, "GET", "/v1/leads", "", bearer(offKey)...), 403, "Developer API is not enabled for this organization")
	c.want(c.call(valid, "POST", "/v1/leads", `{"first_name":"Ann"}`, bearer(readOnly)...), 403, "Missing scope")
	c.want(c.call(valid, "GET", "/v1/clients", "", bearer(readOnly)...), 403, "Missing scope")
	c.want(c.call(valid, "GET", "/v1/leads", "", bearer(slow)...), 200, "")
	r := c.want(c.call(valid, "GET", "/v1/leads", "", bearer(slow)...), 429, "Rate limit exceeded")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Policy") == "" {
		t.Errorf("429 headers: %v", r.Header)
	}

	// Every resource: create, list with filters, get, update, and the 404
	// of another organization.
	client := c.want(c.call(valid, "POST", "/v1/clients", `{"first_name":"Cy","company_name":"Acme","email":"cy@example.com","customer_type":null}`, auth...), 201, "").data()
	clientID, _ := client["id"].(string)
	lead := c.want(c.call(valid, "POST", "/v1/leads", `{"first_name":"Ann","last_name":"Lee","phone":"+15550100","email":"ann@example.com",`+
		`"status":"new","scheduled_at":"2030-01-02T15:04:05Z","client_id":"`+clientID+`","notes":"Gate code 1234"}`, auth...), 201, "").data()
	leadID, _ := lead["id"].(string)
	jobTypes := jobTypeIDs(t, a, org)
	appt := c.want(c.call(valid, "POST", "/v1/appointments", `{"first_name":"Ann","appointment_date":"2030-01-02","appointment_time":"09:30",`+
		`"end_time":"10:15","lead_id":"`+leadID+`","job_type_id":"`+jobTypes[0]+`","custom_fields":{"gate":"1234","floors":[1,2]}}`, auth...), 201, "").data()
	apptID, _ := appt["id"].(string)
	task := c.want(c.call(valid, "POST", "/v1/tasks", `{"title":"Call back","due_at":"2030-01-03T09:00:00+02:00","assigned_to_email":"ops@example.com",`+
		`"priority":"high","lead_id":"`+leadID+`","client_id":"`+clientID+`"}`, auth...), 201, "").data()
	taskID, _ := task["id"].(string)
	for _, res := range []struct{ name, id, patch, filters string }{
		{"leads", leadID, `{"status":"contacted","scheduled_at":null}`, "?status=new&lead_number=1&q=ann&limit=5&client_id=" + clientID + "&created_after=2020-01-01"},
		{"clients", clientID, `{"company_name":"Acme Inc","notes":"VIP"}`, "?email=cy%40example.com&q=acme&created_before=2100-01-01T00:00:00Z"},
		{"appointments", apptID, `{"status":"confirmed","end_time":"11:00","custom_fields":{}}`, "?lead_id=" + leadID + "&job_type_id=" + jobTypes[0] + "&offset=0"},
		{"tasks", taskID, `{"priority":"low","due_at":"2030-01-04T09:00:00Z"}`, "?priority=high&assigned_to_email=ops%40example.com&q=call"},
	} {
		l := c.want(c.call(valid, "GET", "/v1/"+res.name+res.filters, "", auth...), 200, "")
		if len(l.list()) != 1 {
			t.Errorf("%s%s: %d rows", res.name, res.filters, len(l.list()))
		}
		c.want(c.call(valid, "GET", "/v1/"+res.name, "", auth...), 200, "")
		c.want(c.call(valid, "GET", "/v1/"+res.name+"/"+res.id, "", auth...), 200, "")
		c.want(c.call(valid, "PATCH", "/v1/"+res.name+"/"+res.id, res.patch, auth...), 200, "")
		c.want(c.call(valid, "GET", "/v1/"+res.name+"/"+res.id, "", bearer(other)...), 404, "Not found")
		c.want(c.call(valid, "PATCH", "/v1/"+res.name+"/"+res.id, res.patch, bearer(other)...), 404, "Not found")
		c.want(c.call(invalid, "GET", "/v1/"+res.name+"/not-a-uuid", "", auth...), 404, "Not found")
		c.want(c.call(unchecked, "DELETE", "/v1/"+res.name+"/"+res.id, "", auth...), 405, "Method not allowed")
		c.want(c.call(unchecked, "PUT", "/v1/"+res.name, `{}`, auth...), 405, "Method not allowed")
	}

	// Every 400 variant of the registry.
	c.want(c.call(invalid, "POST", "/v1/leads", `{"id":"x","lead_number":7}`, auth...), 400, "Unsupported or protected fields")
	c.want(c.call(invalid, "POST", "/v1/leads", `{"email":"Ann <ann@example.com>"}`, auth...), 400, "Invalid field values")
	c.want(c.call(invalid, "POST", "/v1/appointments", `{"first_name":"No date"}`, auth...), 400, "Invalid field values")
	c.want(c.call(invalid, "POST", "/v1/appointments", `{"appointment_date":"2030-02-30","appointment_time":"25:00"}`, auth...), 400, "Invalid field values")
	c.want(c.call(invalid, "POST", "/v1/tasks", `{"title":""}`, auth...), 400, "Invalid field values")
	c.want(c.call(unchecked, "POST", "/v1/tasks", `{"title":"   "}`, auth...), 400, "Invalid field values")
	c.want(c.call(valid, "POST", "/v1/leads", `{"client_id":"`+uuid.New()+`"}`, auth...), 400, "Invalid foreign key")
	c.want(c.call(valid, "PATCH", "/v1/tasks/"+taskID, `{"lead_id":"`+uuid.New()+`"}`, auth...), 400, "Invalid foreign key")
	c.want(c.call(invalid, "POST", "/v1/leads", `[{"first_name":"Ann"}]`, auth...), 400, "Invalid JSON body")
	c.want(c.call(invalid, "POST", "/v1/leads", `{"first_name":`, auth...), 400, "Invalid JSON body")
	c.want(c.call(invalid, "PATCH", "/v1/leads/"+leadID, `{}`, auth...), 400, "No fields to update")
	c.want(c.call(unchecked, "GET", "/v1/leads?color=red", "", auth...), 400, "Unsupported filters")
	c.want(c.call(invalid, "GET", "/v1/leads?limit=0", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(invalid, "GET", "/v1/leads?offset=10001", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(invalid, "GET", "/v1/leads?lead_number=one", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(invalid, "GET", "/v1/leads?created_after=yesterday", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(unchecked, "GET", "/v1/leads?offset=0&cursor=abc", "", auth...), 400, "Invalid query parameters")
	c.want(c.call(valid, "GET", "/v1/leads?cursor=abc", "", auth...), 400, "Invalid cursor")
	c.want(c.call(valid, "GET", "/v1/leads?limit=5000", "", auth...), 200, "") // clamped
	big := `{"notes":"` + strings.Repeat("x", 1<<20) + `"}`
	c.want(c.call(invalid, "POST", "/v1/leads", big, auth...), 413, "Request body too large")
	c.want(c.call(unchecked, "GET", "/v1/nowhere", "", auth...), 404, "Unsupported resource")
	c.want(c.call(unchecked, "GET", "/v1/nowhere", ""), 401, "Missing API key")

	// Cursors: pages of 2 over 5 tasks, following next_cursor.
	for i := range 4 {
		c.want(c.call(valid, "POST", "/v1/tasks", fmt.Sprintf(`{"title":"Task %d"}`, i), auth...), 201, "")
	}
	page := c.want(c.call(valid, "GET", "/v1/tasks?limit=2", "", auth...), 200, "")
	pages := 1
	for page.Body["has_more"] == true {
		next, _ := page.Body["next_cursor"].(string)
		if next == "" || page.Header.Get("Link") == "" {
			t.Fatalf("has_more without next_cursor or Link: %s", page.Raw)
		}
		page = c.want(c.call(valid, "GET", "/v1/tasks?limit=2&cursor="+url.QueryEscape(next), "", auth...), 200, "")
		pages++
	}
	if pages != 3 || page.Body["next_cursor"] != nil {
		t.Errorf("%d pages, last next_cursor %v", pages, page.Body["next_cursor"])
	}

	// Idempotency-Key: replay, mismatch, in flight, malformed.
	idem := append(slices.Clone(auth), "Idempotency-Key", "create-zoe-1")
	first := c.want(c.call(valid, "POST", "/v1/leads", `{"first_name":"Zoe"}`, idem...), 201, "")
	replay := c.want(c.call(valid, "POST", "/v1/leads", `{"first_name":"Zoe"}`, idem...), 201, "")
	if replay.Header.Get("Idempotent-Replayed") != "true" || replay.str("id") != first.str("id") {
		t.Errorf("replay: %v %s", replay.Header, replay.Raw)
	}
	c.want(c.call(valid, "POST", "/v1/leads", `{"first_name":"Zed"}`, idem...), 422, "Idempotency key reused with a different request")
	c.want(c.call(valid, "PATCH", "/v1/leads/"+leadID, `{"status":"won"}`, append(slices.Clone(auth), "Idempotency-Key", "patch-1")...), 200, "")
	busyBody := `{"first_name":"Busy"}`
	store, err := sqlidem.New(sqlidem.Options{DB: a.db, Dialect: a.dialect})
	if err != nil {
		t.Fatal(err)
	}
	claim, err := store.Claim(context.Background(), idempotency.Claim{
		Ref:         idempotency.Ref{Scope: keyID, Key: "in-flight", Token: uuid.New()},
		Fingerprint: fingerprint(keyID, "POST", "/v1/leads", []byte(busyBody)),
		Lock:        time.Minute,
	})
	if err != nil || claim.State != idempotency.Claimed {
		t.Fatalf("claim: %v %v", claim.State, err)
	}
	busy := c.want(c.call(valid, "POST", "/v1/leads", busyBody, append(slices.Clone(auth), "Idempotency-Key", "in-flight")...), 409,
		"A request with this idempotency key is in progress")
	if busy.Header.Get("Retry-After") != "1" {
		t.Errorf("409 Retry-After %q", busy.Header.Get("Retry-After"))
	}
	c.want(c.call(invalid, "POST", "/v1/leads", `{}`, append(slices.Clone(auth), "Idempotency-Key", strings.Repeat("k", 256))...), 400, "Invalid request headers")

	// Webhook subscriptions (REST Hooks).
	sub := c.want(c.call(valid, "POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/hooks","events":["lead.created","task.updated"],"description":"CRM sync"}`, auth...), 201, "")
	subID := sub.str("id")
	if !strings.HasPrefix(sub.str("secret"), "whsec_") {
		t.Fatalf("subscription: %s", sub.Raw)
	}
	c.want(c.call(valid, "GET", "/v1/webhooks", "", auth...), 200, "")
	c.want(c.call(valid, "GET", "/v1/webhooks/"+subID, "", auth...), 200, "")
	c.want(c.call(valid, "PATCH", "/v1/webhooks/"+subID, `{"enabled":false,"description":null}`, auth...), 200, "")
	c.want(c.call(invalid, "PATCH", "/v1/webhooks/"+subID, `{}`, auth...), 400, "No fields to update")
	c.want(c.call(invalid, "POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/hooks","events":["lead.deleted"]}`, auth...), 400, "Invalid field values")
	c.want(c.call(invalid, "POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/hooks","events":["*"],"secret":"mine"}`, auth...), 400, "Unsupported or protected fields")
	c.want(c.call(valid, "POST", "/v1/webhooks", `{"target_url":"http://127.0.0.1:9/hooks","events":["client.created"]}`, bearer(readOnly)...), 403, "Missing scope")
	c.want(c.call(valid, "GET", "/v1/webhooks/"+subID, "", bearer(readOnly)...), 404, "Not found")
	c.want(c.call(valid, "DELETE", "/v1/webhooks/"+subID, "", auth...), 204, "")
	c.want(c.call(valid, "DELETE", "/v1/webhooks/"+subID, "", auth...), 404, "Not found")
	c.want(c.call(unchecked, "PUT", "/v1/webhooks/"+subID, `{}`, auth...), 405, "Method not allowed")

	// GraphQL: a query, and the refusals the handler answers in the REST
	// shape.
	c.want(c.call(valid, "POST", "/v1/graphql", `{"query":"{ leads(first: 1) { nodes { id firstName } } }"}`, auth...), 200, "")
	c.want(c.call(valid, "POST", "/v1/graphql", `{"query":"{ nope }"}`, auth...), 200, "")
	c.want(c.call(invalid, "POST", "/v1/graphql", `[{"query":"{ __typename }"}]`, auth...), 400, graphql.MsgBatchNotSupported)
	c.want(c.call(valid, "POST", "/v1/graphql", `{"query":"{ __typename }"}`, append(auth, "Idempotency-Key", "g1")...), 400, graphql.MsgIdempotencyKey)

	// Every operation was exercised with a success, and every error class
	// the example can answer was seen.
	statuses := map[int]bool{}
	for _, doc := range c.docs {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				ok := false
				for code := range c.seen[op.OperationID] {
					ok = ok || code < 300
				}
				if !ok {
					t.Errorf("%s %s (%s) was never answered with a success", method, path, op.OperationID)
				}
			}
		}
	}
	for _, codes := range c.seen {
		for code := range codes {
			statuses[code] = true
		}
	}
	var seen []int
	for code := range statuses {
		seen = append(seen, code)
	}
	sort.Ints(seen)
	for _, code := range []int{200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429} {
		if !statuses[code] {
			t.Errorf("no exchange answered %d (seen %v)", code, seen)
		}
	}
}

// jobTypeIDs returns the ids of the organization's seeded job types.
func jobTypeIDs(t *testing.T, a *api, org string) []string {
	t.Helper()
	rows, err := a.db.Query(a.dialect.Rebind("SELECT id FROM job_types WHERE organization_id = ? ORDER BY name"), org)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		t.Fatal("no job types")
	}
	return ids
}

// recorder collects what a contract reports.
type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, a...))
}

// TestOpenAPIContractCatchesDrift proves the contract check is not
// vacuous: against a document that lost a record member, an error
// response or a required header, the same real exchanges fail.
func TestOpenAPIContractCatchesDrift(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	lead := a.create(key, "leads", `{"first_name":"Ann","notes":"n"}`)
	id, _ := lead["id"].(string)
	auth := []string{"Authorization", "Bearer " + key}
	// The documents are parsed once; each case changes them and undoes
	// its change.
	docs := parseDocs(t, a.app.OpenAPI(), false) // validated by TestOpenAPIValid
	for _, tc := range []struct {
		name   string
		mutate func(doc *openapi3.T) (undo func())
		send   func(c *contract)
		want   string
	}{
		{"record member", func(doc *openapi3.T) func() {
			props := doc.Components.Schemas["Lead"].Value.Properties
			notes := props["notes"]
			delete(props, "notes")
			return func() { props["notes"] = notes }
		}, func(c *contract) { c.call(valid, "GET", "/v1/leads/"+id, "", auth...) }, "notes"},
		{"error status", func(doc *openapi3.T) func() {
			responses := doc.Paths.Value("/v1/leads/{id}").Get.Responses
			nf := responses.Value("404")
			responses.Delete("404")
			return func() { responses.Set("404", nf) }
		}, func(c *contract) { c.call(valid, "GET", "/v1/leads/"+uuid.New(), "", auth...) }, "status is not supported"},
		{"error message", func(doc *openapi3.T) func() {
			msg := doc.Components.Schemas["ErrorNotFound"].Value.Properties["error"].Value
			c, e := msg.Const, msg.Enum
			msg.Const, msg.Enum = "Not Found", []any{"Not Found"}
			return func() { msg.Const, msg.Enum = c, e }
		}, func(c *contract) { c.call(valid, "GET", "/v1/leads/"+uuid.New(), "", auth...) }, "error"},
		{"header format", func(doc *openapi3.T) func() {
			s := doc.Components.Headers["X-Request-Id"].Value.Schema.Value
			f := s.Format
			s.Format = "date"
			return func() { s.Format = f }
		}, func(c *contract) { c.call(valid, "GET", "/v1/leads/"+id, "", auth...) }, "X-Request-Id"},
		{"request body", func(doc *openapi3.T) func() {
			props := doc.Components.Schemas["LeadCreate"].Value.Properties
			notes := props["notes"]
			delete(props, "notes")
			return func() { props["notes"] = notes }
		}, func(c *contract) { c.call(valid, "POST", "/v1/leads", `{"notes":"x"}`, auth...) }, "refuses a valid request"},
	} {
		var undo []func()
		for _, doc := range docs {
			undo = append(undo, tc.mutate(doc))
		}
		rec := &recorder{}
		tc.send(newContract(rec, a, docs))
		if len(rec.msgs) != 2 || !strings.Contains(rec.msgs[0], tc.want) {
			t.Errorf("%s: drift not caught in both renditions: %q", tc.name, rec.msgs)
		}
		for _, u := range undo {
			u()
		}
	}
	// Undone, the same exchanges pass.
	rec := &recorder{}
	c := newContract(rec, a, docs)
	c.call(valid, "GET", "/v1/leads/"+id, "", auth...)
	c.call(valid, "GET", "/v1/leads/"+uuid.New(), "", auth...)
	c.call(valid, "POST", "/v1/leads", `{"notes":"x"}`, auth...)
	if len(rec.msgs) != 0 {
		t.Errorf("after undoing: %q", rec.msgs)
	}
}
