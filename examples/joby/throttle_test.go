package main

import (
	"gatehouse.dev/stack"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"gatehouse.dev/auth"
)

// randomKeys returns n well-formed keys of the example's prefix that no
// store holds.
func randomKeys(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		raw, _, err := auth.Generate("joby", auth.EnvLive)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = raw.Reveal()
	}
	return out
}

// sendBadKeys sends each key once to url from this test's one address and
// counts the answers by status; anything but 401 and 429 fails the test.
func sendBadKeys(t *testing.T, url string, keys []string) map[int]int {
	t.Helper()
	codes := map[int]int{}
	for _, k := range keys {
		req, err := http.NewRequest("GET", url+"/v1/leads", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+k)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		codes[res.StatusCode]++
		if res.StatusCode != 401 && res.StatusCode != 429 {
			t.Fatalf("bad key: status %d", res.StatusCode)
		}
		if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	return codes
}

// TestValidKeyNotLockedOutByBadKeysFromSameAddress, over HTTP against the
// example: 1,000 bad keys from one address, then a valid key that pod has
// never seen, from the same address, is served.
func TestValidKeyNotLockedOutByBadKeysFromSameAddress(t *testing.T) {
	t.Parallel()
	t.Run("sqlite without Redis", func(t *testing.T) {
		t.Parallel()
		// No feed: unknown ids are read from the store, and those reads
		// are throttled per address (20 a minute), answered 429.
		a := newAPIWith(t, stack.Options{DatabaseURL: filepath.Join(t.TempDir(), "joby.db")})
		srv := httptest.NewServer(a.h)
		t.Cleanup(srv.Close)
		org := a.newOrg(true)
		reads := a.app.KeyCache().Stats().Reads
		codes := sendBadKeys(t, srv.URL, randomKeys(t, 1000))
		if codes[429] == 0 || codes[401] > 25 {
			t.Errorf("without a feed: %v, want at most ~20 401s then 429s", codes)
		}
		if n := a.app.KeyCache().Stats().Reads - reads; n > 25 {
			t.Errorf("%d store reads for 1,000 bad keys, want the throttle's ~20", n)
		}
		key, _ := a.newKey(org, "")
		req, _ := http.NewRequest("GET", srv.URL+"/v1/leads", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("valid key after 1,000 bad ones from its address: %d, want 200", res.StatusCode)
		}
	})
	t.Run("three pods on PostgreSQL and Redis", func(t *testing.T) {
		t.Parallel()
		p := startPods(t, 3)
		org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
		p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
		waitHealthy(t, p)
		reads := p.apps[1].KeyCache().Stats().Reads
		codes := sendBadKeys(t, p.urls[1], randomKeys(t, 1000))
		// The feed is healthy: every unknown id is refused by the filter,
		// with no I/O and nothing counted, so never a 429.
		if codes[401] != 1000 {
			t.Errorf("with a healthy feed: %v, want 1,000 401s", codes)
		}
		if n := p.apps[1].KeyCache().Stats().Reads - reads; n > 10 {
			t.Errorf("%d store reads for 1,000 bad keys with a healthy feed, want ≤ 10", n)
		}
		// A key created through pod 1 works there at once; one created
		// through pod 0 as soon as its "created" change arrived.
		mine := p.admin(1, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"]}`)["key"].(string)
		if code, out := p.get(1, mine, "/v1/leads"); code != 200 {
			t.Fatalf("key created through pod 1, on pod 1: %d %v", code, out)
		}
		other := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"]}`)["key"].(string)
		p.awaitKey(other)
		if code, out := p.get(1, other, "/v1/leads"); code != 200 {
			t.Fatalf("key created through pod 0, on pod 1: %d %v", code, out)
		}
	})
}

// waitHealthy waits until every pod's feed has resynced and its key filter
// is complete.
func waitHealthy(t *testing.T, p *pods) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ok := true
		for _, a := range p.apps {
			st := a.KeyCache().Stats()
			ok = ok && st.FeedHealthy && st.FilterComplete
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("feeds not healthy after 3 s")
		}
	}
}

// TestRevocationCheckNeverThrottlesValidKeys: the 3-pod revocation check —
// create a key, see it work on every pod, revoke it through another pod,
// poll every pod until 401 — repeated with fresh keys from one address
// never meets a 429.
func TestRevocationCheckNeverThrottlesValidKeys(t *testing.T) {
	t.Parallel()
	p := startPods(t, 3)
	org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
	p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	waitHealthy(t, p)
	const rounds = 15
	statuses := map[int]int{}
	poll := func(i int, key string, want int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			code, out := p.get(i, key, "/v1/leads")
			statuses[code]++
			if code == 429 || code >= 500 {
				t.Fatalf("pod %d: %d %v", i, code, out)
			}
			if code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %d: still %d %v after 2 s, want %d", i, code, out, want)
			}
		}
	}
	for r := range rounds {
		k := p.admin(r%3, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"],"rate_limit_per_minute":300}`)
		key, id := k["key"].(string), k["id"].(string)
		for i := range 3 {
			poll(i, key, 200)
		}
		p.admin((r+1)%3, "POST", "/orgs/"+org+"/api-keys/"+id+"/revoke", "")
		for i := range 3 {
			poll(i, key, 401)
		}
	}
	t.Logf("%d rounds, answers by status: %v", rounds, statuses)
}
