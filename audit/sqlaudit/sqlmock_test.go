package sqlaudit_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/DATA-DOG/go-sqlmock"

	"gatehouse.dev/audit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/tenancy"
)

// TestLatestSQLShape checks the read on both dialects: the organization and
// the key are both in the predicate (another organization's key id reads
// nothing), newest first by (time, request id), bounded by the cap.
func TestLatestSQLShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    tenancy.Dialect
		want string
	}{
		{tenancy.SQLite, `WHERE organization_id = \? AND key_id = \? ORDER BY time_ms DESC, request_id DESC LIMIT \?`},
		{tenancy.Postgres, `WHERE organization_id = \$1 AND key_id = \$2 ORDER BY time_ms DESC, request_id DESC LIMIT \$3`},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			t.Parallel()
			db, mock, err := sqlmock.New()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err := sqlaudit.New(sqlaudit.Options{DB: db, Dialect: tc.d, Cap: 7})
			if err != nil {
				t.Fatal(err)
			}
			ms := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
			mock.ExpectQuery(tc.want).WithArgs("org", "key", 7).WillReturnRows(
				sqlmock.NewRows([]string{"time_ms", "request_id", "method", "route", "path", "status", "duration_ms", "ip", "user_agent", "operations"}).
					AddRow(ms, "r1", "GET", "/v1/leads", "/v1/leads", 200, 3, "192.0.2.1", "curl", ""))
			got, err := s.Latest(context.Background(), "org", "key")
			if err != nil || len(got) != 1 || got[0].OrganizationID != "org" || got[0].KeyID != "key" || got[0].Time.UnixMilli() != ms {
				t.Fatalf("Latest: %+v %v", got, err)
			}
			// No organization or key: no query at all.
			if got, err := s.Latest(context.Background(), "", "key"); err != nil || len(got) != 0 {
				t.Fatalf("Latest without organization: %v %v", got, err)
			}
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriteRollsBack: a failed prune rolls the batch back, and the error
// names the step without SQL text reaching callers' clients.
func TestWriteRollsBack(t *testing.T) {
	t.Parallel()
	db, mock, err := sqlmock.New()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlaudit.New(sqlaudit.Options{DB: db, Dialect: tenancy.SQLite})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk I/O error")
	mock.ExpectBegin()
	mock.ExpectExec(regexp.QuoteMeta("INSERT INTO " + sqlaudit.Table)).WillReturnResult(sqlmock.NewResult(0, 1))
	mock.ExpectExec("DELETE FROM " + sqlaudit.Table + ` WHERE organization_id = \? AND key_id = \?`).WillReturnError(boom)
	mock.ExpectRollback()
	err = s.Write(context.Background(), []audit.Entry{{Time: time.Now(), RequestID: "r", KeyID: "k", OrganizationID: "o", Method: "GET", Status: 200}})
	if !errors.Is(err, boom) {
		t.Fatalf("Write: %v", err)
	}
	if err := mock.ExpectationsWereMet(); err != nil {
		t.Fatal(err)
	}
}
