package graphql_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// fakeClock is an injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestLimiterCharge: the points bucket of a key limited to 60 requests a
// minute holds 3,000 points, refilled at 50 a second; a cost-41 query
// takes 41; a query over capacity is refused without a database query;
// one that does not fit now is 429 until the bucket refills.
func TestLimiterCharge(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(2e9, 0)}
	mem, err := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	charge, err := graphql.LimiterCharge(graphql.LimiterOptions{Limiter: mem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graphql.LimiterCharge(graphql.LimiterOptions{}); err == nil {
		t.Error("LimiterCharge without a limiter")
	}
	tracedDatabases(t, func(t *testing.T, db dbtest.DB, s *selects) {
		if db.Dialect != tenancy.SQLite {
			t.Skip("one engine is enough")
		}
		e := newEnv(t, db, graphql.Options{Charge: charge})
		org := uuid.New()
		client := e.create(org, "clients", `{"first_name":"C"}`)
		e.create(org, "leads", `{"first_name":"L","client_id":"`+client+`"}`)
		ctx := callerCtx(org, e.all) // RateLimitPerMinute 60, a fresh key
		key, _ := gatehouse.CallerFromContext(ctx)
		post := func(q string) result {
			return e.raw(ctx, http.MethodPost, `{"query":"`+q+`"}`, map[string]string{"Content-Type": "application/json"})
		}
		r := post(`{ leads(first: 20) { nodes { client { firstName } } } }`)
		if r.Code != http.StatusOK || get(r.Ext, "cost", "requestedQueryCost") != float64(41) ||
			get(r.Ext, "cost", "throttleStatus", "maximumAvailable") != float64(3000) ||
			get(r.Ext, "cost", "throttleStatus", "currentlyAvailable") != float64(2959) ||
			get(r.Ext, "cost", "throttleStatus", "restoreRate") != float64(50) {
			t.Fatalf("cost 41: %s", r.Raw)
		}
		if r.Header.Get("X-RateLimit-Limit") != "3000" || r.Header.Get("X-RateLimit-Remaining") != "2959" || r.Header.Get("RateLimit-Policy") != `"default";q=3000;w=60` {
			t.Errorf("headers %v", r.Header)
		}
		// Over capacity: refused before execution, nothing read or charged.
		before := s.count()
		r = post(`{ a: leads(first: 1000) { nodes { client { id } } } b: leads(first: 1000) { nodes { id } } }`)
		if r.Code != http.StatusOK || r.HasData || get(r.Errors[0], "extensions", "code") != "MAX_COST_EXCEEDED" || s.count() != before {
			t.Fatalf("over capacity: %d %s (%d SELECTs)", r.Code, r.Raw, s.count()-before)
		}
		// Drain the bucket: 2959 - 2*1001 = 957 left; a cost of 1001 waits.
		for range 2 {
			if r = post(`{ leads(first: 1000) { nodes { id } } }`); r.Code != http.StatusOK {
				t.Fatalf("drain: %d %s", r.Code, r.Raw)
			}
		}
		before = s.count()
		r = post(`{ leads(first: 1000) { nodes { id } } }`)
		if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || s.count() != before {
			t.Fatalf("429: %d %v %s", r.Code, r.Header, r.Raw)
		}
		clock.Add(time.Second) // 50 points back: 1007 ≥ 1001
		if r = post(`{ leads(first: 1000) { nodes { id } } }`); r.Code != http.StatusOK {
			t.Fatalf("after a second: %d %s", r.Code, r.Raw)
		}
		// The points bucket is not the REST bucket of the key.
		if res, err := mem.Allow(context.Background(), key.LineageID(), ratelimit.PerMinute(60)); err != nil || res.Remaining != 59 {
			t.Errorf("REST bucket touched: %+v %v", res, err)
		}
		// A cost of 0 charges nothing.
		if r = post(`{ __typename }`); r.Code != http.StatusOK || get(r.Ext, "cost", "throttleStatus", "currentlyAvailable") != float64(6) {
			t.Errorf("cost 0: %s", r.Raw)
		}
		// No caller: 500, fail closed.
		r = e.raw(gatehouse.NewRequestContext(context.Background(), "r"), http.MethodPost, `{"query":"{ __typename }"}`, map[string]string{"Content-Type": "application/json"})
		if r.Code != http.StatusInternalServerError {
			t.Errorf("no caller: %d %s", r.Code, r.Raw)
		}
	})
}
