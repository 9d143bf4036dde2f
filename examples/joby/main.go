// Command joby is the reference Developer API built only from gatehouse:
// four resources (leads, clients, appointments, tasks) under /v1 behind API
// keys, scopes, per-key rate limits, a per-key audit log, organization
// isolation and webhooks, plus the admin API under /admin. It is wiring
// only: flags, resources, one gatehouse.dev/stack assembly, serve.
//
//	go run ./examples/joby -demo
//
// starts it on 127.0.0.1:8080 with a SQLite file, a demo organization and a
// printed key. Flags (and environment variables):
//
//	-addr        (ADDR)          listen address, default 127.0.0.1:8080
//	-admin-addr  (ADMIN_ADDR)    serve /admin on this separate listener
//	-db          (DATABASE_URL)  SQLite file path or postgres:// URL, default joby.db
//	-redis       (REDIS_URL)     redis://host:6379/0 or redis+cluster://h1:p1,h2:p2 (empty: in-process)
//	-replicas    (REPLICAS)      override the live pod count (heartbeats in Redis) of the fallback limit
//	-trusted-proxies (TRUSTED_PROXIES) CIDRs or IPs of proxies whose X-Forwarded-For is believed, comma-separated
//	-public-url  (PUBLIC_URL)    https base URL of the ChatGPT Actions document, default https://<addr>
//	-otel        (GATEHOUSE_OTEL) none or stdout: print spans and metrics (OTLP: examples/otlp)
//	-demo                        development mode: demo organization and key, generated ADMIN_TOKEN and keyring
//	-openapi                     print the OpenAPI document (-openapi-version 3.0 for 3.0.3) and exit
//	             (GATEHOUSE_SECRET_KEYS) id:base64key,… shared by all pods (cursors, webhook secrets); required without -demo
//	             (ADMIN_TOKEN)   bearer token of /admin, at least 32 characters
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	otelresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/stack"
	"gatehouse.dev/telemetry"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "joby:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	replicas, _ := strconv.Atoi(env("REPLICAS", "0"))
	fs := flag.NewFlagSet("joby", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("ADDR", "127.0.0.1:8080"), "listen address")
	adminAddr := fs.String("admin-addr", getenv("ADMIN_ADDR"), "separate listen address for /admin (default: same as -addr)")
	dbURL := fs.String("db", env("DATABASE_URL", "joby.db"), "SQLite file path or postgres:// URL")
	redisURL := fs.String("redis", getenv("REDIS_URL"), "Redis URL (empty: in-process limiter and key cache)")
	fs.IntVar(&replicas, "replicas", replicas, "override the live pod count (heartbeats in Redis) of the per-pod fallback limit while Redis is down (0: counted)")
	trusted := fs.String("trusted-proxies", getenv("TRUSTED_PROXIES"), "comma-separated CIDRs or IPs of the proxies in front of the pods whose X-Forwarded-For is believed (empty: none)")
	publicURL := fs.String("public-url", getenv("PUBLIC_URL"), "https base URL clients reach the API at (ChatGPT Actions servers URL; default https://<addr>)")
	otelMode := fs.String("otel", env("GATEHOUSE_OTEL", "none"), "telemetry export: none or stdout (spans and metrics as JSON)")
	demo := fs.Bool("demo", false, "development mode: create a demo organization and API key and print them")
	printOpenAPI := fs.Bool("openapi", false, "print the OpenAPI document and exit")
	openAPIVersion := fs.String("openapi-version", "3.1", "OpenAPI version of -openapi: 3.1 or 3.0 (3.0.3)")
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
	if *demo && o.AdminToken == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		o.AdminToken = "joby_admin_" + base64.RawURLEncoding.EncodeToString(b)
	}
	if *printOpenAPI { // built on a throwaway database
		dir, err := os.MkdirTemp("", "joby-openapi-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o = stack.Options{DatabaseURL: filepath.Join(dir, "joby.db"), Development: true, Logger: slog.New(slog.DiscardHandler)}
	} else if v := getenv("GATEHOUSE_SECRET_KEYS"); v != "" {
		k, err := gatehouse.ParseKeyring(v)
		if err != nil {
			return err
		}
		o.Keyring = k
	}
	switch *otelMode {
	case "none", "":
	case "stdout":
		shutdown, err := stdoutTelemetry(stdout, &o)
		if err != nil {
			return err
		}
		defer func() { _ = shutdown(context.Background()) }()
	default:
		return fmt.Errorf("-otel %q: want none or stdout (OTLP: see examples/otlp)", *otelMode)
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
	if *printOpenAPI {
		b, err := s.OpenAPI().JSON(*openAPIVersion)
		if err == nil {
			_, err = stdout.Write(b)
		}
		return err
	}
	var demoKey auth.RawKey
	if *demo {
		if demoKey, err = s.DemoKey(ctx, demoOrgID, "Demo Organization", "Demo key"); err != nil {
			return err
		}
	}
	listeners := []stack.Listener{{Handler: s.handler(s.Handler())}}
	if *adminAddr != "" {
		listeners = []stack.Listener{{Handler: s.handler(s.Public())}, {Handler: s.Admin()}}
	}
	for i, a := range []string{*addr, *adminAddr}[:len(listeners)] {
		if listeners[i].Listener, err = net.Listen("tcp", a); err != nil {
			for _, l := range listeners[:i] {
				_ = l.Close()
			}
			return err
		}
		logger.Info("joby: listening", "addr", listeners[i].Addr().String())
	}
	if *demo {
		api, adminAt := listeners[0].Addr().String(), listeners[len(listeners)-1].Addr().String()
		fmt.Fprintf(stdout, "Joby API on http://%s/v1 (database %s)\n\n", api, *dbURL)
		fmt.Fprintf(stdout, "Demo API key (shown once; only its hash is stored):\n  %s\n\n", demoKey.Reveal())
		fmt.Fprintf(stdout, "Try:\n  curl -s \"http://%s/v1/leads?limit=10\" -H \"Authorization: Bearer %s\" -H \"Accept: application/json\"\n\n", api, demoKey.Reveal())
		fmt.Fprintf(stdout, "Admin API on http://%s/admin with:\n  Authorization: Bearer %s\n", adminAt, o.AdminToken)
		if s.sessions != nil {
			fmt.Fprintf(stdout, "\nAPI keys page on http://%s%s/ — log in once with (single use, valid 10 minutes):\n  http://%s%s\n", api, keysPath, api, s.sessions.Link(demoOrgID))
		}
		fmt.Fprintf(stdout, "\nMCP clients (Claude Desktop or Code, IDE agents, the Inspector), in their mcpServers configuration:\n  %s\n\n",
			fmt.Sprintf(`{"mcpServers":{"joby":{"type":"http","url":"http://%s/mcp","headers":{"Authorization":"Bearer %s"}}}}`, api, demoKey.Reveal()))
		fmt.Fprintf(stdout, "ChatGPT Action: import %s%s (served here at http://%s%s; Authentication: API key, Bearer)\n", *publicURL, actionsPath, api, actionsPath)
	}
	return s.Serve(ctx, listeners...)
}

// demoOrgID is the fixed id of the demo organization, so repeated -demo runs
// on one database reuse it.
const demoOrgID = "00000000-0000-4000-8000-00000000d3e0"

// stdoutTelemetry installs OpenTelemetry SDK providers in o that print
// spans and metrics (every 10 s) to w, so a user sees them without a
// collector.
func stdoutTelemetry(w io.Writer, o *stack.Options) (func(context.Context) error, error) {
	te, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, err
	}
	me, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, err
	}
	res := otelresource.NewSchemaless(attribute.String("service.name", "joby"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(10*time.Second))), sdkmetric.WithResource(res))
	o.TracerProvider, o.MeterProvider = tp, mp
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}, nil
}
