package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
)

// TestWhoAmI calls GET /v1/whoami through the authentication middleware
// with both key headers.
func TestWhoAmI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC)
	store := auth.NewMemory(auth.MemoryOptions{Now: func() time.Time { return now }})
	const org = "55555555-5555-4555-8555-555555555555"
	if _, err := store.CreateOrg(ctx, auth.Org{ID: org, Name: "Acme", APIEnabled: true}); err != nil {
		t.Fatal(err)
	}
	expires := time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 3600))
	rawA, keyA, err := auth.NewKey("joby", auth.EnvLive, auth.Key{
		OrganizationID: org, Name: "Zapier", Scopes: scope.NewSet("leads:read", "leads:create"),
		RateLimitPerMinute: 120, ExpiresAt: &expires, CreatedAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	rawB, keyB, err := auth.NewKey("joby", auth.EnvTest, auth.Key{
		OrganizationID: org, Name: "n8n test", Scopes: scope.NewSet("tasks:read"), RateLimitPerMinute: 60, CreatedAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []auth.Key{keyA, keyB} {
		if err := store.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	mw, err := auth.New(auth.Options{Store: store, Orgs: store, Prefix: "joby", Header: "X-Joby-API-Key", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	versions, err := gatehouse.NewVersioner(gatehouse.VersionOptions{Header: "Joby-Version", Current: "v1", Supported: []string{"v1", "2026-07-01"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	who, err := auth.WhoAmI(auth.WhoAmIOptions{Version: "v1", Store: store})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /v1/whoami", who)
	h := gatehouse.RequestID(versions.Wrap(mw.Wrap(mux)))

	call := func(t *testing.T, headers map[string]string) (*httptest.ResponseRecorder, map[string]any) {
		t.Helper()
		req := httptest.NewRequest("GET", "/v1/whoami", nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if body["request_id"] != rec.Header().Get("X-Request-Id") {
			t.Errorf("request_id %v", body["request_id"])
		}
		return rec, body
	}
	wantA := fmt.Sprintf("map[api_version:v1 display_prefix:%s env:live expires_at:2026-12-31T22:59:59Z key_id:%s key_name:Zapier organization_id:%s rate_limit_per_minute:120 scopes:[leads:create leads:read]]",
		keyA.DisplayPrefix, keyA.ID, org)
	for name, headers := range map[string]map[string]string{
		"bearer":              {"Authorization": "Bearer " + rawA.Reveal()},
		"bearer lower case":   {"Authorization": "bearer " + rawA.Reveal()},
		"alternative header":  {"X-Joby-API-Key": rawA.Reveal()},
		"both, the same key":  {"Authorization": "Bearer " + rawA.Reveal(), "X-Joby-API-Key": rawA.Reveal()},
		"pinned version":      {"Authorization": "Bearer " + rawA.Reveal(), "Joby-Version": "v1"},
		"pinned lower case":   {"X-Joby-API-Key": rawA.Reveal(), "Joby-Version": "V1"},
		"pinned empty header": {"X-Joby-API-Key": rawA.Reveal(), "Joby-Version": ""},
	} {
		t.Run(name, func(t *testing.T) {
			rec, body := call(t, headers)
			if rec.Code != 200 || fmt.Sprint(body["data"]) != wantA {
				t.Fatalf("%d\n got %v\nwant %s", rec.Code, body["data"], wantA)
			}
			if rec.Header().Get("Joby-Version") != "v1" {
				t.Errorf("Joby-Version %q", rec.Header().Get("Joby-Version"))
			}
			// Never the key, its secret or its hash.
			for _, secret := range []string{rawA.Reveal(), keyA.Hash, rawA.Reveal()[len(rawA.Reveal())-38:]} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Fatalf("body leaks %q: %s", secret, rec.Body)
				}
			}
			if strings.Contains(rec.Body.String(), `"hash"`) || strings.Contains(rec.Body.String(), `"key"`) {
				t.Fatalf("body has a key or hash member: %s", rec.Body)
			}
		})
	}
	t.Run("other key, pinned other version, no expiry", func(t *testing.T) {
		rec, body := call(t, map[string]string{"X-Joby-API-Key": rawB.Reveal(), "Joby-Version": "2026-07-01"})
		d, _ := body["data"].(map[string]any)
		if rec.Code != 200 || d["key_id"] != keyB.ID || d["env"] != "test" || d["api_version"] != "2026-07-01" ||
			d["expires_at"] != nil || fmt.Sprint(d["scopes"]) != "[tasks:read]" || d["key_name"] != "n8n test" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if _, ok := d["expires_at"]; !ok {
			t.Error("expires_at absent instead of null")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			headers map[string]string
			code    int
			msg     string
		}{
			{map[string]string{}, 401, "Missing API key"},
			{map[string]string{"Authorization": "Bearer " + rawA.Reveal(), "X-Joby-API-Key": rawB.Reveal()}, 401, "Invalid API key"},
			{map[string]string{"Authorization": "Basic " + rawA.Reveal()}, 401, "Invalid API key"},
			{map[string]string{"X-Joby-API-Key": rawA.Reveal(), "Joby-Version": "v9"}, 400, "Unsupported API version"},
		} {
			rec, body := call(t, tc.headers)
			if rec.Code != tc.code || body["error"] != tc.msg {
				t.Errorf("%v: %d %s", tc.headers, rec.Code, rec.Body)
			}
		}
	})
}

func TestWhoAmIWithoutVersionOrKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	k := auth.Key{ID: "k", OrganizationID: "o", PublicID: "0123456789abcdef", Name: "n", Env: auth.EnvLive, RateLimitPerMinute: 1}
	if _, err := store.CreateOrg(ctx, auth.Org{ID: "o", Name: "O"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts auth.WhoAmIOptions
		want any
	}{
		{auth.WhoAmIOptions{Store: store}, nil},
		{auth.WhoAmIOptions{Store: store, Version: "v3"}, "v3"},
	} {
		req := httptest.NewRequest("GET", "/v1/whoami", nil)
		req = req.WithContext(gatehouse.NewCallerContext(req.Context(), k.Caller()))
		rec := httptest.NewRecorder()
		who, err := auth.WhoAmI(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		who.ServeHTTP(rec, req)
		var body struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if body.Data["api_version"] != tc.want || fmt.Sprint(body.Data["scopes"]) != "[]" || body.Data["key_name"] != "n" {
			t.Errorf("%+v: %s", tc.opts, rec.Body)
		}
	}
	who, err := auth.WhoAmI(auth.WhoAmIOptions{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// A chain without the authentication middleware is a server error.
	rec := httptest.NewRecorder()
	who.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/whoami", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "Internal server error") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// A key deleted since it authenticated is no longer anybody.
	gone := k
	gone.PublicID = "fedcba9876543210"
	rec = httptest.NewRecorder()
	who.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/whoami", nil).WithContext(gatehouse.NewCallerContext(ctx, gone.Caller())))
	if rec.Code != 401 {
		t.Fatalf("deleted key: %d %s", rec.Code, rec.Body)
	}
	if _, err := auth.WhoAmI(auth.WhoAmIOptions{}); err == nil {
		t.Fatal("WhoAmI without a Store")
	}
}
