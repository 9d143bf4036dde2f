package redisfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/keycache/redisfeed"
	"gatehouse.dev/scope"
)

// Example wires one pod: a key cache in front of the store, the feed that
// keeps it in step with the other pods, and the admin API's OnKeyChange
// hook. Redis is unreachable here (the client points at a closed port),
// which shows the part of the contract that holds even then: Publish
// applies the change to this pod's cache first, so the revoked key is
// refused on the very next request, and keeps the change for Run to
// append once Redis answers.
func Example() {
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	org, _ := store.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	raw, p, _ := auth.Generate("joby", auth.EnvLive)
	_ = store.CreateKey(ctx, auth.Key{
		ID: "6d1f7e3a-2b7c-4f8e-9a51-0c3d2e1f4a5b", OrganizationID: org.ID, Name: "CRM sync", Env: p.Env,
		PublicID: p.PublicID, Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
		Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	})

	cache, err := keycache.New(keycache.Options{Store: store, Orgs: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(), MaxRetries: -1})
	defer rdb.Close()
	feed, err := redisfeed.New(redisfeed.Options{Client: rdb, Cache: cache, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The host runs the feed (in an errgroup, say) until shutdown.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- feed.Run(runCtx) }()

	// admin.Options.OnKeyChange:
	onKeyChange := func(ctx context.Context, orgID, keyID string) {
		if err := feed.Publish(ctx, keycache.Change{OrgID: orgID, KeyID: keyID}); err != nil {
			fmt.Println("not propagated yet, kept for retry")
		}
	}

	mw, _ := auth.New(auth.Options{Store: cache, Orgs: cache, Prefix: "joby"})
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gatehouse.CallerFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", c.KeyID)
	}))
	get := func() {
		r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		r.Header.Set("Authorization", "Bearer "+raw.Reveal())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var e struct{ Error string }
		if json.Unmarshal(w.Body.Bytes(), &e) == nil {
			fmt.Println(w.Code, e.Error)
			return
		}
		fmt.Println(w.Code, w.Body.String())
	}

	get()
	k, _ := store.RevokeKey(ctx, org.ID, "6d1f7e3a-2b7c-4f8e-9a51-0c3d2e1f4a5b", time.Now())
	onKeyChange(ctx, k.OrganizationID, k.ID)
	get()
	fmt.Println("kept:", feed.Stats().Pending)

	stop()
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	fmt.Println("feed healthy:", cache.Stats().FeedHealthy)
	// Output:
	// 200 hello 6d1f7e3a-2b7c-4f8e-9a51-0c3d2e1f4a5b
	// not propagated yet, kept for retry
	// 401 API key revoked
	// kept: 1
	// feed healthy: false
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:1"
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
