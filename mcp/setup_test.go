package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/mcp"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func notes() []resource.Resource {
	return []resource.Resource{{
		Name: "notes",
		Fields: []resource.Field{
			{Name: "title", Required: true, MaxLength: 80},
			{Name: "email", Type: resource.Email},
			{Name: "status"},
			{Name: "stars", Type: resource.Integer},
		},
		Filters: []string{"id", "status", "stars"},
		Search:  []string{"title"},
	}}
}

// env is an MCP server behind the REST chain's request id and
// authentication middlewares, on SQLite, with an in-process limiter and
// audit log.
type env struct {
	t     *testing.T
	srv   *mcp.Server
	url   string
	store *auth.Memory
	audit *audit.Memory
	clock *clock
	orgA  string
	orgB  string
}

const notesDDL = `CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, title TEXT NOT NULL, email TEXT,
	status TEXT, stars INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`

func newEnv(t *testing.T, opts mcp.Options) *env {
	return newEnvWith(t, opts, notesDDL, notes())
}

func newEnvWith(t *testing.T, opts mcp.Options, ddl string, resources []resource.Resource) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.SQLite(t)
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("test"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := resource.New(resource.Options{DB: db, Resources: resources, Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: auth.NewMemory(auth.MemoryOptions{}), audit: audit.NewMemory(audit.MemoryOptions{}), clock: c}
	for _, id := range []string{"org-a", "org-b"} {
		if _, err := e.store.CreateOrg(ctx, auth.Org{ID: id, Name: id, APIEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	e.orgA, e.orgB = "org-a", "org-b"
	limiter, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts.Registry, opts.Limiter, opts.Audit, opts.Keys, opts.Now = reg, limiter, e.audit, e.store, c.Now
	if e.srv, err = mcp.New(opts); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Options{Store: e.store, Orgs: e.store, Prefix: "test", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gatehouse.RequestID(authn.Wrap(e.srv)))
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

// key issues a key of org with the scopes and limit.
func (e *env) key(org string, limit int, scopes ...string) (raw, id string) {
	e.t.Helper()
	r, p, err := auth.Generate("test", auth.EnvLive)
	if err != nil {
		e.t.Fatal(err)
	}
	id = "key-" + p.PublicID
	set, err := scope.ParseSet(scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateKey(context.Background(), auth.Key{
		ID: id, OrganizationID: org, Name: "agent", Env: p.Env, PublicID: p.PublicID, Hash: auth.Hash(r.Reveal()),
		DisplayPrefix: p.DisplayPrefix(), Scopes: set, RateLimitPerMinute: limit,
	}); err != nil {
		e.t.Fatal(err)
	}
	return r.Reveal(), id
}

// headerTransport adds headers to every request.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens a client session with the key.
func (e *env) connect(key string) *sdk.ClientSession {
	e.t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	hc := &http.Client{Transport: headerTransport{http.Header{"Authorization": {"Bearer " + key}}}}
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: e.url, HTTPClient: hc}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// call calls a tool and decodes its result: the structured content, or the
// error body of a tool error.
func call(t *testing.T, cs *sdk.ClientSession, name string, args any) (map[string]any, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("%s: %d contents", name, len(res.Content))
	}
	text, ok := res.Content[0].(*sdk.TextContent)
	if !ok {
		t.Fatalf("%s: content %T", name, res.Content[0])
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(text.Text), &out); err != nil {
		t.Fatalf("%s: text %q: %v", name, text.Text, err)
	}
	if !res.IsError {
		var sc map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &sc); err != nil || !strings.EqualFold(string(b), mustJSON(t, out)) {
			t.Errorf("%s: structured content %s differs from text %s", name, b, text.Text)
		}
	}
	return out, res.IsError
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
