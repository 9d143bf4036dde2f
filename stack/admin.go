package stack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/scope"
	"gatehouse.dev/webhook"
)

// buildAdmin builds the admin API (organizations, keys, audit, the actions
// trail, webhooks, health details) when there is an admin token.
func (s *Stack) buildAdmin(ctx context.Context) error {
	o := s.opts
	if o.AdminToken == "" {
		s.logger.WarnContext(ctx, "stack: Options.AdminToken is empty: the admin API is off")
		return nil
	}
	// Wrong admin tokens are counted per address (per pod) and logged once
	// per address a minute; the right token is never refused.
	throttle, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{ClientIP: o.ClientIP, Warn: "admin token", Logger: s.logger})
	if err != nil {
		return err
	}
	authorize, err := admin.NewBearerToken(admin.TokenOptions{Token: o.AdminToken, Throttle: throttle})
	if err != nil {
		return err
	}
	events, err := sqlaudit.NewEvents(sqlaudit.EventsOptions{DB: s.db, Dialect: s.dialect, Now: s.now})
	if err != nil {
		return err
	}
	if err := events.Migrate(ctx); err != nil {
		return err
	}
	if s.adminAPI, err = admin.New(admin.Options{
		Keys: s.keys, Orgs: s.keys, Audit: s.auditRead, Events: events,
		OnKeyChange: s.KeyChanged, OnKeyCreated: s.keyCreated, Authorize: authorize,
		KeyPrefix: o.KeyPrefix, Scopes: s.reg.Scopes(), Prefix: o.AdminPrefix,
		OrgIDType: o.OrgIDType, NewOrgID: o.NewOrgID,
		DefaultRateLimitPerMinute: o.Limits.DefaultRateLimitPerMinute,
		MaxRateLimitPerMinute:     o.Limits.MaxRateLimitPerMinute,
		Logger:                    s.logger, Now: s.now,
	}); err != nil {
		return err
	}
	details := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := authorize(r); err != nil {
			gatehouse.WriteError(w, r, s.logger, err)
			return
		}
		s.serveHealthDetails(w, r)
	})
	var hooks http.Handler
	if s.hooks != nil {
		if hooks, err = s.hooks.AdminHandler(webhook.AdminOptions{
			Authorize: authorize, Prefix: o.AdminPrefix, OrgIDType: o.OrgIDType,
			OrgExists: func(ctx context.Context, orgID string) (bool, error) {
				_, err := s.keys.GetOrg(ctx, orgID)
				if errors.Is(err, auth.ErrNotFound) {
					return false, nil
				}
				return err == nil, err
			},
		}); err != nil {
			return err
		}
	}
	// Routed by hand; StrictPaths answers unclean paths ("//", "..",
	// encoded "/") with the JSON 404.
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == o.AdminPrefix+"/health" {
			details.ServeHTTP(w, r)
			return
		}
		if rest, ok := strings.CutPrefix(p, o.AdminPrefix+"/orgs/"); ok && hooks != nil {
			if _, tail, _ := strings.Cut(rest, "/"); tail == "webhooks" || strings.HasPrefix(tail, "webhooks/") {
				hooks.ServeHTTP(w, r)
				return
			}
		}
		s.adminAPI.ServeHTTP(w, r)
	})
	s.admin = gatehouse.RequestID(gatehouse.StrictPaths(mux))
	return nil
}

// KeyChanged applies a change of a key (keyID) or of an organization's API
// switch (keyID "") made outside the admin API: this pod's key cache at
// once, every other pod's through the Redis feed, and a revoked key's
// webhook subscriptions are disabled. The admin API calls it itself.
func (s *Stack) KeyChanged(ctx context.Context, orgID, keyID string) {
	// The change must reach the other pods even if the client hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := s.publish(ctx, keycache.Change{OrgID: orgID, KeyID: keyID})
	if keyID != "" && s.hooks != nil {
		k, gerr := s.keys.GetKey(ctx, orgID, keyID)
		if gerr == nil && k.Revoked() && !k.Rotated() {
			// The lineage's live key: its subscriptions stop.
			gerr = s.hooks.DisableKey(ctx, orgID, k.LineageID())
		}
		err = errors.Join(err, gerr)
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "stack: applying a key change", "org_id", orgID, "key_id", keyID, "err", err)
	}
}

// keyCreated announces a new key's public id to every pod's key filter.
func (s *Stack) keyCreated(ctx context.Context, k auth.Key) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.publish(ctx, keycache.Change{OrgID: k.OrganizationID, KeyID: k.ID, PublicID: k.PublicID}); err != nil {
		s.logger.ErrorContext(ctx, "stack: announcing a new key", "org_id", k.OrganizationID, "key_id", k.ID, "err", err)
	}
}

// DemoKey makes sure the organization orgID exists (created with orgName
// if not) with its API switched on, and issues it a key named keyName with
// every scope of [Stack.Scopes] and the default rate limit: what a
// development server or a test needs to show the API (examples/joby -demo).
// It needs the admin API (Options.AdminToken). The raw key is returned
// once; only its hash is stored.
func (s *Stack) DemoKey(ctx context.Context, orgID, orgName, keyName string) (auth.RawKey, error) {
	if s.adminAPI == nil {
		return "", errors.New("stack: DemoKey needs the admin API (Options.AdminToken)")
	}
	now := s.now().UTC()
	if _, err := s.keys.GetOrg(ctx, orgID); errors.Is(err, auth.ErrNotFound) {
		if _, err := s.keys.CreateOrg(ctx, auth.Org{ID: orgID, Name: orgName, CreatedAt: now, UpdatedAt: now}); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if _, err := s.keys.SetAPIEnabled(ctx, orgID, true, now); err != nil {
		return "", err
	}
	s.KeyChanged(ctx, orgID, "")
	raw, _, err := s.adminAPI.IssueKey(ctx, orgID, keyName, scope.NewSet(s.Scopes()...), 0, nil)
	return raw, err
}
