package sqlaudit_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/tenancy"
)

// benchEntries returns n entries spread over 16 keys of one organization,
// newer than any before (seq counts entries made so far).
func benchEntries(seq *int, n int) []audit.Entry {
	es := make([]audit.Entry, n)
	for i := range es {
		*seq++
		es[i] = audit.Entry{
			Time:           time.UnixMilli(1_700_000_000_000 + int64(*seq)),
			RequestID:      fmt.Sprintf("0b8f1a52-7a53-4f0e-9d6c-%012d", *seq),
			KeyID:          fmt.Sprintf("8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e%02d", *seq%16),
			OrganizationID: "3f1d2c4b-5a69-4788-9abc-def012345678",
			Method:         "GET",
			Route:          "/v1/leads/{id}",
			Path:           "/v1/leads/5b1c6d1e-0000-4000-8000-000000000001",
			Status:         200,
			DurationMS:     3,
			IP:             "203.0.113.7",
			UserAgent:      "Zapier/2.0",
		}
	}
	return es
}

// BenchmarkWrite measures Store.Write (one transaction: insert the batch,
// prune each touched key) at batch sizes 1, 16 and 128, beside the naive
// write of one autocommit INSERT and one prune DELETE per entry. The
// entries/s metric is the throughput.
func BenchmarkWrite(b *testing.B) {
	dbs := []struct {
		name string
		open func(testing.TB) (*sqlaudit.Store, *sql.DB, tenancy.Dialect)
	}{
		{"sqlite", func(tb testing.TB) (*sqlaudit.Store, *sql.DB, tenancy.Dialect) {
			db := dbtest.SQLite(tb)
			return migrated(tb, db, tenancy.SQLite, 0), db, tenancy.SQLite
		}},
		{"postgres", func(tb testing.TB) (*sqlaudit.Store, *sql.DB, tenancy.Dialect) {
			db := dbtest.Postgres(tb)
			return migrated(tb, db, tenancy.Postgres, 0), db, tenancy.Postgres
		}},
	}
	for _, d := range dbs {
		for _, size := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/batch=%d", d.name, size), func(b *testing.B) {
				s, _, _ := d.open(b)
				seq, n := 0, 0
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := s.Write(ctx, benchEntries(&seq, size)); err != nil {
						b.Fatal(err)
					}
					n += size
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
			})
		}
		b.Run(d.name+"/naive", func(b *testing.B) {
			_, db, dialect := d.open(b)
			ins := dialect.Rebind("INSERT INTO gatehouse_audit (organization_id, key_id, time_ms, request_id, method, route, path, status, duration_ms, ip, user_agent) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
			prune := dialect.Rebind("DELETE FROM gatehouse_audit WHERE organization_id = ? AND key_id = ? AND (time_ms, request_id) < (SELECT time_ms, request_id FROM gatehouse_audit WHERE organization_id = ? AND key_id = ? ORDER BY time_ms DESC, request_id DESC LIMIT 1 OFFSET 49)")
			seq, n := 0, 0
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				e := benchEntries(&seq, 1)[0]
				if _, err := db.ExecContext(ctx, ins, e.OrganizationID, e.KeyID, e.Time.UnixMilli(), e.RequestID, e.Method, e.Route, e.Path, e.Status, e.DurationMS, e.IP, e.UserAgent); err != nil {
					b.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, prune, e.OrganizationID, e.KeyID, e.OrganizationID, e.KeyID); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
