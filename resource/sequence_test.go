package resource_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// withGaps declares the test leads' lead_number with SequenceGaps.
func withGaps(o *resource.Options) {
	for i := range o.Resources {
		for j := range o.Resources[i].Fields {
			if o.Resources[i].Fields[j].Sequence {
				o.Resources[i].Fields[j].SequenceGaps = true
			}
		}
	}
}

// TestSequenceGapsCreatesDoNotWaitForEachOthersCommit: on PostgreSQL, with
// SequenceGaps a create of an organization completes while another create
// of the same organization is still inside its transaction (held open by
// OnWrite); without it (the gap-free default) the second create waits for
// the first one's commit. Numbers stay unique and follow allocation order;
// a failed create leaves a gap.
func TestSequenceGapsCreatesDoNotWaitForEachOthersCommit(t *testing.T) {
	t.Parallel()
	for _, gaps := range []bool{true, false} {
		name := "gap-free"
		if gaps {
			name = "gaps"
		}
		t.Run(name, func(t *testing.T) {
			hold, release := make(chan struct{}), make(chan struct{})
			db := dbtest.DB{Name: "postgres", DB: dbtest.Postgres(t), Dialect: tenancy.Postgres}
			e := newEnv(t, db, func(o *resource.Options) {
				if gaps {
					withGaps(o)
				}
				o.OnWrite = func(ctx context.Context, tx *sql.Tx, c resource.Change) error {
					if c.Op == resource.OpCreated && c.Resource == "leads" && ctx.Value(holdKey{}) != nil {
						close(hold)
						<-release
					}
					return nil
				}
			})
			org := uuid.New()
			first := make(chan resp, 1)
			go func() {
				first <- e.callCtx(context.WithValue(context.Background(), holdKey{}, true), `{"first_name":"A"}`, org)
			}()
			<-hold
			second := make(chan resp, 1)
			go func() { second <- e.do(http.MethodPost, "/v1/leads", `{"first_name":"B"}`, org) }()
			if gaps {
				select {
				case r := <-second:
					if r.Code != http.StatusCreated || r.data()["lead_number"] != float64(2) {
						t.Fatalf("second create: %d %s", r.Code, r.Raw)
					}
				case <-time.After(30 * time.Second):
					close(release)
					t.Fatal("with SequenceGaps the second create waited for the first one's commit")
				}
				close(release)
			} else {
				// The gap-free create waits on the counter's row lock:
				// PostgreSQL shows its statement waiting for a lock.
				waitForLockWait(t, db.DB, "gatehouse_sequences")
				close(release)
				if r := <-second; r.Code != http.StatusCreated || r.data()["lead_number"] != float64(2) {
					t.Fatalf("second create: %d %s", r.Code, r.Raw)
				}
			}
			if r := <-first; r.Code != http.StatusCreated || r.data()["lead_number"] != float64(1) {
				t.Fatalf("first create: %d %s", r.Code, r.Raw)
			}
		})
	}
}

type holdKey struct{}

// TestSequenceGapsFailedCreateLeavesAGap: the number taken before a create
// that then fails is not given back; later numbers stay unique and
// increasing (SQLite and PostgreSQL).
func TestSequenceGapsFailedCreateLeavesAGap(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, withGaps)
		org := uuid.New()
		var nums []float64
		nums = append(nums, e.mustCreate("leads", `{}`, org)["lead_number"].(float64))
		e.mu.Lock()
		e.failWrite = errors.New("outbox down")
		e.mu.Unlock()
		wantError(t, e.do("POST", "/v1/leads", `{}`, org), 500, "Internal server error")
		e.mu.Lock()
		e.failWrite = nil
		e.mu.Unlock()
		nums = append(nums, e.mustCreate("leads", `{}`, org)["lead_number"].(float64))
		nums = append(nums, e.mustCreate("leads", `{}`, uuid.New())["lead_number"].(float64))
		if !slices.Equal(nums, []float64{1, 3, 1}) {
			t.Fatalf("numbers %v, want [1 3 1] (a gap where the create failed; organizations count apart)", nums)
		}
	})
}

func TestSequenceGapsNeedsSequence(t *testing.T) {
	t.Parallel()
	_, err := resource.New(resource.Options{
		DB: dbtest.SQLite(t), Resources: []resource.Resource{{Name: "things", Fields: []resource.Field{{Name: "n", Type: resource.Integer, SequenceGaps: true}}}},
	})
	if err == nil {
		t.Fatal("SequenceGaps without Sequence accepted")
	}
}

// callCtx creates a lead as org with every scope, on a request whose
// context derives from base.
func (e *env) callCtx(base context.Context, body, org string) resp {
	req := httptest.NewRequest(http.MethodPost, "/v1/leads", strings.NewReader(body))
	ctx := gatehouse.NewRequestContext(base, "req-"+uuid.New())
	req = req.WithContext(withCaller(ctx, org, e.all))
	rec := httptest.NewRecorder()
	e.reg.ServeHTTP(rec, req)
	out := resp{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &out.Body)
	return out
}

// waitForLockWait polls pg_stat_activity (up to 30 s) until a statement
// mentioning table waits for a lock.
func waitForLockWait(t *testing.T, db *sql.DB, table string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, table).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no statement on %s waited for a lock", table)
}
