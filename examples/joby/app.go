package main

import (
	"context"
	"database/sql"
	"fmt"
	"html/template"
	"io"
	"net/http"

	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/keysui"
	"gatehouse.dev/mcp"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// app is the assembled Joby API: the stack, with the MCP server, the
// ChatGPT Actions document and the API keys page mounted beside it.
type app struct {
	*stack.Stack
	sessions *keysui.DemoLogin // the demo login in front of the keys page
}

const (
	keysPath    = "/settings/developer/api-keys"
	actionsPath = "/actions/openapi.json" // the Actions document, no key needed
	// demoOrgID is fixed, so repeated -demo runs on one database reuse it.
	demoOrgID = "00000000-0000-4000-8000-00000000d3e0"
)

// newApp assembles the Joby API: o says where (database, Redis, secrets,
// admin token, telemetry); everything Joby is filled in here. publicURL is
// the https address of the Actions document's servers.
func newApp(ctx context.Context, o stack.Options, publicURL string) (*app, error) {
	var dialect tenancy.Dialect // known once the database is open, before any organization exists
	o.OnOrgCreated = func(ctx context.Context, tx *sql.Tx, orgID string) error {
		return seedJobTypes(ctx, tx, dialect, orgID)
	}
	o.Resources, o.KeyPrefix, o.KeyHeader, o.VersionHeader = resources(), "joby", "X-Joby-API-Key", "Joby-Version"
	// The service's own tables (in a real service they already exist).
	o.CreateTables, o.Tables = true, []string{"CREATE TABLE IF NOT EXISTS job_types (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL)"}
	o.Limits = resource.Limits{DefaultRateLimitPerMinute: 60, MaxRateLimitPerMinute: 300, AuditLogSize: 50}
	o.Webhooks, o.OpenAPI = true, openapi.Options{
		Title: "Joby Developer API",
		Description: "The Joby Developer API: leads, clients, appointments and tasks of one organization, " +
			"behind API keys with scopes, per-key rate limits and an audit log, with signed webhooks. " +
			"Generated from the gatehouse resource registry.",
		Servers: []openapi.Server{{URL: "{origin}", Description: "A Joby API deployment",
			Variables: map[string]openapi.ServerVariable{"origin": {Default: "http://127.0.0.1:8080",
				Description: "Scheme, host and port of the deployment (go run ./examples/joby -demo listens on http://127.0.0.1:8080)."}},
		}},
		KeyFormat: "joby_<live|test>_<public_id>_<secret>",
		// Documents the 503 of a Redis limiter an operator sets to fail closed.
		LimiterUnavailable: true,
	}
	s, err := stack.New(ctx, o)
	if err != nil {
		return nil, err
	}
	_, dialect = s.DB()
	a := &app{Stack: s}
	if err := a.mount(ctx, o, publicURL); err != nil {
		_ = s.Close()
		return nil, err
	}
	return a, nil
}

// settingsChrome is the host's settings menu around the keys page: the API
// Keys tab only while the organization's module is on.
var settingsChrome = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Page.Title}} · Settings · Joby</title>{{.Page.Head}}</head>
<body><nav aria-label="Settings"><a href="#">Profile</a> · <a href="#">Team</a>{{if .Tab}} · <a id="api-keys-tab" href="{{.Path}}/">Developer → API Keys</a>{{end}}</nav>
<main class="keysui">{{.Page.Body}}</main></body></html>`))

// mount serves the MCP server (each tool call limited and audited as one
// request), the Actions document and, with the admin API, the keys page
// behind the demo login.
func (a *app) mount(ctx context.Context, o stack.Options, publicURL string) error {
	agents, err := mcp.New(mcp.Options{Registry: a.Registry(), Keys: a.KeyCache(), Limiter: a.MeteredLimiter(), Audit: a.AuditSink(), ClientIP: o.ClientIP, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return err
	}
	a.Handle("/mcp", a.Authenticate(agents))
	if publicURL == "" {
		publicURL = "https://127.0.0.1:8080"
	}
	actions, err := a.Actions(openapi.ActionsOptions{BaseURL: publicURL})
	if err != nil {
		return err
	}
	a.Handle(actionsPath, actions)
	if a.AdminToken() == "" {
		return nil
	}
	if a.sessions, err = keysui.NewDemoLogin(keysui.DemoLoginOptions{Path: "/demo-login", Redirect: keysPath + "/", Cookie: "joby_session", Now: o.Now}); err != nil {
		return err
	}
	a.Handle("/demo-login", a.sessions)
	var page *keysui.Handler
	page, err = a.KeysPage(ctx, keysui.Options{
		Prefix: keysPath, Viewer: a.sessions.Viewer, Title: "API Keys",
		DisabledText: "API access is gated: the Developer API module is off by default. To request access, contact Joby Support with your organization name and a one-line description of what you want to integrate.",
		Layout: func(w io.Writer, r *http.Request, p keysui.Page) error {
			org, _, _ := a.sessions.Viewer(r)
			tab, _ := page.Visible(r.Context(), org)
			return settingsChrome.Execute(w, map[string]any{"Page": p, "Tab": tab, "Path": keysPath})
		},
	})
	return err
}

// printDemo prints the addresses, the demo key and how to reach the mounts.
func (a *app) printDemo(w io.Writer, ls []stack.Listener, key auth.RawKey, db, publicURL string) error {
	api := ls[0].Addr().String()
	return a.PrintDemo(w, stack.Demo{Name: "Joby", Listeners: ls, Database: db, Key: key, Notes: []string{
		fmt.Sprintf("API keys page on http://%s%s/ — log in once with (single use, valid 10 minutes):\n  http://%s%s", api, keysPath, api, a.sessions.Link(demoOrgID)),
		fmt.Sprintf("MCP clients (Claude Desktop or Code, IDE agents, the Inspector), in their mcpServers configuration:\n  "+
			`{"mcpServers":{"joby":{"type":"http","url":"http://%s/mcp","headers":{"Authorization":"Bearer %s"}}}}`, api, key.Reveal()),
		fmt.Sprintf("ChatGPT Action: import %s%s (served here at http://%s%s; Authentication: API key, Bearer)", publicURL, actionsPath, api, actionsPath),
	}})
}

// seedJobTypes gives every new organization its job types, in the
// transaction that creates it.
func seedJobTypes(ctx context.Context, tx *sql.Tx, d tenancy.Dialect, orgID string) error {
	for _, name := range []string{"Locksmith", "Plumbing", "Electrical", "HVAC", "Garage Door"} {
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO job_types (id, organization_id, name) VALUES (?, ?, ?)"), uuid.New(), orgID, name); err != nil {
			return fmt.Errorf("joby: seed job types: %w", err)
		}
	}
	return nil
}
