package webhook_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// benchDatabases runs fn on SQLite and PostgreSQL, with pools that keep a
// connection per worker (the default of two idle connections makes every
// delivery open a new PostgreSQL connection).
func benchDatabases(b *testing.B, fn func(b *testing.B, db dbtest.DB)) {
	b.Run("sqlite", func(b *testing.B) {
		db := dbtest.SQLite(b)
		db.SetMaxIdleConns(16)
		fn(b, dbtest.DB{Name: "sqlite", DB: db, Dialect: tenancy.SQLite})
	})
	b.Run("postgres", func(b *testing.B) {
		db := dbtest.Postgres(b)
		db.SetMaxIdleConns(16)
		fn(b, dbtest.DB{Name: "postgres", DB: db, Dialect: tenancy.Postgres})
	})
}

// benchService is a migrated service on the real clock with one endpoint
// at a local receiver answering 204.
func benchService(b *testing.B, db dbtest.DB, org string, onAttempt func(context.Context, webhook.Attempt)) (*webhook.Service, *atomic.Int64) {
	b.Helper()
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	svc, err := webhook.New(webhook.Options{
		DB: db.DB, Dialect: db.Dialect, Keyring: keyring(b), Resources: testResources(),
		AllowHTTP: true, AllowAnyPort: true, AllowLoopback: true, Logger: discard(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, _, err := svc.CreateEndpoint(context.Background(), org, webhook.EndpointInput{URL: srv.URL + "/hooks", Events: []string{"*"}}); err != nil {
		b.Fatal(err)
	}
	return svc, &received
}

func emitN(b *testing.B, db *sql.DB, svc *webhook.Service, org string, n int) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org,
			Data: map[string]any{"id": uuid.New(), "first_name": "Ann", "n": i}}); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEmit measures the outbox write of one event (one endpoint
// subscribed) in its own transaction.
func BenchmarkEmit(b *testing.B) {
	benchDatabases(b, func(b *testing.B, db dbtest.DB) {
		org := uuid.New()
		svc, _ := benchService(b, db, org, nil)
		ctx := context.Background()
		data := map[string]any{"id": uuid.New(), "first_name": "Ann", "email": "ann@example.com"}
		b.ReportAllocs()
		for b.Loop() {
			tx, err := db.DB.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Emit(ctx, tx, webhook.Event{Type: "lead.created", OrganizationID: org, Data: data}); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeliveryThroughput measures how fast one dispatcher (8 POSTs in
// flight) empties a backlog of 500 events of one organization into a local
// receiver: the deliveries/s metric. Emitting the backlog is not timed.
// org=default leaves OrganizationConcurrency at its default (4 of the 8
// POSTs for one organization), org=all sets it to 8.
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, orgConc := range []int{0, 8} {
		name := "org=default"
		if orgConc > 0 {
			name = "org=all"
		}
		b.Run(name, func(b *testing.B) { benchThroughput(b, orgConc) })
	}
}

func benchThroughput(b *testing.B, orgConc int) {
	const batch = 500
	benchDatabases(b, func(b *testing.B, db dbtest.DB) {
		org := uuid.New()
		svc, received := benchService(b, db, org, nil)
		d, err := webhook.NewDispatcher(webhook.DispatcherOptions{Service: svc, PollInterval: 5 * time.Millisecond, OrganizationConcurrency: orgConc})
		if err != nil {
			b.Fatal(err)
		}
		var busy time.Duration
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			emitN(b, db.DB, svc, org, batch)
			want := received.Load() + batch
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.StartTimer()
			start := time.Now()
			go func() {
				defer close(done)
				_ = d.Run(ctx)
			}()
			for received.Load() < want || d.Stats().InFlight > 0 {
				time.Sleep(time.Millisecond)
			}
			busy += time.Since(start)
			cancel()
			<-done
		}
		b.ReportMetric(float64(batch*b.N)/busy.Seconds(), "deliveries/s")
	})
}

// BenchmarkDeliveryLag measures the time from an event (emitted every
// 2 ms, below capacity) to the end of its successful POST, with the
// default PollInterval (500 ms) and with 50 ms: the lag-p50-ms and
// lag-p99-ms metrics.
func BenchmarkDeliveryLag(b *testing.B) {
	const events = 100
	for _, poll := range []time.Duration{webhook.DefaultPollInterval, 50 * time.Millisecond} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			benchDatabases(b, func(b *testing.B, db dbtest.DB) {
				org := uuid.New()
				var mu sync.Mutex
				var lags []time.Duration
				svc, _ := benchService(b, db, org, nil)
				d, err := webhook.NewDispatcher(webhook.DispatcherOptions{
					Service: svc, PollInterval: poll,
					OnAttempt: func(_ context.Context, a webhook.Attempt) {
						if a.Outcome == webhook.OutcomeSucceeded {
							mu.Lock()
							lags = append(lags, a.Lag)
							mu.Unlock()
						}
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = d.Run(ctx)
				}()
				b.ReportAllocs()
				for b.Loop() {
					mu.Lock()
					want := len(lags) + events
					mu.Unlock()
					for range events {
						emitN(b, db.DB, svc, org, 1)
						time.Sleep(2 * time.Millisecond)
					}
					for {
						mu.Lock()
						n := len(lags)
						mu.Unlock()
						if n >= want {
							break
						}
						time.Sleep(time.Millisecond)
					}
				}
				cancel()
				<-done
				slices.Sort(lags)
				q := func(p float64) float64 {
					return float64(lags[int(p*float64(len(lags)-1))]) / float64(time.Millisecond)
				}
				b.ReportMetric(q(0.50), "lag-p50-ms")
				b.ReportMetric(q(0.99), "lag-p99-ms")
			})
		})
	}
}

// quantileMS returns the p-quantile of lags in milliseconds (lags sorted).
func quantileMS(lags []time.Duration, p float64) float64 {
	if len(lags) == 0 {
		return 0
	}
	return float64(lags[int(p*float64(len(lags)-1))]) / float64(time.Millisecond)
}

// BenchmarkFairnessLag measures organization B's delivery lag (event to
// the end of its successful POST; 50 events per iteration, one every
// 10 ms, default settings but a Timeout of 1 s) alone and while
// organization A has 10 endpoints at a receiver that never answers (each
// POST waits out the Timeout) and a growing backlog (an event for its 10
// endpoints every 100 ms): the b-lag-p50-ms and b-lag-p99-ms metrics of
// the two sub-benchmarks. Issue 13's goal: B's p99 with A stalled within
// 2× of B's p99 alone.
func BenchmarkFairnessLag(b *testing.B) {
	for _, stalled := range []bool{false, true} {
		name := "alone"
		if stalled {
			name = "a-stalled"
		}
		b.Run(name, func(b *testing.B) {
			benchDatabases(b, func(b *testing.B, db dbtest.DB) {
				orgA, orgB := uuid.New(), uuid.New()
				svc, _ := benchService(b, db, orgB, nil)
				stop := make(chan struct{})
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-r.Context().Done():
					case <-stop:
					}
				}))
				b.Cleanup(srv.Close)
				b.Cleanup(func() { close(stop) })
				if stalled {
					for i := range 10 {
						if _, _, err := svc.CreateEndpoint(context.Background(), orgA, webhook.EndpointInput{URL: fmt.Sprintf("%s/hooks?n=%d", srv.URL, i), Events: []string{"*"}}); err != nil {
							b.Fatal(err)
						}
					}
				}
				var mu sync.Mutex
				var lags []time.Duration
				d, err := webhook.NewDispatcher(webhook.DispatcherOptions{
					Service: svc, Timeout: time.Second,
					OnAttempt: func(_ context.Context, a webhook.Attempt) {
						if a.OrganizationID == orgB && a.Outcome == webhook.OutcomeSucceeded {
							mu.Lock()
							lags = append(lags, a.Lag)
							mu.Unlock()
						}
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = d.Run(ctx)
				}()
				if stalled {
					wg.Add(1)
					go func() {
						defer wg.Done()
						tick := time.NewTicker(100 * time.Millisecond)
						defer tick.Stop()
						for {
							select {
							case <-ctx.Done():
								return
							case <-tick.C:
								emitN(b, db.DB, svc, orgA, 1)
							}
						}
					}()
					time.Sleep(1500 * time.Millisecond) // A's receivers are stalled and its backlog builds
				}
				const events = 50
				b.ReportAllocs()
				for b.Loop() {
					mu.Lock()
					want := len(lags) + events
					mu.Unlock()
					for range events {
						emitN(b, db.DB, svc, orgB, 1)
						time.Sleep(10 * time.Millisecond)
					}
					for {
						mu.Lock()
						n := len(lags)
						mu.Unlock()
						if n >= want {
							break
						}
						time.Sleep(time.Millisecond)
					}
				}
				cancel()
				wg.Wait()
				slices.Sort(lags)
				b.ReportMetric(quantileMS(lags, 0.50), "b-lag-p50-ms")
				b.ReportMetric(quantileMS(lags, 0.99), "b-lag-p99-ms")
			})
		})
	}
}

// BenchmarkCommitLag measures the lag of events written through the
// resource registry (POST /v1/leads, one every 5 ms, 100 per iteration)
// at default settings (PollInterval 500 ms): from the event's creation in
// the write's transaction to the end of its successful POST at a local
// receiver, the lag-p50-ms and lag-p99-ms metrics. The dispatcher is woken
// by the commit (Service.Notify through resource.AfterCommit), not by its
// poll; BenchmarkDeliveryLag emits without waking it, for comparison.
func BenchmarkCommitLag(b *testing.B) {
	const events = 100
	benchDatabases(b, func(b *testing.B, db dbtest.DB) {
		ctx := context.Background()
		org := uuid.New()
		for _, s := range tablesDDL(db.Dialect) {
			if _, err := db.DB.ExecContext(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		var mu sync.Mutex
		var lags []time.Duration
		svc, _ := benchService(b, db, org, nil)
		reg, err := resource.New(resource.Options{DB: db.DB, Dialect: db.Dialect, Resources: testResources(), OnWrite: svc.OnWrite, Logger: discard()})
		if err != nil {
			b.Fatal(err)
		}
		d, err := webhook.NewDispatcher(webhook.DispatcherOptions{
			Service: svc,
			OnAttempt: func(_ context.Context, a webhook.Attempt) {
				if a.Outcome == webhook.OutcomeSucceeded {
					mu.Lock()
					lags = append(lags, a.Lag)
					mu.Unlock()
				}
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = d.Run(rctx)
		}()
		caller := gatehouse.Caller{KeyID: uuid.New(), OrgID: org, Scopes: []string{"leads:create"}}
		create := func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/leads", strings.NewReader(`{"first_name":"Ann","email":"ann@example.com"}`))
			req = req.WithContext(gatehouse.NewCallerContext(gatehouse.NewRequestContext(req.Context(), uuid.New()), caller))
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
		}
		time.Sleep(200 * time.Millisecond)
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			want := len(lags) + events
			mu.Unlock()
			for range events {
				create()
				time.Sleep(5 * time.Millisecond)
			}
			for {
				mu.Lock()
				n := len(lags)
				mu.Unlock()
				if n >= want {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		cancel()
		<-done
		slices.Sort(lags)
		b.ReportMetric(quantileMS(lags, 0.50), "lag-p50-ms")
		b.ReportMetric(quantileMS(lags, 0.99), "lag-p99-ms")
	})
}
