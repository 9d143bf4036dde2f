package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/stack"
)

// pods starts n instances of the example, each with its own database pool,
// Redis client, key cache, limiter and audit recorder, on loopback ports,
// sharing one PostgreSQL schema and one Redis — as n pods behind a load
// balancer would.
type pods struct {
	t    *testing.T
	urls []string
	apps []*stack.Stack
}

func startPods(t *testing.T, n int) *pods {
	t.Helper()
	dbtest.Redis(t)
	// A generous Redis timeout: this test is about exactness across pods,
	// and on a loaded test machine a 50 ms call can time out and fall back
	// to the per-pod limit (which the limiter's own fault tests cover).
	return startPodsWith(t, n, stack.Options{RedisURL: "redis://" + dbtest.RedisAddr(), Limiter: redislimit.Options{Replicas: n, Timeout: 2 * time.Second}})
}

// startPodsWith starts n pods on one PostgreSQL schema with base's Redis
// and limiter settings.
func startPodsWith(t *testing.T, n int, base stack.Options) *pods {
	t.Helper()
	dbURL := dbtest.PostgresSchemaURL(t)
	p := &pods{t: t}
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("pods"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cfg := base
		cfg.DatabaseURL, cfg.AdminToken, cfg.Keyring = dbURL, testAdminToken, keyring
		a, err := newApp(context.Background(), cfg, testPublicURL)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = a.Run(ctx)
		}()
		srv := httptest.NewServer(a.Handler())
		t.Cleanup(func() {
			srv.Close()
			cancel()
			<-done
			_ = a.Close()
		})
		p.urls = append(p.urls, srv.URL)
		p.apps = append(p.apps, a)
	}
	return p
}

// call sends a request to pod i and decodes the JSON answer.
func (p *pods) call(i int, method, path, body string, headers ...string) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.urls[i]+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	for j := 0; j+1 < len(headers); j += 2 {
		req.Header.Set(headers[j], headers[j+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (p *pods) admin(i int, method, path, body string) map[string]any {
	p.t.Helper()
	code, out := p.call(i, method, "/admin"+path, body, "Authorization", "Bearer "+testAdminToken)
	if code >= 300 {
		p.t.Fatalf("admin %s %s on pod %d: %d %v", method, path, i, code, out)
	}
	d, _ := out["data"].(map[string]any)
	return d
}

func (p *pods) get(i int, key, path string) (int, map[string]any) {
	return p.call(i, "GET", path, "", "Authorization", "Bearer "+key)
}

// awaitKey waits (up to a generous 2 s) until every pod's key filter holds
// the key, announced by the pod that created it through the feed, without
// sending it (which would spend its rate limit).
func (p *pods) awaitKey(key string) {
	p.t.Helper()
	parsed, err := auth.Parse(key)
	if err != nil {
		p.t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		all := true
		for _, a := range p.apps {
			all = all && a.KeyCache().KeyHint(parsed.PublicID) == auth.KeyPresent
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("key %s not known to every pod after 2 s", parsed.DisplayPrefix())
		}
	}
}

// eventually waits (up to a generous 2 s) for pod i to answer path with want.
func (p *pods) eventually(i int, key, method, path, body string, want int) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		code, out := p.call(i, method, path, body, "Authorization", "Bearer "+key)
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Second {
			p.t.Fatalf("pod %d: %s %s still %d %v after 2 s, want %d", i, method, path, code, out, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPodsShareChanges(t *testing.T) {
	t.Parallel()
	p := startPods(t, 3)
	org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
	p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	k := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read","leads:create"]}`)
	key, keyID := k["key"].(string), k["id"].(string)
	for i := range 3 { // use it everywhere, so every pod caches it
		// The other pods know the key once its "created" change reached
		// them through the feed (until then: 401, no store read).
		p.eventually(i, key, "GET", "/v1/leads", "", 200)
	}

	// Scope change through pod 1: pod 1 applies it at once, the others soon.
	p.admin(1, "PATCH", "/orgs/"+org+"/api-keys/"+keyID, `{"scopes":["leads:read"]}`)
	if code, _ := p.call(1, "POST", "/v1/leads", `{"first_name":"x"}`, "Authorization", "Bearer "+key); code != 403 {
		t.Fatalf("pod 1 after its own scope change: %d", code)
	}
	for _, i := range []int{0, 2} {
		d := p.eventually(i, key, "POST", "/v1/leads", `{"first_name":"x"}`, 403)
		t.Logf("scope change reached pod %d after %v", i, d)
	}

	// Organization switched off through pod 2.
	p.admin(2, "PATCH", "/orgs/"+org, `{"api_enabled":false}`)
	if code, _ := p.get(2, key, "/v1/leads"); code != 403 {
		t.Fatalf("pod 2 after switching the API off: %d", code)
	}
	for _, i := range []int{0, 1} {
		p.eventually(i, key, "GET", "/v1/leads", "", 403)
	}
	p.admin(2, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	for i := range 3 {
		p.eventually(i, key, "GET", "/v1/leads", "", 200)
	}

	// Revocation through pod 0.
	p.admin(0, "POST", "/orgs/"+org+"/api-keys/"+keyID+"/revoke", "")
	if code, out := p.get(0, key, "/v1/leads"); code != 401 || out["error"] != "API key revoked" {
		t.Fatalf("pod 0 after its own revocation: %d %v", code, out)
	}
	for _, i := range []int{1, 2} {
		d := p.eventually(i, key, "GET", "/v1/leads", "", 401)
		t.Logf("revocation reached pod %d after %v", i, d)
	}
}

func TestPodsShareLimitsAndAudit(t *testing.T) {
	t.Parallel()
	p := startPods(t, 3)
	org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
	p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	k := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"],"rate_limit_per_minute":60}`)
	key, keyID := k["key"].(string), k["id"].(string)
	p.awaitKey(key)

	// 90 requests round-robin over the pods, 9 at a time, in well under a
	// minute: the limit of 60 holds for the pods together (GCRA refills
	// one request a second, so allow what elapsed time refilled, ±1).
	var allowed, limited atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 9)
	for i := range 90 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			code, _ := p.get(i%3, key, "/v1/leads")
			switch code {
			case 200:
				allowed.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("unexpected status %d", code)
			}
		}()
	}
	wg.Wait()
	refilled := int64(time.Since(start) / time.Second)
	var fallbacks uint64
	for _, a := range p.apps {
		fallbacks += a.Limiter().(*redislimit.Limiter).Stats().FallbackDecisions
	}
	if a := allowed.Load(); a < 60-1 || a > 60+refilled+1 {
		t.Fatalf("allowed %d of 90 (limited %d) in %v; want 60..%d (fallback decisions: %d)", a, limited.Load(), time.Since(start), 60+refilled+1, fallbacks)
	}

	// The key's audit log, written by three pods, holds exactly the 50
	// newest entries, whichever pod is asked.
	var entries []any
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, out := p.call(2, "GET", "/admin/orgs/"+org+"/api-keys/"+keyID+"/audit", "", "Authorization", "Bearer "+testAdminToken)
		if code != 200 {
			t.Fatalf("audit: %d %v", code, out)
		}
		entries, _ = out["data"].([]any)
		if len(entries) == 50 || time.Now().After(deadline) {
			break
		}
	}
	if len(entries) != 50 {
		t.Fatalf("audit holds %d entries, want 50", len(entries))
	}
	var prev time.Time
	for i, e := range entries {
		ts, err := time.Parse(time.RFC3339Nano, e.(map[string]any)["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && ts.After(prev) {
			t.Fatalf("entry %d (%v) is newer than entry %d (%v)", i, ts, i-1, prev)
		}
		prev = ts
	}
}

func TestPodsShareCursors(t *testing.T) {
	t.Parallel()
	p := startPods(t, 2)
	org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
	p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	key := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read","leads:create"],"rate_limit_per_minute":300}`)["key"].(string)
	p.awaitKey(key)
	for range 5 {
		if code, out := p.call(0, "POST", "/v1/leads", `{"first_name":"x"}`, "Authorization", "Bearer "+key); code != 201 {
			t.Fatalf("create: %d %v", code, out)
		}
	}
	seen := 0
	path := "/v1/leads?limit=2"
	for i := 0; ; i++ {
		code, out := p.get(i%2, key, path) // alternate pods
		if code != 200 {
			t.Fatalf("page %d on pod %d: %d %v", i, i%2, code, out)
		}
		seen += len(out["data"].([]any))
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/v1/leads?limit=2&cursor=" + next
	}
	if seen != 5 {
		t.Fatalf("walked %d leads, want 5", seen)
	}
}
