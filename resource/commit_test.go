package resource_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
)

// TestCommitHook: hooks from the request context run inside the write's
// transaction after OnWrite, see exactly the response the client gets, and
// commit or roll back with the record.
func TestCommitHook(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		if _, err := db.DB.Exec(`CREATE TABLE hook_log (request_id TEXT PRIMARY KEY, status INTEGER NOT NULL, body TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			events  []string
			seen    []resource.Response
			hookErr error
		)
		logEvent := func(s string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, s)
		}
		hook := func(name string) resource.CommitHook {
			return func(ctx context.Context, tx *sql.Tx, resp resource.Response) error {
				logEvent(name)
				mu.Lock()
				seen = append(seen, resp)
				err := hookErr
				mu.Unlock()
				if err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, db.Dialect.Rebind(`INSERT INTO hook_log (request_id, status, body) VALUES (?, ?, ?)`),
					gatehouse.RequestIDFromContext(ctx)+"/"+name, resp.Status, string(resp.Body))
				return err
			}
		}
		e := newEnv(t, db, func(o *resource.Options) {
			onWrite := o.OnWrite
			o.OnWrite = func(ctx context.Context, tx *sql.Tx, c resource.Change) error {
				logEvent("onwrite")
				return onWrite(ctx, tx, c)
			}
			o.Middleware = []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ctx := resource.WithCommitHook(r.Context(), hook("first"))
					ctx = resource.WithCommitHook(ctx, nil)
					ctx = resource.WithCommitHook(ctx, hook("second"))
					next.ServeHTTP(w, r.WithContext(ctx))
				})
			}}
		})
		org := uuid.New()
		reset := func() {
			mu.Lock()
			defer mu.Unlock()
			events, seen, hookErr = nil, nil, nil
		}
		logged := func(reqID string) (int, string, bool) {
			var status int
			var body string
			err := db.DB.QueryRow(db.Dialect.Rebind(`SELECT status, body FROM hook_log WHERE request_id = ?`), reqID+"/first").Scan(&status, &body)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, "", false
			}
			if err != nil {
				t.Fatal(err)
			}
			return status, body, true
		}

		r := e.do("POST", "/v1/leads", `{"first_name":"Hooked"}`, org)
		if r.Code != 201 {
			t.Fatalf("%d %s", r.Code, r.Raw)
		}
		mu.Lock()
		if !slices.Equal(events, []string{"onwrite", "first", "second"}) || len(seen) != 2 {
			t.Errorf("events %v", events)
		}
		got := seen[0]
		mu.Unlock()
		if got.Status != 201 || string(got.Body) != r.Raw || got.Header.Get("Location") != r.Header.Get("Location") || got.Header.Get("Content-Type") != "application/json" {
			t.Errorf("hook saw %d %v %q; client got %d %v %q", got.Status, got.Header, got.Body, r.Code, r.Header, r.Raw)
		}
		reqID := r.Body["request_id"].(string)
		if st, body, ok := logged(reqID); !ok || st != 201 || body != r.Raw {
			t.Errorf("hook's row: %v %d %q", ok, st, body)
		}
		id := r.data()["id"].(string)

		reset()
		p := e.do("PATCH", "/v1/leads/"+id, `{"status":"won"}`, org)
		mu.Lock()
		if p.Code != 200 || len(seen) != 2 || seen[0].Status != 200 || string(seen[0].Body) != p.Raw || seen[0].Header.Get("Location") != "" {
			t.Errorf("patch: %d %s; hook saw %+v", p.Code, p.Raw, seen)
		}
		mu.Unlock()

		// A failing hook rolls the write back, its number and its own rows
		// included, and its error is the answer.
		reset()
		mu.Lock()
		hookErr = gatehouse.NewError(http.StatusConflict, "Hook says no")
		mu.Unlock()
		f := e.do("POST", "/v1/leads", `{"first_name":"Lost"}`, org)
		wantError(t, f, 409, "Hook says no")
		if _, _, ok := logged(f.Body["request_id"].(string)); ok {
			t.Error("row of a rolled-back write was kept")
		}
		if n := len(e.do("GET", "/v1/leads", "", org).list()); n != 1 {
			t.Errorf("%d leads after a failed hook", n)
		}
		reset()
		if n := e.mustCreate("leads", `{}`, org)["lead_number"]; n != float64(2) {
			t.Errorf("lead_number %v after a rolled-back create", n)
		}

		// No write, no hook: validation errors, 404s, failing OnWrite.
		reset()
		wantError(t, e.do("POST", "/v1/leads", `{"email":"nope"}`, org), 400, "Invalid field values")
		wantError(t, e.do("PATCH", "/v1/leads/"+uuid.New(), `{"status":"x"}`, org), 404, "Not found")
		e.mu.Lock()
		e.failWrite = errors.New("outbox down")
		e.mu.Unlock()
		wantError(t, e.do("POST", "/v1/leads", `{}`, org), 500, "Internal server error")
		e.mu.Lock()
		e.failWrite = nil
		e.mu.Unlock()
		mu.Lock()
		if len(seen) != 0 {
			t.Errorf("hooks ran without a write: %v", events)
		}
		mu.Unlock()
	})
}

// TestAfterCommit: functions OnWrite registers with AfterCommit run once
// the write has committed (the record is visible to another connection),
// and never for a write that rolls back; outside a write AfterCommit
// registers nothing.
func TestAfterCommit(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		var (
			mu      sync.Mutex
			visible []bool
			fail    error
		)
		e := newEnv(t, db, func(o *resource.Options) {
			o.OnWrite = func(ctx context.Context, tx *sql.Tx, c resource.Change) error {
				ok := resource.AfterCommit(ctx, func() {
					var n int
					err := db.DB.QueryRow(db.Dialect.Rebind(`SELECT COUNT(*) FROM leads WHERE id = ?`), c.ID).Scan(&n)
					mu.Lock()
					visible = append(visible, err == nil && n == 1)
					mu.Unlock()
				})
				if !ok {
					t.Error("AfterCommit refused inside OnWrite")
				}
				mu.Lock()
				defer mu.Unlock()
				return fail
			}
		})
		org := uuid.New()
		r := e.do("POST", "/v1/leads", `{"first_name":"After"}`, org)
		if r.Code != 201 {
			t.Fatalf("%d %s", r.Code, r.Raw)
		}
		e.do("PATCH", "/v1/leads/"+r.data()["id"].(string), `{"status":"won"}`, org)
		mu.Lock()
		fail = errors.New("outbox down")
		mu.Unlock()
		if f := e.do("POST", "/v1/leads", `{"first_name":"Lost"}`, org); f.Code != 500 {
			t.Fatalf("failing OnWrite: %d", f.Code)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(visible, []bool{true, true}) {
			t.Fatalf("after-commit calls saw %v; want the record visible twice", visible)
		}
		if resource.AfterCommit(context.Background(), func() {}) {
			t.Fatal("AfterCommit registered outside a write")
		}
	})
}
