// Package webhook sends signed webhooks for every change the resource
// registry makes (and for any change the service makes itself): a
// transactional outbox in the service's database, endpoints managed per
// organization through the public API (REST Hooks) and the admin API, and a
// dispatcher that signs, POSTs, retries and records.
//
// # Events
//
// A create or update of a registry resource becomes the event
// "<singular>.created" or "<singular>.updated" (lead.created, task.updated)
// through [Service.OnWrite], which the registry calls inside the write's
// transaction (resource.Options.OnWrite). Changes made outside the API call
// [Service.Emit] with their own transaction. Either way the event and one
// delivery row per subscribed endpoint are written in that transaction: a
// committed change always has its event, a rolled-back one never does. The
// body every endpoint receives is
//
//	{"id":"evt_…","type":"lead.created","created_at":"2026-03-01T12:00:00Z",
//	 "organization_id":"…","data":{…the record as the API returns it…}}
//
// # Signatures
//
// Deliveries follow the Standard Webhooks specification: headers
// webhook-id (the event id, the same on every retry and every endpoint:
// de-duplicate on it), webhook-timestamp (Unix seconds of the attempt) and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>", keyed
// with the base64-decoded part of the endpoint's "whsec_…" secret. During a
// secret rotation both secrets sign (two space-separated signatures).
// Receivers check with [Verify] (constant time, 5 minutes of tolerance).
// Secrets are shown once, at creation or rotation, and stored encrypted with
// the root Keyring (AES-256-GCM, bound to the endpoint id).
//
// # Subscriptions and scopes
//
// [Service.Routes] serves POST/GET/PATCH/DELETE /v1/webhooks[/{id}] under
// the webhooks:manage scope, as extra routes of the registry. A subscription
// belongs to the API key that made it: only that key sees or changes it; it
// may subscribe only to types whose "<resource>:read" scope it holds ("*"
// stands for those); each delivery re-checks the key's current scopes and
// state (Options.KeyCheck), so a key that lost a read scope stops receiving
// those events, and a revoked or expired key's subscriptions are disabled
// ([Service.DisableKey] does it at once on revocation).
// [Service.AdminHandler] serves /admin/orgs/{org_id}/webhooks… for the
// organization's own endpoints, the delivery log and secret rotation.
//
// # Delivery
//
// A [Dispatcher] (started by the host with [Dispatcher.Run]) claims due
// deliveries with a lease: FOR UPDATE SKIP LOCKED on PostgreSQL, so several
// pods share the work without sending anything twice; one dispatcher on
// SQLite. "Due" comes from the injected clock, never the database's. Each
// POST has a 10 s timeout, follows no redirects and reads at most 64 KiB of
// the answer; a 2xx is a success. Failures are retried with exponential
// backoff and jitter (8 attempts over about a day by default); when the last
// attempt fails and nothing reached the endpoint since that delivery began,
// the endpoint is disabled with the reason, visible in both APIs. Delivery
// is at least once: a dispatcher that dies mid-POST loses its lease and
// another sends those deliveries again.
//
// Deliveries go out when their write commits: the registry runs
// [Service.Notify] after the commit (resource.AfterCommit), which wakes the
// dispatchers of the process, and on PostgreSQL a dispatcher LISTENs on a
// connection of its own and NOTIFYs the other pods after local commits
// (coalesced, outside any writer's transaction). The poll
// (DispatcherOptions.PollInterval, 500 ms) is the safety net.
//
// Organizations are served fairly: claims go round-robin across
// organizations (each one's oldest due delivery first), and a dispatcher
// holds at most DispatcherOptions.OrganizationConcurrency deliveries of one
// organization (half its workers by default), so one organization's
// backlog or stalled receivers do not delay the others.
//
// # SSRF
//
// Targets must be https on port 443 or 80 (Options.AllowHTTP and
// AllowAnyPort relax this for development). Every address a target resolves
// to is checked at subscription and again when dialing (and the default
// dialer re-checks the connected address in net.Dialer.Control, so DNS
// rebinding does not get through): loopback, private (RFC 1918, fc00::/7),
// link-local (169.254/16, fe80::/10), multicast, unspecified, 0/8,
// 100.64/10, 192.0.0/24, documentation ranges, 198.18/15, 240/4, and their
// IPv4-mapped, NAT64 and 6to4 forms are refused. Options.AllowLoopback
// admits loopback for tests. No proxy is used.
//
// # Wiring
//
//	wh, _ := webhook.New(webhook.Options{DB: db, Keyring: kr, Resources: resources,
//		KeyCheck: keyFromStore})
//	routes, _ := wh.Routes()
//	reg, _ := resource.New(resource.Options{DB: db, Resources: resources, Routes: routes, OnWrite: wh.OnWrite})
//	disp, _ := webhook.NewDispatcher(webhook.DispatcherOptions{Service: wh})
//	g.Go(func() error { return disp.Run(ctx) })
//
// The package imports resource, scope and tenancy, never auth or admin.
package webhook
