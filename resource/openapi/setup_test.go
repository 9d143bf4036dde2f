package openapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
)

// gadgets has a field of every type, filters on each and a reference, so
// that the document covers every mapping.
func gadgets() []resource.Resource {
	return []resource.Resource{
		{Name: "owners", Fields: []resource.Field{{Name: "name"}}},
		{
			Name: "gadgets", Singular: "gadget",
			Fields: []resource.Field{
				{Name: "code", Sequence: true},
				{Name: "name", Required: true},
				{Name: "body", Type: resource.Text, MaxLength: 2000},
				{Name: "contact", Type: resource.Email},
				{Name: "born", Type: resource.Date},
				{Name: "at_time", Type: resource.Time},
				{Name: "seen_at", Type: resource.DateTime},
				{Name: "count", Type: resource.Integer},
				{Name: "ratio", Type: resource.Number},
				{Name: "active", Type: resource.Boolean},
				{Name: "owner_id", References: "owners"},
				{Name: "extra", Type: resource.JSONObject},
				{Name: "secret_note", ReadOnly: true},
			},
			Filters: []string{"id", "code", "name", "contact", "born", "at_time", "seen_at", "count", "ratio", "active", "owner_id"},
			Search:  []string{"name", "body"},
		},
	}
}

var gadgetDDL = []string{
	`CREATE TABLE owners (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
	`CREATE TABLE gadgets (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, code INTEGER NOT NULL, name TEXT NOT NULL, body TEXT,
		contact TEXT, born TEXT, at_time TEXT, seen_at TEXT, count INTEGER, ratio REAL, active INTEGER, owner_id TEXT REFERENCES owners(id),
		extra TEXT, secret_note TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
}

// stack is a registry behind a chain like a service's: request id,
// version, a stand-in for authentication (the bearer token is
// "<org>:<scope>,<scope>"), an optional limiter, the registry.
type stack struct {
	reg     *resource.Registry
	doc     *openapi.Document
	handler http.Handler
	spec    *openapi.Handler
}

type stackOptions struct {
	routes  []resource.Route
	limiter func(http.Handler) http.Handler
	mod     func(*openapi.Options)
	public  bool
}

func newStack(t testing.TB, so stackOptions) *stack {
	t.Helper()
	db := dbtest.SQLite(t)
	for _, s := range gadgetDDL {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
	if err != nil {
		t.Fatal(err)
	}
	versioner, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Test-Version", Current: "2026-01-01", Supported: []string{"2025-06-01", "2026-01-01"}})
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{spec: openapi.NewHandler(openapi.HandlerOptions{Public: so.public})}
	routes := append([]resource.Route{st.spec.Route("/v1/openapi.json")}, so.routes...)
	st.reg, err = resource.New(resource.Options{DB: db, Resources: gadgets(), Routes: routes, Keyring: keyring, Version: "2026-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.reg.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	opts := openapi.Options{
		Registry: st.reg, Title: "Gadgets", Servers: []openapi.Server{{URL: "http://gadgets.test"}},
		KeyHeader: "X-Api-Key", Versioner: versioner, RateLimitHeaders: true, LimiterUnavailable: true,
	}
	if so.mod != nil {
		so.mod(&opts)
	}
	if st.doc, err = openapi.New(opts); err != nil {
		t.Fatal(err)
	}
	st.spec.Set(st.doc)
	var inner http.Handler = st.reg
	if so.limiter != nil {
		inner = so.limiter(inner)
	}
	authn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		org, scopes, _ := strings.Cut(tok, ":")
		if !ok || org == "" {
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgMissingKey).WithHeader("WWW-Authenticate", "Bearer"))
			return
		}
		set, err := scope.ParseSet(strings.Split(scopes, ","))
		if err != nil {
			set = scope.NewSet()
		}
		ctx := gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: org, Scopes: set.Strings()})
		inner.ServeHTTP(w, r.WithContext(ctx))
	})
	st.handler = gatehouse.RequestID(versioner.Wrap(authn))
	if so.public {
		// A public document is served in front of authentication.
		api := st.handler
		public := gatehouse.RequestID(versioner.Wrap(st.spec))
		st.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/openapi.json" {
				public.ServeHTTP(w, r)
				return
			}
			api.ServeHTTP(w, r)
		})
	}
	return st
}

// load parses and validates a rendition with kin-openapi.
func load(t testing.TB, d *openapi.Document, rendition string) *openapi3.T {
	t.Helper()
	b, err := d.JSON(rendition)
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("%s: load: %v", rendition, err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		t.Fatalf("%s: %v", rendition, err)
	}
	return doc
}

// validator checks exchanges against one rendition with openapi3filter.
type validator struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

func newValidator(t testing.TB, d *openapi.Document, rendition string) *validator {
	t.Helper()
	doc := load(t, d, rendition)
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	formats := map[string]openapi3.StringFormatValidator{
		"uuid": openapi3.NewRegexpFormatValidator(uuidRe.String()),
		"email": openapi3.NewCallbackValidator(func(s string) error {
			if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
				return errors.New("not a bare address")
			}
			return nil
		}),
	}
	return &validator{doc: doc, router: r, opts: &openapi3filter.Options{
		IncludeResponseStatus: true, SkipSettingDefaults: true, MultiError: true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formats)},
	}}
}

// check validates the request (unless it is meant to be invalid, then it
// must fail validation) and the response.
func (v *validator) check(req *http.Request, wantValid bool, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: v.opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if wantValid && reqErr != nil {
		return errors.New("valid request refused: " + reqErr.Error())
	}
	if !wantValid && reqErr == nil {
		return errors.New("invalid request accepted by the document")
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: v.opts}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}
