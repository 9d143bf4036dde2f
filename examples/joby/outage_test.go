package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/stack"
)

// TestPodsLimitHoldsThroughRedisOutage: three pods share a private Redis
// (never the shared one), which is killed for about 3 s under steady load
// and started again. Without hand-set replica counts, the pods count each
// other through heartbeats and each falls back to a third of the key's
// limit, so that during the outage the three together admit at most one
// burst plus the refill; and nothing answers 5xx.
func TestPodsLimitHoldsThroughRedisOutage(t *testing.T) {
	t.Parallel()
	dbtest.Postgres(t) // skip or fail first when PostgreSQL is unreachable
	rs := dbtest.StartRedisServer(t)
	const n = 3
	p := startPodsWith(t, n, stack.Options{
		RedisURL: "redis://" + rs.Addr,
		Limiter:  redislimit.Options{Timeout: 200 * time.Millisecond, Heartbeat: 50 * time.Millisecond}, // Replicas: 0, counted
	})
	org := p.admin(0, "POST", "/orgs", `{"name":"Acme"}`)["id"].(string)
	p.admin(0, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	const perMinute = 60 // burst 60, refill one a second
	key := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"k","scopes":["leads:read"],"rate_limit_per_minute":60}`)["key"].(string)
	p.awaitKey(key)
	lims := make([]*redislimit.Limiter, n)
	for i, a := range p.apps {
		lims[i] = a.Limiter().(*redislimit.Limiter)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok := true
		for _, l := range lims {
			ok = ok && l.Pods() == n
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods never counted each other: %d %d %d", lims[0].Pods(), lims[1].Pods(), lims[2].Pods())
		}
	}

	type answer struct {
		start, end time.Time
		code       int
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range n { // one steady client per pod, round-robin offsets
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", p.urls[(w+i)%n]+"/v1/leads?limit=1", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				a := answer{start: time.Now()}
				res, err := client.Do(req)
				a.end = time.Now()
				if err != nil {
					a.code = -1
				} else {
					a.code = res.StatusCode
					res.Body.Close()
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
			}
		}()
	}
	count := func(from, to time.Time, code int) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, a := range answers {
			if a.code == code && !a.end.Before(from) && !a.start.After(to) {
				c++
			}
		}
		return c
	}
	// Drain the shared bucket first (429s on Redis), bounded in time.
	begin := time.Now()
	for count(begin, time.Now(), 429) < 10 {
		if time.Since(begin) > 10*time.Second {
			close(stop)
			wg.Wait()
			t.Fatal("the shared limit never refused within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	down := time.Now()
	rs.Stop()
	time.Sleep(3 * time.Second) // the outage, under load
	rs.Start()
	up := time.Now()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	mu.Lock()
	byCode := map[int]int{}
	for _, a := range answers {
		byCode[a.code]++
	}
	mu.Unlock()
	outage := up.Sub(down)
	admitted := count(down, up, 200)
	// One burst, plus what refills during the outage, plus per pod one
	// for rounding the share up and one for a request decided on Redis
	// just before the stop.
	bound := perMinute + int(outage/time.Second) + 1 + 2*n
	var fallbacks uint64
	for _, l := range lims {
		fallbacks += l.Stats().FallbackDecisions
	}
	t.Logf("outage %v: %d admitted (bound %d; %d without the shared count); answers %v; fallback decisions %d",
		outage.Round(time.Millisecond), admitted, bound, n*perMinute, byCode, fallbacks)
	for code, c := range byCode {
		if code >= 500 || code < 0 {
			t.Errorf("%d answers %d (or failed)", c, code)
		}
	}
	if admitted > bound {
		t.Errorf("the pods admitted %d during the outage, want at most %d (one burst plus refill)", admitted, bound)
	}
	if fallbacks == 0 {
		t.Error("no fallback decisions: the outage was not exercised")
	}
}
