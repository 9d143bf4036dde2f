package idempotency_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/idempotency"
	"gatehouse.dev/idempotency/idemtest"
	"gatehouse.dev/idempotency/redisidem"
	"gatehouse.dev/idempotency/sqlidem"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// harness is a registry with the idempotency middleware behind a fake
// authentication that takes the API key id from X-Test-Key.
type harness struct {
	t        *testing.T
	db       dbtest.DB
	clock    *idemtest.Clock // the store's clock
	store    idempotency.Store
	h        http.Handler
	org      string
	own      bool // the store keeps its own clock
	tx       bool // the store completes inside the transaction
	writes   atomic.Int64
	failNext atomic.Pointer[error]  // OnWrite fails once with it
	hookErr  atomic.Pointer[error]  // a commit hook after idempotency's fails with it
	boom     atomic.Int64           // calls of POST /v1/boom
	inWrite  atomic.Pointer[func()] // OnWrite calls it once
}

type storeKind struct {
	name string
	db   func(t *testing.T) dbtest.DB
	new  func(t *testing.T, db dbtest.DB, now func() time.Time) idempotency.Store
	own  bool
	tx   bool
	// dump returns everything the store holds at rest (nil: in memory).
	dump func(t *testing.T, db dbtest.DB, s idempotency.Store) string
}

func sqlDump(t *testing.T, db dbtest.DB, _ idempotency.Store) string {
	rows, err := db.DB.QueryContext(context.Background(), `SELECT scope, idem_key, fingerprint, header, body FROM `+sqlidem.Table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var scope, key, fp, header string
		var body []byte
		if err := rows.Scan(&scope, &key, &fp, &header, &body); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s %s %s\n", scope, key, fp, header, body)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func redisDump(t *testing.T, _ dbtest.DB, s idempotency.Store) string {
	ctx := context.Background()
	prefix, _, _ := strings.Cut(s.(*redisidem.Store).Key("", ""), "idem:")
	c := dbtest.Redis(t)
	var b strings.Builder
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		v, err := c.Dump(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", iter.Val(), v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sqliteDB(t *testing.T) dbtest.DB {
	return dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
}

func postgresDB(t *testing.T) dbtest.DB {
	return dbtest.DB{Name: "postgres", DB: dbtest.Postgres(t), Dialect: tenancy.Postgres}
}

func sqlStore(t *testing.T, db dbtest.DB, now func() time.Time) idempotency.Store {
	s, err := sqlidem.New(sqlidem.Options{DB: db.DB, Dialect: db.Dialect, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func kinds() []storeKind {
	return []storeKind{
		{name: "memory", db: sqliteDB, new: func(t *testing.T, _ dbtest.DB, now func() time.Time) idempotency.Store {
			return idempotency.NewMemory(idempotency.MemoryOptions{Now: now})
		}},
		{name: "sql-sqlite", db: sqliteDB, new: sqlStore, tx: true, dump: sqlDump},
		{name: "sql-postgres", db: postgresDB, new: sqlStore, tx: true, dump: sqlDump},
		{name: "redis", db: sqliteDB, own: true, dump: redisDump, new: func(t *testing.T, _ dbtest.DB, _ func() time.Time) idempotency.Store {
			s, err := redisidem.New(redisidem.Options{Client: dbtest.Redis(t), Prefix: dbtest.Prefix(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

func newHarness(t *testing.T, k storeKind, mod func(*idempotency.Options)) *harness {
	t.Helper()
	db := k.db(t)
	ctx := context.Background()
	id, ts := "TEXT", "TEXT"
	if db.Dialect == tenancy.Postgres {
		id, ts = "uuid", "timestamptz"
	}
	if _, err := db.DB.ExecContext(ctx, `CREATE TABLE leads (id `+id+` PRIMARY KEY, organization_id `+id+` NOT NULL,
		first_name TEXT, status TEXT, created_at `+ts+` NOT NULL, updated_at `+ts+` NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, clock: idemtest.NewClock(), org: uuid.New(), own: k.own, tx: k.tx}
	h.store = k.new(t, db, h.clock.Now)
	opts := idempotency.Options{
		Store:   h.store,
		Keyring: testKeyring(t, "k1"),
		// Key is nil: the scope is the lineage of the request's caller.
	}
	if mod != nil {
		mod(&opts)
	}
	mw, err := idempotency.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var tick sync.Mutex
	regNow := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	reg, err := resource.New(resource.Options{
		DB: db.DB, Dialect: db.Dialect,
		Now: func() time.Time { // 1 ms per call, so every write has its own time
			tick.Lock()
			defer tick.Unlock()
			regNow = regNow.Add(time.Millisecond)
			return regNow
		},
		Resources: []resource.Resource{{
			Name:    "leads",
			Fields:  []resource.Field{{Name: "first_name", Required: true}, {Name: "status"}},
			Filters: []string{"id", "status"},
		}},
		Routes: []resource.Route{{Method: "POST", Path: "/v1/boom", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h.boom.Add(1) == 1 {
				panic("boom")
			}
			gatehouse.WriteData(w, r, http.StatusCreated, map[string]any{"calls": h.boom.Load()})
		})}},
		OnWrite: func(ctx context.Context, tx *sql.Tx, c resource.Change) error {
			if p := h.failNext.Swap(nil); p != nil {
				return *p
			}
			if f := h.inWrite.Swap(nil); f != nil {
				(*f)()
			}
			h.writes.Add(1)
			return nil
		},
		Middleware: []func(http.Handler) http.Handler{mw.Wrap, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hook := func(ctx context.Context, tx *sql.Tx, resp resource.Response) error {
					if p := h.hookErr.Swap(nil); p != nil {
						return *p
					}
					return nil
				}
				next.ServeHTTP(w, r.WithContext(resource.WithCommitHook(r.Context(), hook)))
			})
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// No X-Test-Key: a caller without a key id, whose requests
			// are served without idempotency.
			ctx := gatehouse.NewCallerContext(r.Context(), gatehouse.Caller{KeyID: r.Header.Get("X-Test-Key"), OrgID: h.org, Scopes: []string{"leads:create", "leads:read", "leads:update"}})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	h.h = gatehouse.RequestID(auth(reg))
	return h
}

type reply struct {
	Code   int
	Header http.Header
	Raw    string
	Body   map[string]any
}

func (r reply) replayed() bool { return r.Header.Get(idempotency.ReplayedHeader) == "true" }

func (r reply) id() string {
	d, _ := r.Body["data"].(map[string]any)
	s, _ := d["id"].(string)
	return s
}

// do sends a request as API key apiKey with the Idempotency-Key values.
func (h *harness) do(method, path, body, apiKey string, idemKeys ...string) reply {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if apiKey != "" {
		req.Header.Set("X-Test-Key", apiKey)
	}
	for _, k := range idemKeys {
		req.Header.Add(idempotency.Header, k)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	out := reply{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil {
		h.t.Errorf("%s %s: not JSON: %s", method, path, out.Raw)
	}
	if rid := rec.Header().Get(gatehouse.RequestIDHeader); rid == "" {
		h.t.Errorf("%s %s: no X-Request-Id", method, path)
	} else if !out.replayed() && out.Body["request_id"] != rid {
		h.t.Errorf("%s %s: request_id %v, header %s", method, path, out.Body["request_id"], rid)
	}
	return out
}

func (h *harness) leads() int {
	h.t.Helper()
	r := h.do("GET", "/v1/leads?limit=1000", "", "k1")
	arr, _ := r.Body["data"].([]any)
	return len(arr)
}

func wantErr(t *testing.T, r reply, code int, msg string) {
	t.Helper()
	if r.Code != code || r.Body["error"] != msg {
		t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, code, msg)
	}
}

// wantReplay checks that r replays first byte for byte, with a fresh
// X-Request-Id.
func wantReplay(t *testing.T, r, first reply) {
	t.Helper()
	if !r.replayed() || r.Code != first.Code || r.Raw != first.Raw || r.Header.Get("Location") != first.Header.Get("Location") ||
		r.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
		t.Fatalf("not a replay of %d %s (Location %q):\n got %d %s (Location %q, replayed %v)",
			first.Code, first.Raw, first.Header.Get("Location"), r.Code, r.Raw, r.Header.Get("Location"), r.replayed())
	}
	if r.Header.Get(gatehouse.RequestIDHeader) == first.Header.Get(gatehouse.RequestIDHeader) {
		t.Fatal("replay reuses the X-Request-Id header")
	}
	if r.Body["request_id"] != first.Body["request_id"] {
		t.Fatal("replay changed the body's request_id")
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, k, nil)
			t.Run("replay", func(t *testing.T) { testReplay(t, h) })
			t.Run("different request", func(t *testing.T) { testMismatch(t, h) })
			t.Run("concurrent", func(t *testing.T) { testConcurrent(t, h) })
			t.Run("5xx releases", func(t *testing.T) { testRelease(t, h) })
			t.Run("panic releases", func(t *testing.T) { testPanic(t, h) })
			t.Run("per API key", func(t *testing.T) { testScoping(t, h) })
			t.Run("patch", func(t *testing.T) { testPatch(t, h) })
			t.Run("stored errors", func(t *testing.T) { testStoredErrors(t, h) })
			t.Run("header", func(t *testing.T) { testHeader(t, h) })
			t.Run("expiry", func(t *testing.T) { testExpiry(t, k) })
			t.Run("sealed at rest", func(t *testing.T) { testSealedAtRest(t, h, k) })
		})
	}
}

func testReplay(t *testing.T, h *harness) {
	before := h.leads()
	first := h.do("POST", "/v1/leads", `{"first_name":"Ann"}`, "k1", "create-ann")
	if first.Code != 201 || first.replayed() {
		t.Fatalf("first: %d %s", first.Code, first.Raw)
	}
	for range 3 {
		wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"Ann"}`, "k1", "create-ann"), first)
	}
	if n := h.leads(); n != before+1 {
		t.Fatalf("%d leads created", n-before)
	}
	// Without the header nothing is deduplicated.
	if r := h.do("POST", "/v1/leads", `{"first_name":"Ann"}`, "k1"); r.Code != 201 || r.replayed() || r.id() == first.id() {
		t.Fatalf("no header: %d %s", r.Code, r.Raw)
	}
}

func testMismatch(t *testing.T, h *harness) {
	first := h.do("POST", "/v1/leads", `{"first_name":"Bob"}`, "k1", "bob")
	if first.Code != 201 {
		t.Fatal(first.Raw)
	}
	before := h.leads()
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Bobby"}`, "k1", "bob"), 422, "Idempotency key reused with a different request")
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Bob"} `, "k1", "bob"), 422, "Idempotency key reused with a different request")
	wantErr(t, h.do("PATCH", "/v1/leads/"+first.id(), `{"first_name":"Bob"}`, "k1", "bob"), 422, "Idempotency key reused with a different request")
	wantErr(t, h.do("POST", "/v1/boom", `{"first_name":"Bob"}`, "k1", "bob"), 422, "Idempotency key reused with a different request")
	if h.leads() != before {
		t.Fatal("a mismatched request wrote")
	}
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"Bob"}`, "k1", "bob"), first)
}

func testConcurrent(t *testing.T, h *harness) {
	before := h.leads()
	const n = 20
	replies := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = h.do("POST", "/v1/leads", `{"first_name":"Racer"}`, "k1", "race")
		})
	}
	close(start)
	wg.Wait()
	if got := h.leads(); got != before+1 {
		t.Fatalf("%d leads created by %d concurrent requests", got-before, n)
	}
	var id string
	created, replayed, busy := 0, 0, 0
	for _, r := range replies {
		switch {
		case r.Code == 201 && !r.replayed():
			created++
		case r.Code == 201:
			replayed++
		case r.Code == 409:
			wantErr(t, r, 409, "A request with this idempotency key is in progress")
			if r.Header.Get("Retry-After") != "1" {
				t.Errorf("409 Retry-After %q", r.Header.Get("Retry-After"))
			}
			busy++
			continue
		default:
			t.Fatalf("unexpected %d %s", r.Code, r.Raw)
		}
		if id == "" {
			id = r.id()
		} else if r.id() != id {
			t.Fatalf("two records: %s and %s", id, r.id())
		}
	}
	if created != 1 {
		t.Fatalf("%d created, %d replayed, %d in progress", created, replayed, busy)
	}
	t.Logf("20 concurrent: 1 created, %d replayed, %d in progress", replayed, busy)
}

func testRelease(t *testing.T, h *harness) {
	before := h.leads()
	err := errors.New("outbox down")
	h.failNext.Store(&err)
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Retry"}`, "k1", "retry-me"), 500, "Internal server error")
	r := h.do("POST", "/v1/leads", `{"first_name":"Retry"}`, "k1", "retry-me")
	if r.Code != 201 || r.replayed() {
		t.Fatalf("retry after 500: %d %s", r.Code, r.Raw)
	}
	// A 409 from the handler is not stored either.
	conflict := error(gatehouse.NewError(http.StatusConflict, "Busy"))
	h.failNext.Store(&conflict)
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Retry2"}`, "k1", "retry-me-2"), 409, "Busy")
	if r := h.do("POST", "/v1/leads", `{"first_name":"Retry2"}`, "k1", "retry-me-2"); r.Code != 201 || r.replayed() {
		t.Fatalf("retry after 409: %d %s", r.Code, r.Raw)
	}
	// A commit hook failing after the response was stored in the
	// transaction rolls back both: the retry is served afresh, not replayed
	// from a record that does not exist.
	hookErr := errors.New("late failure")
	h.hookErr.Store(&hookErr)
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Retry3"}`, "k1", "retry-me-3"), 500, "Internal server error")
	r = h.do("POST", "/v1/leads", `{"first_name":"Retry3"}`, "k1", "retry-me-3")
	if r.Code != 201 || r.replayed() {
		t.Fatalf("retry after a failed commit hook: %d %s", r.Code, r.Raw)
	}
	if n := h.leads(); n != before+3 {
		t.Fatalf("%d leads, want %d", n, before+3)
	}
}

func testPanic(t *testing.T, h *harness) {
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		h.do("POST", "/v1/boom", `{}`, "k1", "boom-key")
	}()
	r := h.do("POST", "/v1/boom", `{}`, "k1", "boom-key")
	if r.Code != 201 || r.replayed() || h.boom.Load() != 2 {
		t.Fatalf("retry after a panic: %d %s (calls %d)", r.Code, r.Raw, h.boom.Load())
	}
	// Routes other than the registry's writes are stored after the handler.
	wantReplay(t, h.do("POST", "/v1/boom", `{}`, "k1", "boom-key"), r)
	if h.boom.Load() != 2 {
		t.Fatalf("replay called the handler: %d calls", h.boom.Load())
	}
}

func testScoping(t *testing.T, h *harness) {
	before := h.leads()
	a := h.do("POST", "/v1/leads", `{"first_name":"From A"}`, "key-a", "shared")
	b := h.do("POST", "/v1/leads", `{"first_name":"From B"}`, "key-b", "shared")
	if a.Code != 201 || b.Code != 201 || a.replayed() || b.replayed() || a.id() == b.id() {
		t.Fatalf("A %d %s; B %d %s", a.Code, a.Raw, b.Code, b.Raw)
	}
	// The same request under two API keys: two records.
	c := h.do("POST", "/v1/leads", `{"first_name":"From A"}`, "key-c", "shared")
	if c.Code != 201 || c.replayed() {
		t.Fatalf("C %d %s", c.Code, c.Raw)
	}
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"From A"}`, "key-a", "shared"), a)
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"From B"}`, "key-b", "shared"), b)
	if n := h.leads(); n != before+3 {
		t.Fatalf("%d leads", n-before)
	}
	// Without an API key (Key reports none) the header is ignored.
	r1 := h.do("POST", "/v1/leads", `{"first_name":"Anon"}`, "", "shared")
	r2 := h.do("POST", "/v1/leads", `{"first_name":"Anon"}`, "", "shared")
	if r1.Code != 201 || r2.Code != 201 || r2.replayed() {
		t.Fatalf("no API key: %d %d", r1.Code, r2.Code)
	}
}

func testPatch(t *testing.T, h *harness) {
	lead := h.do("POST", "/v1/leads", `{"first_name":"Pat"}`, "k1")
	id := lead.id()
	first := h.do("PATCH", "/v1/leads/"+id, `{"status":"won"}`, "k1", "patch-1")
	if first.Code != 200 {
		t.Fatal(first.Raw)
	}
	updated := first.Body["data"].(map[string]any)["updated_at"]
	if updated == lead.Body["data"].(map[string]any)["updated_at"] {
		t.Fatal("the first PATCH did not bump updated_at")
	}
	wantReplay(t, h.do("PATCH", "/v1/leads/"+id, `{"status":"won"}`, "k1", "patch-1"), first)
	g := h.do("GET", "/v1/leads/"+id, "", "k1")
	if got := g.Body["data"].(map[string]any)["updated_at"]; got != updated {
		t.Fatalf("replayed PATCH bumped updated_at: %v → %v", updated, got)
	}
	// The same key on another record's path is another request.
	other := h.do("POST", "/v1/leads", `{"first_name":"Other"}`, "k1").id()
	wantErr(t, h.do("PATCH", "/v1/leads/"+other, `{"status":"won"}`, "k1", "patch-1"), 422, "Idempotency key reused with a different request")
}

func testStoredErrors(t *testing.T, h *harness) {
	before := h.leads()
	bad := h.do("POST", "/v1/leads", `{"first_name":5}`, "k1", "bad-body")
	wantErr(t, bad, 400, "Invalid field values")
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":5}`, "k1", "bad-body"), bad)
	missingID := uuid.New()
	missing := h.do("PATCH", "/v1/leads/"+missingID, `{"status":"x"}`, "k1", "missing")
	wantErr(t, missing, 404, "Not found")
	wantReplay(t, h.do("PATCH", "/v1/leads/"+missingID, `{"status":"x"}`, "k1", "missing"), missing)
	// 413 is not the handler's outcome: not stored.
	big := `{"first_name":"` + strings.Repeat("a", 1<<20) + `"}`
	wantErr(t, h.do("POST", "/v1/leads", big, "k1", "too-big"), 413, "Request body too large")
	if r := h.do("POST", "/v1/leads", `{"first_name":"small"}`, "k1", "too-big"); r.Code != 201 || r.replayed() {
		t.Fatalf("after 413: %d %s", r.Code, r.Raw)
	}
	if n := h.leads(); n != before+1 {
		t.Fatalf("%d leads", n-before)
	}
}

func testHeader(t *testing.T, h *harness) {
	for name, keys := range map[string][]string{
		"empty":     {""},
		"too long":  {strings.Repeat("k", 256)},
		"non-ASCII": {"clé"},
		"control":   {"a\x01b"},
		"repeated":  {"a", "a"},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.do("POST", "/v1/leads", `{"first_name":"H"}`, "k1", keys...)
			wantErr(t, r, 400, "Invalid request headers")
			if fmt.Sprint(r.Body["fields"]) != "[Idempotency-Key]" {
				t.Errorf("fields %v", r.Body["fields"])
			}
		})
	}
	if r := h.do("POST", "/v1/leads", `{"first_name":"H"}`, "k1", strings.Repeat("~", 255)); r.Code != 201 {
		t.Errorf("255 characters: %d %s", r.Code, r.Raw)
	}
	if r := h.do("POST", "/v1/leads", `{"first_name":"H"}`, "k1", "with spaces {and} braces"); r.Code != 201 {
		t.Errorf("printable key: %d %s", r.Code, r.Raw)
	}
	// GET ignores the header.
	g1 := h.do("GET", "/v1/leads?limit=1", "", "k1", "get-key")
	g2 := h.do("GET", "/v1/leads?limit=1", "", "k1", "get-key")
	if g1.Code != 200 || g2.Code != 200 || g2.replayed() {
		t.Errorf("GET: %d %d", g1.Code, g2.Code)
	}
}

func testExpiry(t *testing.T, k storeKind) {
	ttl := time.Hour
	if k.own {
		ttl = 150 * time.Millisecond
	}
	h := newHarness(t, k, func(o *idempotency.Options) { o.TTL = ttl })
	first := h.do("POST", "/v1/leads", `{"first_name":"Old"}`, "k1", "expiring")
	if first.Code != 201 {
		t.Fatal(first.Raw)
	}
	if k.own {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			r := h.do("POST", "/v1/leads", `{"first_name":"Old"}`, "k1", "expiring")
			if !r.replayed() {
				if r.Code != 201 || r.id() == first.id() {
					t.Fatalf("after expiry: %d %s", r.Code, r.Raw)
				}
				return
			}
			time.Sleep(25 * time.Millisecond) // Redis expires on its own clock
		}
		t.Fatal("never expired")
	}
	h.clock.Advance(ttl - time.Second)
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"Old"}`, "k1", "expiring"), first)
	h.clock.Advance(time.Second)
	r := h.do("POST", "/v1/leads", `{"first_name":"New body, same key"}`, "k1", "expiring")
	if r.Code != 201 || r.replayed() {
		t.Fatalf("after expiry: %d %s", r.Code, r.Raw)
	}
	if n := h.leads(); n != 2 {
		t.Fatalf("%d leads", n)
	}
}

// TestLostClaim: with the SQL store, a request whose lock ran out and whose
// key another request claimed in the meantime cannot complete: its write is
// rolled back and it is answered 409, so the key's new holder is the only
// one to write.
func TestLostClaim(t *testing.T) {
	t.Parallel()
	// PostgreSQL only: on SQLite the competing claim would wait for the
	// write lock that the request's transaction holds.
	k := kinds()[2]
	h := newHarness(t, k, func(o *idempotency.Options) { o.LockTimeout = time.Minute })
	competitor := idempotency.Ref{Scope: "k1", Key: "slow", Token: uuid.New()}
	steal := func() {
		h.clock.Advance(2 * time.Minute) // the first request's lock runs out
		res, err := h.store.Claim(context.Background(), idempotency.Claim{Ref: competitor, Fingerprint: "other", Lock: time.Minute})
		if err != nil || res.State != idempotency.Claimed {
			t.Errorf("competing claim: %v %v", res.State, err)
		}
	}
	h.inWrite.Store(&steal)
	r := h.do("POST", "/v1/leads", `{"first_name":"Slow"}`, "k1", "slow")
	wantErr(t, r, 409, "A request with this idempotency key is in progress")
	if n := h.leads(); n != 0 {
		t.Fatalf("%d leads: the slow write was kept", n)
	}
	// The competitor still holds the key.
	wantErr(t, h.do("POST", "/v1/leads", `{"first_name":"Slow"}`, "k1", "slow"), 422, "Idempotency key reused with a different request")
	if err := h.store.Release(context.Background(), competitor); err != nil {
		t.Fatal(err)
	}
	if r := h.do("POST", "/v1/leads", `{"first_name":"Slow"}`, "k1", "slow"); r.Code != 201 {
		t.Fatalf("after the competitor released: %d %s", r.Code, r.Raw)
	}
}

// testSealedAtRest (issue 13, "the webhook signing secret is stored in
// plain text and replayed"): a response carrying a secret is replayed, but
// the store holds no byte of it in plain text, whether it was completed
// inside the registry's transaction (sqlidem) or after the handler
// (redisidem, extra routes).
func testSealedAtRest(t *testing.T, h *harness, k storeKind) {
	first := h.do("POST", "/v1/leads", `{"first_name":"whsec_0123456789abcdef","status":"sk_live_secret"}`, "k1", "sealed")
	if first.Code != 201 {
		t.Fatal(first.Raw)
	}
	wantReplay(t, h.do("POST", "/v1/leads", `{"first_name":"whsec_0123456789abcdef","status":"sk_live_secret"}`, "k1", "sealed"), first)
	if k.dump == nil {
		return
	}
	at := k.dump(t, h.db, h.store)
	if !strings.Contains(at, first.id()) { // in the stored Location header
		t.Fatalf("dump does not hold the record: %q", at)
	}
	for _, secret := range []string{"whsec_", "sk_live_secret"} {
		if strings.Contains(at, secret) {
			t.Errorf("%q at rest in plain text", secret)
		}
	}
}
