package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/keysui"
	"gatehouse.dev/mcp"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// app is the assembled Joby API and its mounts beside the stack: the API
// keys page behind the demo login, the MCP server and the ChatGPT Actions
// document.
type app struct {
	*stack.Stack
	keysPage *keysui.Handler   // with the admin API
	sessions *keysui.DemoLogin // the demo login in front of it
	mcp      http.Handler      // /mcp: same key, limits and audit per tool call
	actions  http.Handler      // /actions/openapi.json, no key needed
}

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
	err = a.mountAgents(publicURL, o)
	if err == nil && o.AdminToken != "" {
		err = a.mountKeysPage(ctx, o)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return a, nil
}

// mountAgents builds the MCP server (behind the key check; each tool call
// limited and audited as one request) and the Actions rendition.
func (a *app) mountAgents(publicURL string, o stack.Options) error {
	agents, err := mcp.New(mcp.Options{Registry: a.Registry(), Keys: a.KeyCache(), Limiter: a.Limiter(), Audit: a.AuditSink(), ClientIP: o.ClientIP, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return err
	}
	a.mcp = a.Authenticate(agents)
	if publicURL == "" {
		publicURL = "https://127.0.0.1:8080"
	}
	doc, err := openapi.NewActions(a.OpenAPIOptions(), openapi.ActionsOptions{BaseURL: publicURL})
	if err != nil {
		return err
	}
	actions := openapi.NewHandler(openapi.HandlerOptions{Public: true, Logger: o.Logger})
	actions.Set(doc)
	a.actions = gatehouse.RequestID(actions)
	return nil
}

// actionsPath serves the ChatGPT Actions document without a key.
const actionsPath = "/actions/openapi.json"

// handler serves the mounts, then the stack's handler (next).
func (a *app) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case a.keysPage != nil && strings.HasPrefix(p, keysPath+"/"):
			a.keysPage.ServeHTTP(w, r)
		case a.sessions != nil && p == "/demo-login":
			a.sessions.ServeHTTP(w, r)
		case p == "/mcp":
			a.mcp.ServeHTTP(w, r)
		case p == actionsPath:
			a.actions.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
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
