package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"gatehouse.dev"
)

// WhoAmIOptions configures [WhoAmI]. The zero value works.
type WhoAmIOptions struct {
	// Version is the API version reported when the request carries none
	// in its context (see gatehouse.VersionFromContext, set by
	// gatehouse.Versioner); e.g. "v1". Empty reports null.
	Version string
	// Store looks the caller's key up by public id for the parts of the
	// answer a gatehouse.Caller does not carry (name, display prefix,
	// environment, expiry): typically the key cache the authentication
	// middleware uses, so the lookup is a cache hit. Required.
	Store Store
	// Logger receives the cause of a 500 (a chain without the
	// authentication middleware); nil means slog.Default().
	Logger *slog.Logger
}

// whoami is the data of GET /v1/whoami.
type whoami struct {
	OrganizationID     string   `json:"organization_id"`
	KeyID              string   `json:"key_id"`
	KeyName            string   `json:"key_name"`
	DisplayPrefix      string   `json:"display_prefix"`
	Env                string   `json:"env"`
	Scopes             []string `json:"scopes"`
	RateLimitPerMinute int      `json:"rate_limit_per_minute"`
	ExpiresAt          *string  `json:"expires_at"`
	APIVersion         *string  `json:"api_version"`
}

// WhoAmI returns the handler of GET /v1/whoami, the "test connection" call
// of no-code platforms: any valid key may call it (mount it as a
// resource.Route without a Scope, behind [Middleware]). It answers
//
//	{"data":{"organization_id","key_id","key_name","display_prefix","env",
//	  "scopes":[…],"rate_limit_per_minute","expires_at","api_version"},"request_id"}
//
// for the request's gatehouse.Caller, whose key it looks up in
// Options.Store: expires_at is RFC 3339 UTC or null, api_version the
// version serving the request (gatehouse.VersionFromContext) or
// Options.Version. It never returns the key, its secret or its hash. A
// request without a caller (the middleware is missing) is a 500 whose cause
// is logged; a key deleted since authentication is 401 "Invalid API key".
// It is an error if Options.Store is nil.
func WhoAmI(opts WhoAmIOptions) (http.Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: WhoAmIOptions.Store is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	store := opts.Store
	gone := gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgInvalidKey).WithHeader("WWW-Authenticate", "Bearer")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		c, ok := gatehouse.CallerFromContext(ctx)
		if !ok {
			gatehouse.WriteError(w, r, logger, errors.New("auth: whoami: no caller in the request context (is auth.Middleware in the chain?)"))
			return
		}
		k, err := store.LookupKey(ctx, c.PublicID)
		switch {
		case errors.Is(err, ErrNotFound) || err == nil && k.ID != c.KeyID:
			gatehouse.WriteError(w, r, logger, gone.Wrap(fmt.Errorf("auth: whoami: key %s not found", c.KeyID)))
			return
		case err != nil:
			gatehouse.WriteError(w, r, logger, fmt.Errorf("auth: whoami: look up key %s: %w", c.KeyID, err))
			return
		}
		d := whoami{
			OrganizationID:     k.OrganizationID,
			KeyID:              k.ID,
			KeyName:            k.Name,
			DisplayPrefix:      k.DisplayPrefix,
			Env:                k.Env,
			Scopes:             k.Scopes.Strings(),
			RateLimitPerMinute: k.RateLimitPerMinute,
		}
		if d.Scopes == nil {
			d.Scopes = []string{}
		}
		if k.ExpiresAt != nil {
			s := k.ExpiresAt.UTC().Format(time.RFC3339)
			d.ExpiresAt = &s
		}
		if v, ok := gatehouse.VersionFromContext(ctx); ok {
			d.APIVersion = &v
		} else if opts.Version != "" {
			v := opts.Version
			d.APIVersion = &v
		}
		gatehouse.WriteData(w, r, http.StatusOK, d)
	}), nil
}

// WhoAmISchema returns the JSON Schema (2020-12, as OpenAPI 3.1 writes it)
// of the "data" member of the [WhoAmI] answer, for route documentation
// (resource.RouteDoc.Responses, read by package resource/openapi).
func WhoAmISchema() json.RawMessage {
	return json.RawMessage(`{
	"type": "object",
	"description": "The API key that made the request. Never the key, its secret or its hash.",
	"additionalProperties": false,
	"required": ["organization_id", "key_id", "key_name", "display_prefix", "env", "scopes", "rate_limit_per_minute", "expires_at", "api_version"],
	"properties": {
		"organization_id": {"type": "string", "description": "The organization the key belongs to."},
		"key_id": {"type": "string", "format": "uuid", "description": "The key's id."},
		"key_name": {"type": "string"},
		"display_prefix": {"type": "string", "description": "The key's public start, e.g. joby_live_<public_id>_…, to recognize it."},
		"env": {"type": "string", "enum": ["live", "test"]},
		"scopes": {"type": "array", "items": {"type": "string"}, "description": "The scopes granted, sorted."},
		"rate_limit_per_minute": {"type": "integer", "minimum": 1},
		"expires_at": {"type": ["string", "null"], "format": "date-time", "description": "When the key stops working; null if never."},
		"api_version": {"type": ["string", "null"], "description": "The API version serving the request."}
	}
}`)
}
