// Command joby is the reference Developer API built only from gatehouse:
// four resources (leads, clients, appointments, tasks) under /v1 behind API
// keys, scopes, per-key rate limits, a per-key audit log and organization
// isolation, plus the admin API under /admin.
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
//	-replicas    (REPLICAS)      pods sharing Redis, for the fallback limit, default 1
//	-trusted-proxies (TRUSTED_PROXIES) CIDRs or IPs of proxies whose X-Forwarded-For is believed, comma-separated
//	-otel        (GATEHOUSE_OTEL) none or stdout: print spans and metrics (OTLP: examples/otlp)
//	-demo                        create a demo organization and key, generate ADMIN_TOKEN
//	-openapi                     print the OpenAPI document (-openapi-version 3.0 for 3.0.3) and exit
//	             (GATEHOUSE_SECRET_KEYS) id:base64key,… shared by all pods (cursors, webhook secrets)
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
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/telemetry"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "joby:", err)
		os.Exit(1)
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("joby", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "ADDR", "127.0.0.1:8080"), "listen address")
	adminAddr := fs.String("admin-addr", getenv("ADMIN_ADDR"), "separate listen address for /admin (default: same as -addr)")
	dbURL := fs.String("db", envOr(getenv, "DATABASE_URL", "joby.db"), "SQLite file path or postgres:// URL")
	redisURL := fs.String("redis", getenv("REDIS_URL"), "Redis URL (empty: in-process limiter and audit log)")
	replicas := fs.Int("replicas", envInt(getenv, "REPLICAS", 1), "pods sharing Redis (per-pod fallback limit while Redis is down)")
	trusted := fs.String("trusted-proxies", getenv("TRUSTED_PROXIES"), "comma-separated CIDRs or IPs of the proxies in front of the pods whose X-Forwarded-For is believed (empty: none)")
	otelMode := fs.String("otel", envOr(getenv, "GATEHOUSE_OTEL", "none"), "telemetry export: none or stdout (spans and metrics as JSON)")
	publicURL := fs.String("public-url", getenv("PUBLIC_URL"), "https base URL clients reach the API at (ChatGPT Actions servers URL; default https://<addr>)")
	demo := fs.Bool("demo", false, "create a demo organization and API key and print them")
	printOpenAPI := fs.Bool("openapi", false, "print the OpenAPI document and exit")
	openAPIVersion := fs.String("openapi-version", "3.1", "OpenAPI version of -openapi: 3.1 or 3.0 (3.0.3)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printOpenAPI {
		return writeOpenAPI(ctx, stdout, *openAPIVersion)
	}
	// Every log line of a request carries its request id (and trace ids).
	logger := slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, nil)))

	adminToken := getenv("ADMIN_TOKEN")
	if *demo && adminToken == "" {
		adminToken = randomToken()
	}
	if adminToken != "" && len(adminToken) < 32 {
		return errors.New("ADMIN_TOKEN must have at least 32 characters")
	}
	if adminToken == "" {
		logger.Warn("ADMIN_TOKEN is not set: /admin is disabled")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	proxies, err := gatehouse.ParseTrustedProxies(*trusted)
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	if *publicURL == "" {
		*publicURL = "https://" + *addr
	}
	cfg := config{DB: *dbURL, AdminToken: adminToken, Redis: *redisURL, Replicas: *replicas, TrustedProxies: proxies, Logger: logger, PersistKeyring: *demo, PublicURL: *publicURL}
	if v := getenv("GATEHOUSE_SECRET_KEYS"); v != "" {
		k, err := gatehouse.ParseKeyring(v)
		if err != nil {
			return err
		}
		cfg.Keyring = k
	}
	switch *otelMode {
	case "none", "":
	case "stdout":
		tp, mp, shutdown, err := stdoutTelemetry(stdout)
		if err != nil {
			return err
		}
		defer func() { _ = shutdown(context.Background()) }()
		cfg.TracerProvider, cfg.MeterProvider = tp, mp
	default:
		return fmt.Errorf("-otel %q: want none or stdout (OTLP: see examples/otlp)", *otelMode)
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()

	var demoKey auth.RawKey
	if *demo {
		if demoKey, err = a.seedDemo(ctx); err != nil {
			return err
		}
	}

	servers := []*http.Server{newServer(*addr, a.handler(*adminAddr == ""))}
	if *adminAddr != "" && a.admin != nil {
		servers = append(servers, newServer(*adminAddr, a.handler(true)))
	}
	bgCtx, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.run(bgCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("joby: background work", "err", err)
		}
	}()
	var listeners []net.Listener
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			stopBG()
			wg.Wait()
			return err
		}
		listeners = append(listeners, ln)
	}
	for i, s := range servers {
		logger.Info("joby: listening", "addr", listeners[i].Addr().String())
		go func() {
			if err := s.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	if *demo {
		api := listeners[0].Addr().String()
		adminAt := api
		if len(listeners) > 1 {
			adminAt = listeners[1].Addr().String()
		}
		fmt.Fprintf(stdout, "Joby API on http://%s/v1 (database %s)\n\n", api, *dbURL)
		fmt.Fprintf(stdout, "Demo API key (shown once; only its hash is stored):\n  %s\n\n", demoKey.Reveal())
		fmt.Fprintf(stdout, "Try:\n  curl -s \"http://%s/v1/leads?limit=10\" -H \"Authorization: Bearer %s\" -H \"Accept: application/json\"\n\n", api, demoKey.Reveal())
		fmt.Fprintf(stdout, "Admin API on http://%s/admin with:\n  Authorization: Bearer %s\n", adminAt, adminToken)
		if a.sessions != nil {
			fmt.Fprintf(stdout, "\nAPI keys page on http://%s%s/ — log in once with (single use, valid 10 minutes):\n  http://%s%s\n", api, keysPath, api, a.sessions.link(demoOrgID))
		}
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "MCP clients (Claude Desktop or Code, IDE agents, the Inspector), in their mcpServers configuration:\n  %s\n\n",
			fmt.Sprintf(`{"mcpServers":{"joby":{"type":"http","url":"http://%s/mcp","headers":{"Authorization":"Bearer %s"}}}}`, api, demoKey.Reveal()))
		fmt.Fprintf(stdout, "ChatGPT Action: import %s%s (served here at http://%s%s; Authentication: API key, Bearer)\n", *publicURL, actionsPath, api, actionsPath)
	}
	select {
	case <-ctx.Done():
		logger.Info("joby: shutting down")
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	stopBG() // after the servers drained: flush background work
	wg.Wait()
	return err
}

func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

func envInt(getenv func(string) string, key string, def int) int {
	if n, err := strconv.Atoi(getenv(key)); err == nil {
		return n
	}
	return def
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "joby_admin_" + base64.RawURLEncoding.EncodeToString(b)
}

// demoOrgID is the fixed id of the demo organization, so repeated -demo runs
// on one database reuse it.
const demoOrgID = "00000000-0000-4000-8000-00000000d3e0"

// seedDemo makes sure the demo organization exists with its API enabled and
// issues a new full-scope key for it.
func (a *app) seedDemo(ctx context.Context) (auth.RawKey, error) {
	now := time.Now().UTC()
	if _, err := a.store.GetOrg(ctx, demoOrgID); errors.Is(err, auth.ErrNotFound) {
		if _, err := a.store.CreateOrg(ctx, auth.Org{ID: demoOrgID, Name: "Demo Organization", CreatedAt: now, UpdatedAt: now}); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if _, err := a.store.SetAPIEnabled(ctx, demoOrgID, true, now); err != nil {
		return "", err
	}
	if a.adminH == nil {
		return "", errors.New("demo needs the admin API")
	}
	raw, _, err := a.adminH.IssueKey(ctx, demoOrgID, "Demo key", scope.NewSet(a.reg.Scopes()...), 60, nil)
	return raw, err
}

// stdoutTelemetry builds OpenTelemetry SDK providers that print spans and
// metrics (every 10 s) to w, so a user sees them without a collector.
func stdoutTelemetry(w io.Writer) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, func(context.Context) error, error) {
	te, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, nil, nil, err
	}
	me, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, nil, nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", "joby"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(10*time.Second))), sdkmetric.WithResource(res))
	shutdown := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}
	return tp, mp, shutdown, nil
}
