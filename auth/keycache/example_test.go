package keycache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/scope"
)

// Example puts the cache between the authentication middleware and a
// memory store. The first request reads the store; the next ones are
// answered from the cache. A revocation applied to the cache (the admin
// API's OnKeyChange does it; redisfeed.Feed.Publish does it and tells the
// other pods) shows on the very next request.
func Example() {
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	org, _ := store.CreateOrg(ctx, auth.Org{Name: "Acme", APIEnabled: true})
	raw, p, _ := auth.Generate("joby", auth.EnvLive)
	_ = store.CreateKey(ctx, auth.Key{
		ID: "5f0c1a52-8d8e-4e0b-9a43-2f1b9d6c1e77", OrganizationID: org.ID, Name: "CRM sync", Env: p.Env,
		PublicID: p.PublicID, Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
		Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	})

	cache, err := keycache.New(keycache.Options{Store: store, Orgs: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	mw, err := auth.New(auth.Options{Store: cache, Orgs: cache, Prefix: "joby"})
	if err != nil {
		fmt.Println(err)
		return
	}
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
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}

	get()
	get()
	st := cache.Stats()
	fmt.Printf("hits %d, misses %d\n", st.Hits, st.Misses)

	k, _ := store.RevokeKey(ctx, org.ID, "5f0c1a52-8d8e-4e0b-9a43-2f1b9d6c1e77", time.Now())
	cache.Apply(keycache.Change{OrgID: k.OrganizationID, KeyID: k.ID})
	get()
	// Output:
	// 200 hello 5f0c1a52-8d8e-4e0b-9a43-2f1b9d6c1e77
	// 200 hello 5f0c1a52-8d8e-4e0b-9a43-2f1b9d6c1e77
	// hits 1, misses 1
	// 401 API key revoked
}
