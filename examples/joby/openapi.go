package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
)

// The OpenAPI document of the Joby API, generated from the registry: served
// at GET /v1/openapi.json (any valid key; ?version=3.0 for OpenAPI 3.0.3)
// and printed by `go run ./examples/joby -openapi`.

// openAPIPath is where the document is served; actionsPath serves its
// ChatGPT Actions rendition without a key.
const openAPIPath, actionsPath = "/v1/openapi.json", "/actions/openapi.json"

// openAPIOptions describes what the example's chain does around the
// registry (see newApp): the key headers, the version header, the
// idempotency middleware and the rate limiter.
func openAPIOptions(reg *resource.Registry, v *gatehouse.Versioner) openapi.Options {
	return openapi.Options{
		Registry: reg,
		Title:    "Joby Developer API",
		Description: "The Joby Developer API: leads, clients, appointments and tasks of one organization, " +
			"behind API keys with scopes, per-key rate limits and an audit log, with signed webhooks. " +
			"Generated from the gatehouse resource registry.",
		Servers: []openapi.Server{{
			URL:         "{origin}",
			Description: "A Joby API deployment",
			Variables: map[string]openapi.ServerVariable{"origin": {
				Default:     "http://127.0.0.1:8080",
				Description: "Scheme, host and port of the deployment (go run ./examples/joby -demo listens on http://127.0.0.1:8080).",
			}},
		}},
		KeyHeader: "X-Joby-API-Key",
		KeyFormat: "joby_<live|test>_<public_id>_<secret>",
		Versioner: v,
		// Idempotency-Key on every POST and PATCH (idem.Wrap in
		// resource.Options.Middleware).
		Idempotency: true,
		// ratelimit.New with both header families.
		RateLimitHeaders: true,
		// The Redis limiter's policy is a deployment decision; documenting
		// its fail-closed 503 lets clients handle it if an operator picks
		// it. The default policy (per-pod fallback) never sends it.
		LimiterUnavailable: true,
		// The webhook service emits <singular>.created and .updated for
		// every resource (OpenAPI 3.1 webhooks).
		Events: true,
	}
}

// whoamiRoute is GET /v1/whoami, documented.
func whoamiRoute(v *gatehouse.Versioner, logger *slog.Logger) resource.Route {
	return resource.Route{
		Method: http.MethodGet, Path: "/v1/whoami", Summary: "The calling API key (test connection)",
		Handler: auth.WhoAmI(auth.WhoAmIOptions{Version: v.Current(), Logger: logger}),
		Doc: &resource.RouteDoc{
			OperationID: "getWhoAmI",
			Description: "What a no-code platform's \"test connection\" step calls: the organization, the key's id, name, scopes and rate limit, and the API version.",
			Components:  map[string]json.RawMessage{"WhoAmI": auth.WhoAmISchema()},
			Responses: []resource.ResponseDoc{{Status: http.StatusOK, Description: "The calling key.",
				Data: json.RawMessage(`{"$ref":"#/components/schemas/WhoAmI"}`)}},
		},
	}
}

// writeOpenAPI builds the example on a throwaway SQLite database and writes
// its document in the rendition ("3.1" or "3.0") to w.
func writeOpenAPI(ctx context.Context, w io.Writer, rendition string) error {
	dir, err := os.MkdirTemp("", "joby-openapi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	doc, err := buildOpenAPI(ctx, filepath.Join(dir, "joby.db"))
	if err != nil {
		return err
	}
	b, err := doc.JSON(rendition)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// buildOpenAPI assembles the example on the SQLite file db and returns its
// document.
func buildOpenAPI(ctx context.Context, db string) (*openapi.Document, error) {
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("openapi"))
	if err != nil {
		return nil, err
	}
	a, err := newApp(ctx, config{DB: db, Keyring: keyring, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("joby: openapi: %w", err)
	}
	defer a.close()
	return a.openapi, nil
}
