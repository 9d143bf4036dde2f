// Command joby is the reference Developer API, wiring only: the resources
// of resources.go in one gatehouse.dev/stack assembly (keys, limits, audit,
// webhooks, GraphQL, admin API) with an MCP server, a ChatGPT Actions
// document and an API keys page mounted beside it.
//
//	go run ./examples/joby -demo   # 127.0.0.1:8080, SQLite joby.db, a demo organization and a printed key
//	go run ./examples/joby -help   # the flags and the environment variables they default from
//
// Secrets: GATEHOUSE_SECRET_KEYS (id:base64key,… shared by all pods;
// required without -demo) and ADMIN_TOKEN (at least 32 characters).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/keysui"
	"gatehouse.dev/mcp"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/stack"
	"gatehouse.dev/telemetry"
	"gatehouse.dev/telemetry/console"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "joby:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("joby", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, key, def, usage string) *string { // a flag defaulting from $key
		if v := getenv(key); v != "" {
			def = v
		}
		return fs.String(name, def, usage+" ($"+key+")")
	}
	addr := env("addr", "ADDR", "127.0.0.1:8080", "listen address")
	adminAddr := env("admin-addr", "ADMIN_ADDR", "", "separate listen address for /admin (default: same as -addr)")
	dbURL := env("db", "DATABASE_URL", "joby.db", "SQLite file path or postgres:// URL")
	redisURL := env("redis", "REDIS_URL", "", "redis://host:6379/0 or redis+cluster://h1:p1,h2:p2 (empty: in-process limiter and key cache)")
	trusted := env("trusted-proxies", "TRUSTED_PROXIES", "", "comma-separated CIDRs or IPs of the proxies in front of the pods whose X-Forwarded-For is believed (empty: none)")
	publicURL := env("public-url", "PUBLIC_URL", "", "https base URL clients reach the API at (ChatGPT Actions servers URL; default https://<addr>)")
	otel := env("otel", "GATEHOUSE_OTEL", "none", "telemetry export: none or stdout (spans and metrics as JSON; OTLP: see examples/otlp)")
	replicas, _ := strconv.Atoi(getenv("REPLICAS"))
	fs.IntVar(&replicas, "replicas", replicas, "override the live pod count (heartbeats in Redis) of the per-pod fallback limit while Redis is down (0: counted) ($REPLICAS)")
	demo := fs.Bool("demo", false, "development mode: demo organization and API key, generated admin token and keyring")
	printOpenAPI := fs.Bool("openapi", false, "print the OpenAPI document and exit")
	openAPIVersion := fs.String("openapi-version", "3.1", "OpenAPI version of -openapi: 3.1 or 3.0 (3.0.3)")
	printSDL := fs.Bool("graphql-sdl", false, "print the GraphQL schema (SDL) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	proxies, err := gatehouse.ParseTrustedProxies(*trusted)
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	// Every log line of a request carries its request id (and trace ids).
	logger := slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, nil)))
	o := stack.Options{DatabaseURL: *dbURL, RedisURL: *redisURL, AdminToken: getenv("ADMIN_TOKEN"), Development: *demo,
		Limiter: redislimit.Options{Replicas: replicas}, ClientIP: gatehouse.ClientIP{TrustedProxies: proxies}, Logger: logger}
	if *printOpenAPI || *printSDL {
		o = stack.Options{Development: true, Logger: slog.New(slog.DiscardHandler)} // on a throwaway database
	} else if v := getenv("GATEHOUSE_SECRET_KEYS"); v != "" {
		if o.Keyring, err = gatehouse.ParseKeyring(v); err != nil {
			return err
		}
	}
	if *otel == "stdout" {
		p, err := console.New(stdout, console.Options{ServiceName: "joby"})
		if err != nil {
			return err
		}
		defer func() { _ = p.Shutdown(context.Background()) }()
		o.TracerProvider, o.MeterProvider = p.TracerProvider, p.MeterProvider
	} else if *otel != "none" && *otel != "" {
		return fmt.Errorf("-otel %q: want none or stdout (OTLP: see examples/otlp)", *otel)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *publicURL == "" {
		*publicURL = "https://" + *addr
	}
	s, err := newApp(ctx, o, *publicURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if *printSDL {
		sdl, err := s.GraphQLSDL()
		if err == nil {
			_, err = io.WriteString(stdout, sdl)
		}
		return err
	}
	if *printOpenAPI {
		b, err := s.OpenAPI().JSON(*openAPIVersion)
		if err == nil {
			_, err = stdout.Write(b)
		}
		return err
	}
	ls, err := s.Listen(*addr, *adminAddr)
	if err == nil && *demo {
		err = s.PrintDemo(ctx, stdout, stack.Demo{Name: "Joby", Listeners: ls, Database: *dbURL, OrgID: demoOrgID, Notes: func(api string, key auth.RawKey) []string {
			return []string{
				fmt.Sprintf("MCP clients (Claude Desktop or Code, IDE agents, the Inspector), in their mcpServers configuration:\n  "+
					`{"mcpServers":{"joby":{"type":"http","url":"http://%s/mcp","headers":{"Authorization":"Bearer %s"}}}}`, api, key.Reveal()),
				fmt.Sprintf("ChatGPT Action: import %s%s (served here at http://%s%s; Authentication: API key, Bearer)", *publicURL, actionsPath, api, actionsPath),
			}
		}})
	}
	if err != nil {
		return err
	}
	return s.Serve(ctx, ls...)
}

const (
	keysPath    = "/settings/developer/api-keys"
	actionsPath = "/actions/openapi.json" // the Actions document, no key needed
	demoOrgID   = "00000000-0000-4000-8000-00000000d3e0"
)

// newApp assembles the Joby API with its mounts: o says where (database,
// Redis, secrets, admin token, telemetry); everything Joby is filled in
// here. publicURL is the https address of the Actions document's servers.
func newApp(ctx context.Context, o stack.Options, publicURL string) (*stack.Stack, error) {
	o.Resources, o.KeyPrefix, o.KeyHeader, o.VersionHeader = resources(), "joby", "X-Joby-API-Key", "Joby-Version"
	// The service's own tables (in a real service they already exist); new
	// organizations get their job types.
	o.CreateTables, o.Tables = true, []string{"CREATE TABLE IF NOT EXISTS job_types (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"}
	o.OnOrgCreated = seedJobTypes
	o.Limits = resource.Limits{DefaultRateLimitPerMinute: 60, MaxRateLimitPerMinute: 300, AuditLogSize: 50}
	o.Registry.Protected, o.DisabledMessage = protected, disabledMessage // the reference API's, in resources.go
	o.Webhooks, o.OpenAPI = true, openapi.Options{
		Title: "Joby Developer API",
		Description: "The Joby Developer API: leads, clients, appointments and tasks of one organization, behind API keys " +
			"with scopes, per-key rate limits and an audit log, with signed webhooks. Generated from the gatehouse resource registry.",
		Servers: []openapi.Server{{URL: "{origin}", Description: "A Joby API deployment",
			Variables: map[string]openapi.ServerVariable{"origin": {Default: "http://127.0.0.1:8080",
				Description: "Scheme, host and port of the deployment (go run ./examples/joby -demo listens on http://127.0.0.1:8080)."}},
		}},
		KeyFormat:          "joby_<live|test>_<public_id>_<secret>",
		LimiterUnavailable: true, // documents the 503 of a Redis limiter set to fail closed
	}
	o.GraphQL.Path = "/v1/graphql" // each key's points bucket: rate_limit_per_minute × 50 a minute
	s, err := stack.New(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := mount(ctx, s, o, publicURL); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// settingsChrome is the host's settings menu: the API Keys tab only while the module is on.
var settingsChrome = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Page.Title}} · Settings · Joby</title>{{.Page.Head}}</head>
<body><nav aria-label="Settings"><a href="#">Profile</a> · <a href="#">Team</a>{{if .Tab}} · <a id="api-keys-tab" href="{{.Path}}/">Developer → API Keys</a>{{end}}</nav>
<main class="keysui">{{.Page.Body}}</main></body></html>`))

// mount serves the MCP server (each tool call limited and audited as one
// request), the Actions document and the keys page behind the
// demo login.
func mount(ctx context.Context, s *stack.Stack, o stack.Options, publicURL string) error {
	agents, err := mcp.New(mcp.Options{Registry: s.Registry(), Keys: s.KeyCache(), Limiter: s.MeteredLimiter(), Audit: s.AuditSink(), ClientIP: o.ClientIP, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return err
	}
	s.Handle("/mcp", s.Authenticate(agents))
	actions, err := s.Actions(openapi.ActionsOptions{BaseURL: publicURL})
	if err != nil {
		return err
	}
	s.Handle(actionsPath, actions)
	if s.AdminToken() == "" { // the keys page works on the admin API
		return nil
	}
	var page *keysui.Handler
	page, err = s.KeysPage(ctx, keysui.Options{
		Prefix: keysPath, Title: "API Keys",
		DisabledText: "API access is gated: the Developer API module is off by default. To request access, contact Joby Support with your organization name and a one-line description of what you want to integrate.",
		Layout: func(w io.Writer, r *http.Request, p keysui.Page) error {
			return settingsChrome.Execute(w, map[string]any{"Page": p, "Tab": page.VisibleTo(r), "Path": keysPath})
		},
	})
	return err
}

// seedJobTypes gives a new organization its job types, in the transaction
// that creates it ($n placeholders: PostgreSQL's, which SQLite reads too).
func seedJobTypes(ctx context.Context, tx *sql.Tx, orgID string) error {
	for _, name := range []string{"Locksmith", "Plumbing", "Electrical", "HVAC", "Garage Door"} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO job_types (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", uuid.New(), orgID, name); err != nil {
			return fmt.Errorf("joby: seed job types: %w", err)
		}
	}
	return nil
}
