package graphql_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
)

// selects counts the SELECT statements a database runs, through sqldb's
// wrapped connector and the telemetry package's statement spans.
type selects struct {
	spans *tracetest.SpanRecorder
}

func (s *selects) count() int {
	n := 0
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "SELECT" {
			n++
		}
	}
	return n
}

// tracedDatabases is dbtest.Databases on pools whose statements are
// counted.
func tracedDatabases(t *testing.T, fn func(t *testing.T, db dbtest.DB, s *selects)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := &selects{spans: tracetest.NewSpanRecorder()}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			tel := newInstruments(t, tp)
			dsn := filepath.Join(t.TempDir(), "traced.db")
			if engine == "postgres" {
				dsn = dbtest.PostgresSchemaURL(t)
			}
			db, dialect, err := sqldb.OpenWith(dsn, sqldb.Options{WrapConnector: tel.Connector})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			fn(t, dbtest.DB{Name: engine, DB: db, Dialect: dialect}, s)
		})
	}
}

// TestBatchedReferences: a 50-record list with references runs one
// SELECT per resource per level, not one per record.
func TestBatchedReferences(t *testing.T) {
	t.Parallel()
	tracedDatabases(t, func(t *testing.T, db dbtest.DB, s *selects) {
		e := newEnv(t, db, graphql.Options{})
		org := uuid.New()
		var clients []string
		for i := range 10 {
			clients = append(clients, e.create(org, "clients", fmt.Sprintf(`{"first_name":"C%d"}`, i)))
		}
		for i := range 50 {
			lead := e.create(org, "leads", fmt.Sprintf(`{"first_name":"L%d","client_id":%q}`, i, clients[i%10]))
			e.create(org, "appointments", fmt.Sprintf(`{"appointment_date":"2026-03-01","lead_id":%q}`, lead))
		}
		cases := []struct {
			name, query string
			selects     int
			nodes       []any
		}{
			{"one level", `{ leads(first: 50) { nodes { firstName client { firstName } } } }`, 2, []any{"leads", "nodes"}},
			{"nodes and edges", `{ leads(first: 50) { nodes { client { firstName } } edges { cursor node { c2: client { id } } } } }`, 2, []any{"leads", "nodes"}},
			{"two levels", `{ appointments(first: 50) { nodes { appointmentDate lead { firstName client { firstName } } } } }`, 3, []any{"appointments", "nodes"}},
		}
		for _, tc := range cases {
			before := s.count()
			r := e.post(org, e.all, tc.query, nil)
			got := s.count() - before
			nodes, _ := get(r.Data, tc.nodes...).([]any)
			if len(r.Errors) != 0 || len(nodes) != 50 {
				t.Fatalf("%s: %s", tc.name, r.Raw)
			}
			for i, n := range nodes {
				if get(n, "client", "firstName") == nil && get(n, "lead", "client", "firstName") == nil {
					t.Fatalf("%s: node %d has no client: %v", tc.name, i, n)
				}
			}
			if got != tc.selects {
				t.Errorf("%s: %d SELECTs, want %d", tc.name, got, tc.selects)
			}
		}
	})
}

func newInstruments(t testing.TB, tp *sdktrace.TracerProvider) *telemetry.Instruments {
	t.Helper()
	tel, err := telemetry.New(telemetry.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	return tel
}
