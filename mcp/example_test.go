package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/mcp"
	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
	"gatehouse.dev/sqldb"
)

// Example mounts the MCP server of a registry behind the key
// authentication of the REST API and lists the tools a read-only key sees,
// with their annotations, through the SDK's client over an in-memory
// round trip.
func Example() {
	dir, _ := os.MkdirTemp("", "mcp-example")
	defer os.RemoveAll(dir)
	db, err := sqldb.OpenSQLite(filepath.Join(dir, "crm.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE leads (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		first_name TEXT, status TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	reg, err := resource.New(resource.Options{DB: db, Resources: []resource.Resource{{
		Name: "leads", Fields: []resource.Field{{Name: "first_name"}, {Name: "status"}}, Filters: []string{"status"},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A key that may only read leads.
	store := auth.NewMemory(auth.MemoryOptions{})
	_, _ = store.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "Acme", APIEnabled: true})
	raw, p, _ := auth.Generate("acme", auth.EnvLive)
	_ = store.CreateKey(ctx, auth.Key{ID: "key-1", OrganizationID: "org-1", Env: p.Env, PublicID: p.PublicID,
		Hash: auth.Hash(raw.Reveal()), Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60})
	srv, err := mcp.New(mcp.Options{Registry: reg, Keys: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("registered:", srv.Tools())

	authn, err := auth.New(auth.Options{Store: store, Orgs: store, Prefix: "acme"})
	if err != nil {
		fmt.Println(err)
		return
	}
	handler := gatehouse.RequestID(authn.Wrap(srv))

	client := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "1"}, nil)
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("Authorization", "Bearer "+raw.Reveal())
		return serve(handler, r), nil
	})}
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: "http://crm.example/mcp", HTTPClient: hc}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range tools.Tools {
		fmt.Printf("%s read-only=%v\n", t.Name, t.Annotations.ReadOnlyHint)
	}
	// Output:
	// registered: [create_lead get_lead list_leads update_lead whoami]
	// get_lead read-only=true
	// list_leads read-only=true
	// whoami read-only=true
}
