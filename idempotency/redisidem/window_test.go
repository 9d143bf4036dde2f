package redisidem_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/redisidem"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// timedStore records when Complete returned.
type timedStore struct {
	idempotency.Store
	done atomic.Int64 // UnixNano
}

func (s *timedStore) Complete(ctx context.Context, ref idempotency.Ref, resp idempotency.Response, ttl time.Duration) error {
	err := s.Store.Complete(ctx, ref, resp, ttl)
	s.done.Store(time.Now().UnixNano())
	return err
}

// timedWriter records when the registry wrote its status, right after its
// transaction committed.
type timedWriter struct {
	http.ResponseWriter
	at int64
}

func (w *timedWriter) WriteHeader(code int) {
	if w.at == 0 {
		w.at = time.Now().UnixNano()
	}
	w.ResponseWriter.WriteHeader(code)
}

// BenchmarkCommitToRedisWindow measures, for POST /v1/leads with an
// Idempotency-Key through the registry (SQLite) and the Redis store, the
// window in which the lead is committed but its response is not yet stored
// in Redis: from the registry's WriteHeader (just after COMMIT) to the
// return of the completing script. A crash inside it leaves the key in
// flight until its lock expires. Reported as window-p50/p99/max in µs.
func BenchmarkCommitToRedisWindow(b *testing.B) {
	db := dbtest.SQLite(b)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE leads (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
		first_name TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	rs, err := redisidem.New(redisidem.Options{Client: dbtest.Redis(b), Prefix: dbtest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	store := &timedStore{Store: rs}
	keyring, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("k1"))
	if err != nil {
		b.Fatal(err)
	}
	mw, err := idempotency.New(idempotency.Options{
		Store:   store,
		Keyring: keyring,
		Key:     func(*http.Request) (string, bool) { return "bench-key", true },
	})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := resource.New(resource.Options{
		DB: db, Dialect: tenancy.SQLite,
		Resources:  []resource.Resource{{Name: "leads", Fields: []resource.Field{{Name: "first_name"}}}},
		Middleware: []func(http.Handler) http.Handler{mw.Wrap},
		OnWrite:    func(context.Context, *sql.Tx, resource.Change) error { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	org := uuid.New()
	h := gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.ServeHTTP(w, r.WithContext(gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{OrgID: org, Scopes: []string{"leads:create"}})))
	}))
	var windows []time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		req := httptest.NewRequest("POST", "/v1/leads", strings.NewReader(`{"first_name":"Window"}`))
		req.Header.Set(idempotency.Header, "w-"+strconv.Itoa(i))
		tw := &timedWriter{ResponseWriter: httptest.NewRecorder()}
		h.ServeHTTP(tw, req)
		if rec := tw.ResponseWriter.(*httptest.ResponseRecorder); rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		windows = append(windows, time.Duration(store.done.Load()-tw.at))
	}
	slices.Sort(windows)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(windows[len(windows)/2]), "window-p50-µs")
	b.ReportMetric(us(windows[len(windows)*99/100]), "window-p99-µs")
	b.ReportMetric(us(windows[len(windows)-1]), "window-max-µs")
}
