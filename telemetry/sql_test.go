package telemetry_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"gatehouse.dev/auth/authtest"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/telemetry"
	"gatehouse.dev/tenancy"
)

// openTraced opens a fresh database of engine ("sqlite" or "postgres")
// through tel's connector.
func openTraced(t *testing.T, tel *telemetry.Instruments, engine string) (*sql.DB, tenancy.Dialect) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "traced.db")
	if engine == "postgres" {
		dsn = dbtest.PostgresSchemaURL(t)
	}
	db, dialect, err := sqldb.OpenWith(dsn, sqldb.Options{WrapConnector: tel.Connector})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if d, err := tenancy.DialectOf(db); err != nil || d != dialect {
		t.Fatalf("DialectOf a traced database: %v, %v", d, err)
	}
	return db, dialect
}

func TestConnector(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newSDK(t)
			tel := s.instruments(t, telemetry.Options{})
			db, dialect := openTraced(t, tel, engine)
			system := map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}[engine]
			ctx, parent := s.tp.Tracer("test").Start(context.Background(), "request")
			const secret = "argument-value-never-recorded"

			mustExec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.ExecContext(ctx, dialect.Rebind(q), args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			mustExec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
			mustExec("INSERT INTO items (id, name) VALUES (?, ?)", 1, secret)
			mustExec("/* a comment */ -- and another\n  insert into items (id, name) values (?, ?)", 2, "two")

			rows, err := db.QueryContext(ctx, dialect.Rebind("SELECT name FROM items WHERE name <> ? ORDER BY id"), secret)
			if err != nil {
				t.Fatal(err)
			}
			open := len(s.spans.Started()) - len(s.spans.Ended())
			var names []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				names = append(names, n)
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			if open < 2 { // the request span and the query's
				t.Error("the query's span ended before its rows were read")
			}
			if len(names) != 1 || names[0] != "two" {
				t.Fatalf("rows %v", names)
			}

			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, dialect.Rebind("UPDATE items SET name = ? WHERE id = ?"), "one", 1); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			tx, err = db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM items"); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}

			st, err := db.PrepareContext(ctx, dialect.Rebind("SELECT count(*) FROM items WHERE id > ?"))
			if err != nil {
				t.Fatal(err)
			}
			var count int
			if err := st.QueryRowContext(ctx, 0).Scan(&count); err != nil || count != 2 {
				t.Fatalf("prepared count %d, %v", count, err)
			}
			_ = st.Close()
			if _, err := db.ExecContext(ctx, "SELEC nonsense"); err == nil {
				t.Fatal("bad SQL succeeded")
			}
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			parent.End()

			counts := map[string]int{}
			var failed []sdktrace.ReadOnlySpan
			for _, sp := range s.spans.Ended() {
				if sp.Name() == "request" {
					continue
				}
				counts[sp.Name()]++
				if sys, _ := spanAttr(sp, semconv.DBSystemNameKey); sys != system {
					t.Errorf("span %s: db.system.name %q, want %q", sp.Name(), sys, system)
				}
				if op, ok := spanAttr(sp, semconv.DBOperationNameKey); ok && op != sp.Name() {
					t.Errorf("span %s: db.operation.name %q", sp.Name(), op)
				}
				if sp.Parent().SpanID() != parent.SpanContext().SpanID() {
					t.Errorf("span %s is not a child of the request", sp.Name())
				}
				if sp.Status().Code == codes.Error {
					failed = append(failed, sp)
				}
			}
			for name, want := range map[string]int{
				"CREATE": 1, "INSERT": 2, "SELECT": 2, "BEGIN": 2, "UPDATE": 1, "COMMIT": 1, "DELETE": 1, "ROLLBACK": 1,
			} {
				if counts[name] != want {
					t.Errorf("%d %s spans, want %d (all: %v)", counts[name], name, want, counts)
				}
			}
			if len(failed) != 1 || failed[0].Name() != "SELEC" {
				t.Errorf("failed spans %v, want the one SELEC", failed)
			}
			if text := s.exportedText(t); strings.Contains(text, secret) {
				t.Errorf("an argument value was exported:\n%s", text)
			}
		})
	}
}

// TestConnectorStoreSuite runs the key store's behaviour suite on traced
// databases: the wrapper must not change what the drivers do.
func TestConnectorStoreSuite(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newSDK(t)
			db, dialect := openTraced(t, s.instruments(t, telemetry.Options{}), engine)
			authtest.RunStore(t, func(t *testing.T) authtest.Stores {
				st, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: dialect})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				return authtest.Stores{Keys: st, Orgs: st}
			})
			t.Cleanup(func() { // after the parallel subtests
				if len(s.spans.Ended()) == 0 {
					t.Error("no statement traced")
				}
			})
		})
	}
}

// TestConnectorMinimalDriver uses a driver with none of the optional
// interfaces: database/sql must behave as without the wrapper (prepared
// statements for everything, Begin, no named parameters).
func TestConnectorMinimalDriver(t *testing.T) {
	t.Parallel()
	for _, traced := range []bool{false, true} {
		s := newSDK(t)
		md := &minimalDriver{}
		var c driver.Connector = minimalConnector{d: md}
		if traced {
			c = s.instruments(t, telemetry.Options{}).Connector(c)
		}
		db := sql.OpenDB(c)
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "INSERT x", 1, "a"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := db.QueryRowContext(ctx, "SELECT x", 7).Scan(&v); err != nil || v != "row:7" {
			t.Fatalf("traced=%v: row %q, %v", traced, v, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT x", sql.Named("n", 1)); err == nil ||
			!strings.Contains(err.Error(), "Named Parameters") {
			t.Errorf("traced=%v: named parameter: %v", traced, err)
		}
		if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}); err == nil {
			t.Errorf("traced=%v: a serializable transaction on a driver without BeginTx", traced)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		// A column type the driver does not describe is "any", as without
		// the wrapper.
		rows, err := db.QueryContext(ctx, "SELECT x", 1)
		if err != nil {
			t.Fatal(err)
		}
		types, err := rows.ColumnTypes()
		if err != nil || len(types) != 1 || types[0].ScanType().String() != "interface {}" || types[0].DatabaseTypeName() != "" {
			t.Errorf("traced=%v: column types %v, %v", traced, types, err)
		}
		_ = rows.Close()
		_ = db.Close()
		md.mu.Lock()
		got := strings.Join(md.log, ",")
		md.mu.Unlock()
		const want = "prepare INSERT x,exec [1 a],prepare SELECT x,query [7],prepare INSERT x,begin,commit,prepare SELECT x,query [1]"
		if got != want {
			t.Errorf("traced=%v: driver saw\n%s\nwant\n%s", traced, got, want)
		}
		if traced {
			// The named parameter and the isolation level fail inside the
			// spans of their statements.
			names := map[string]int{}
			for _, sp := range s.spans.Ended() {
				names[sp.Name()]++
				if sp.Status().Code == codes.Error {
					names[sp.Name()+" failed"]++
				}
				if sys, _ := spanAttr(sp, semconv.DBSystemNameKey); sys != "other_sql" {
					t.Errorf("span %s: db.system.name %q", sp.Name(), sys)
				}
			}
			if names["INSERT"] != 2 || names["INSERT failed"] != 1 || names["SELECT"] != 2 || names["SELECT failed"] != 0 ||
				names["BEGIN"] != 2 || names["BEGIN failed"] != 1 || names["COMMIT"] != 1 {
				t.Errorf("spans %v", names)
			}
		}
	}
}

// minimalDriver implements only the required driver interfaces and logs
// what database/sql asks of it.
type minimalDriver struct {
	mu  sync.Mutex
	log []string
}

func (d *minimalDriver) record(s string) {
	d.mu.Lock()
	d.log = append(d.log, s)
	d.mu.Unlock()
}

func (d *minimalDriver) Open(string) (driver.Conn, error) { return &minimalConn{d: d}, nil }

type minimalConnector struct{ d *minimalDriver }

func (c minimalConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open("") }
func (c minimalConnector) Driver() driver.Driver                        { return c.d }

type minimalConn struct{ d *minimalDriver }

func (c *minimalConn) Prepare(q string) (driver.Stmt, error) {
	c.d.record("prepare " + q)
	return &minimalStmt{d: c.d}, nil
}
func (c *minimalConn) Close() error { return nil }
func (c *minimalConn) Begin() (driver.Tx, error) {
	c.d.record("begin")
	return minimalTx{d: c.d}, nil
}

type minimalTx struct{ d *minimalDriver }

func (tx minimalTx) Commit() error   { tx.d.record("commit"); return nil }
func (tx minimalTx) Rollback() error { tx.d.record("rollback"); return nil }

type minimalStmt struct{ d *minimalDriver }

func (s *minimalStmt) Close() error  { return nil }
func (s *minimalStmt) NumInput() int { return -1 }
func (s *minimalStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.d.record("exec " + fmtValues(args))
	return driver.RowsAffected(1), nil
}
func (s *minimalStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.d.record("query " + fmtValues(args))
	if len(args) != 1 {
		return nil, errors.New("want one argument")
	}
	return &minimalRows{v: "row:" + fmtValue(args[0])}, nil
}

type minimalRows struct {
	v    string
	done bool
}

func (r *minimalRows) Columns() []string { return []string{"v"} }
func (r *minimalRows) Close() error      { return nil }
func (r *minimalRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = r.v
	return nil
}

func fmtValues(vs []driver.Value) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmtValue(v)
	}
	return "[" + strings.Join(out, " ") + "]"
}

func fmtValue(v driver.Value) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	}
	return "?"
}
