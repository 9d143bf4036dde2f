package stack

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// Defaults of [Options].
const (
	DefaultAdminPrefix = "/admin"
	DefaultHealthPath  = "/healthz"
)

// Options configures [New]. The zero value of every optional field means
// the default in its comment. The stack reads no environment variables:
// the host reads its configuration (for example GATEHOUSE_SECRET_KEYS with
// [gatehouse.ParseKeyring], REDIS_URL with [OpenRedis]) and passes values.
type Options struct {
	// DB holds the resources' tables and gatehouse's own (keys,
	// organizations, idempotency, audit, webhooks). Required unless
	// DatabaseURL is set or in Development mode, which then uses a
	// throwaway SQLite file (removed by Stack.Close; for example to print
	// the OpenAPI document). The stack never closes a DB it was given.
	DB *sql.DB
	// Dialect of DB; zero means detected from its driver.
	Dialect tenancy.Dialect
	// DatabaseURL, used when DB is nil, is a SQLite file path or a
	// postgres:// URL (package sqldb). The stack opens it, with a span per
	// statement when telemetry providers are set, and closes it in
	// [Stack.Close].
	DatabaseURL string

	// Redis, when set, holds the rate limits, the per-key audit logs and
	// the key-change feed shared by every pod. Nil (and no RedisURL) means
	// in-process rate limits (per pod), the audit log in DB, and key
	// changes reaching other pods within the key cache's TTL (5 s). The
	// stack never closes a client it was given.
	Redis redis.UniversalClient
	// RedisURL, used when Redis is nil, is opened with [OpenRedis] and
	// closed in [Stack.Close].
	RedisURL string
	// RedisPrefix namespaces the stack's Redis keys (rate limits, audit
	// logs, key-change stream), so services can share one Redis: default
	// each part's own default ("gatehouse:…").
	RedisPrefix string
	// Limiter tunes the Redis rate limiter (package redislimit); Client,
	// Prefix and Logger are set by the stack. Unused without Redis.
	Limiter redislimit.Options

	// Keyring holds the server secrets every pod shares: it signs list
	// cursors and seals webhook signing secrets and idempotent replays at
	// rest. Required while a feature that needs it is on (cursors, unless
	// DisableCursors; idempotency, unless DisableIdempotency; webhooks,
	// when Webhooks is set): New names the features otherwise.
	// Load it with [gatehouse.ParseKeyring] from the host's configuration.
	Keyring *gatehouse.Keyring
	// Development generates the keyring when none is given and keeps it in
	// DB (table gatehouse_dev_settings), so a restarted development server
	// still accepts its cursors and opens its webhook secrets, and
	// generates an admin token when AdminToken is empty. Never for
	// production: the secrets then rest beside the data they protect.
	Development bool

	// Resources are the API's resources (package resource).
	Resources []resource.Resource
	// Registry tunes the resource registry; DB, Dialect, Resources,
	// Keyring, Logger and Now are set by the stack, which also appends its
	// routes (whoami, the OpenAPI document, webhooks) to Routes and puts
	// the idempotency middleware first in Middleware. Prefix, Version and
	// Limits are taken from the fields of the same name below when set
	// there.
	Registry resource.Options
	// Prefix of the public API: default "/v1".
	Prefix string
	// Version is the API version: default "v1".
	Version string
	// VersionHeader, when set (e.g. "Acme-Version"), announces Version on
	// every answer and lets clients pin it (gatehouse.Versioner).
	VersionHeader string
	// DisableCursors turns list cursors off (next_cursor is then always
	// null); they need the Keyring.
	DisableCursors bool
	// DisableIdempotency turns the Idempotency-Key support of POST and
	// PATCH off.
	DisableIdempotency bool
	// CreateSchema creates the recommended list indexes of the resources'
	// tables if they are missing. The tables themselves are the host's.
	CreateSchema bool
	// CreateTables runs Tables, then creates the resources' tables that do
	// not exist yet ([resource.Registry.DDL]: for resources declared from
	// scratch, demos and tests) and their recommended indexes. Tables that
	// exist are left as they are (the startup check verifies them).
	CreateTables bool
	// Tables are idempotent statements (CREATE TABLE IF NOT EXISTS …) that
	// CreateTables runs first, on either dialect: the service's own tables
	// that resources reference without being resources, such as an
	// organization's lookup rows.
	Tables []string
	// SkipCheck skips the startup check. By default New runs
	// [resource.Registry.Check] and fails with every mismatch between the
	// declared resources and the live schema, so that none surfaces as a
	// 500 under traffic.
	SkipCheck bool

	// KeyPrefix is the prefix of issued API keys, e.g. "acme" for
	// acme_live_…. Required.
	KeyPrefix string
	// KeyHeader, when set (e.g. "X-Acme-API-Key"), is accepted besides
	// Authorization: Bearer.
	KeyHeader string
	// DisabledMessage is the "error" of the 403 answered while an
	// organization's API is switched off (auth.Options.DisabledMessage,
	// also in the OpenAPI document): default gatehouse.MsgModuleDisabled
	// ("API access is not enabled for this organization").
	DisabledMessage string
	// OrgIDType is the type of the service's organization ids, the type
	// of its tables' organization columns (tenancy.OrgIDUUID, OrgIDText or
	// OrgIDInteger): empty means UUIDs. The admin API accepts ids of this
	// type only (others are 400 "Invalid organization id") and takes an
	// optional "id" on POST {AdminPrefix}/orgs; Registry().Check holds the
	// organization columns to it.
	OrgIDType tenancy.OrgIDType
	// NewOrgID makes the id of an organization created through the admin
	// API without one: nil means a new UUID, except for integer ids, which
	// must then be given (admin.Options.NewOrgID).
	NewOrgID func(ctx context.Context) (string, error)
	// OnOrgCreated runs in the transaction that creates an organization
	// (for example to seed its lookup rows).
	OnOrgCreated func(ctx context.Context, tx *sql.Tx, orgID string) error

	// AdminToken is the bearer token of the admin API, at least 32
	// characters. Empty: no admin API (Stack.Admin answers 404), except in
	// Development mode, which generates one ("<KeyPrefix>_admin_…", see
	// [Stack.AdminToken]).
	AdminToken string
	// AdminPrefix is where the admin API is served: default "/admin".
	AdminPrefix string
	// HealthPath is where [Stack.Handler] and [Stack.Public] serve
	// [Stack.Health]: default "/healthz".
	HealthPath string

	// Limits are the list limits, the keys' default and maximum rate
	// limits and the audit log length, enforced by the parts and reported
	// by /schema. Zero fields mean the parts' defaults; a service states
	// its own numbers.
	Limits resource.Limits

	// Webhooks turns on webhook subscriptions (routes under Prefix,
	// events of every create and update, the dispatcher in Run and the
	// admin routes).
	Webhooks bool
	// Webhook tunes the webhook service; DB, Dialect, Keyring, Resources,
	// APIPrefix, Caller, KeyCheck, Logger and Now are set by the stack.
	Webhook webhook.Options
	// Dispatcher tunes webhook delivery; Service, OnAttempt, Logger and
	// Now are set by the stack.
	Dispatcher webhook.DispatcherOptions

	// PublicURL is the one address the public API is reached at, used
	// wherever a link is made: the Location of a create, the Link of a
	// list, the OpenAPI document's servers. An absolute URL
	// ("https://api.example.com"), with a path when the host mounts the
	// public handler under one with http.StripPrefix
	// ("https://example.com/developer"). Empty: links are relative
	// ("/v1/leads/…") and the document lists OpenAPI.Servers.
	PublicURL string
	// OpenAPI describes the document served at {Prefix}/openapi.json;
	// Registry, KeyHeader, Versioner, Idempotency, RateLimitHeaders and
	// Events are set by the stack, Servers from PublicURL when set.
	OpenAPI openapi.Options

	// GraphQL serves the resources over GraphQL when GraphQL.Path is set
	// (see [GraphQLOptions]); the zero value is off.
	GraphQL GraphQLOptions

	// TracerProvider and MeterProvider receive gatehouse's spans and
	// metrics; nil means the global providers.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// ClientIP says which proxies to trust for the client address of
	// audit entries and the failed-authentication throttle.
	ClientIP gatehouse.ClientIP
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}
