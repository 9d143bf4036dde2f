package telemetry

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Connector returns c with a client span per SQL statement, for
// sql.OpenDB or sqldb.OpenWith:
//
//	db, dialect, err := sqldb.OpenWith(dsn, sqldb.Options{WrapConnector: tel.Connector})
//
// A statement's span is named after its operation, the first keyword of
// the SQL ("SELECT", "INSERT", "WITH", …), and carries db.system.name
// (postgresql for pgx and lib/pq, sqlite for modernc.org/sqlite and
// mattn/go-sqlite3, other_sql otherwise) and db.operation.name. A query's
// span ends when its rows are closed, so it includes reading them.
// Transactions get "BEGIN", "COMMIT" and "ROLLBACK" spans. Neither the SQL
// text nor any argument value is recorded.
//
// The wrapper keeps what database/sql would do with the driver's own
// connections: the optional interfaces the driver implements
// (QueryerContext, ExecerContext, ConnBeginTx, ConnPrepareContext,
// NamedValueChecker, SessionResetter, Validator, Pinger, and the statement
// and rows interfaces) behave as the driver's, and those it lacks behave as
// database/sql's defaults. Driver() returns c's driver, so
// tenancy.DialectOf still works; code that needs the driver's connection
// itself (sql.Conn.Raw) finds it with the Unwrap method of the connection
// it is given.
func (t *Instruments) Connector(c driver.Connector) driver.Connector {
	sys := dbSystem(c.Driver())
	s := &sqlTracer{t: t}
	s.start = append(t.spanClient[:len(t.spanClient):len(t.spanClient)], trace.WithAttributes(sys))
	return &connector{next: c, s: s}
}

// dbSystem names the database system of a driver by its type, as
// tenancy.DialectOf does.
func dbSystem(d driver.Driver) attribute.KeyValue {
	switch fmt.Sprintf("%T", d) {
	case "*stdlib.Driver", "*pq.Driver":
		return semconv.DBSystemNamePostgreSQL
	case "*sqlite.Driver", "*sqlite3.SQLiteDriver":
		return semconv.DBSystemNameSQLite
	}
	return semconv.DBSystemNameOtherSQL
}

// sqlTracer starts and ends the spans of one connector.
type sqlTracer struct {
	t     *Instruments
	start []trace.SpanStartOption
}

// begin starts the span of operation op (a constant) or of query's first
// keyword; it returns a nil span when tracing is off.
func (s *sqlTracer) begin(ctx context.Context, op, query string) (context.Context, trace.Span) {
	if !s.t.tracing() {
		return ctx, nil
	}
	name := op
	if name == "" {
		name = "SQL"
	}
	ctx, span := s.t.tracer.Start(ctx, name, s.start...)
	if op == "" && span.IsRecording() {
		op = sqlOperation(query)
		if op != "" {
			span.SetName(op)
			span.SetAttributes(semconv.DBOperationName(op))
		}
	} else if span.IsRecording() {
		span.SetAttributes(semconv.DBOperationName(op))
	}
	return ctx, span
}

// end ends span (if any) with err; driver.ErrSkip and io.EOF are not
// errors.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && span.IsRecording() && !errors.Is(err, driver.ErrSkip) && !errors.Is(err, io.EOF) {
		spanError(span, err)
	}
	span.End()
}

// sqlOperation returns the first keyword of query in upper case, skipping
// white space and comments, or "" if it does not start with a word of
// ASCII letters of at most 32 bytes.
func sqlOperation(query string) string {
	i := 0
	for i < len(query) {
		switch c := query[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '(':
			i++
		case strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				return ""
			}
			i += j + 1
		case strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				return ""
			}
			i += j + 4
		default:
			j := i
			for j < len(query) && j-i <= 32 && isLetter(query[j]) {
				j++
			}
			if j == i || j-i > 32 || (j < len(query) && isWordByte(query[j])) {
				return ""
			}
			return strings.ToUpper(query[i:j])
		}
	}
	return ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isWordByte(c byte) bool { return isLetter(c) || '0' <= c && c <= '9' || c == '_' || c >= 0x80 }

// connector wraps a driver.Connector.
type connector struct {
	next driver.Connector
	s    *sqlTracer
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.next.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{next: dc, s: c.s}, nil
}

func (c *connector) Driver() driver.Driver { return c.next.Driver() }

// Close closes the wrapped connector if it is an io.Closer (sql.DB.Close
// calls it).
func (c *connector) Close() error {
	if cl, ok := c.next.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// conn wraps a driver.Conn and implements every optional interface
// database/sql looks for, falling back to database/sql's own behaviour when
// the driver's connection lacks one.
type conn struct {
	next driver.Conn
	s    *sqlTracer
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
)

// Unwrap returns the driver's connection.
func (c *conn) Unwrap() driver.Conn { return c.next }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	st, err := c.next.Prepare(query)
	if err != nil {
		return nil, err
	}
	return wrapStmt(st, c, query), nil
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.next.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.next.Prepare(query)
		if err == nil {
			select {
			case <-ctx.Done():
				_ = st.Close()
				return nil, ctx.Err()
			default:
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return wrapStmt(st, c, query), nil
}

func (c *conn) Close() error { return c.next.Close() }

// Begin is the deprecated form; database/sql calls BeginTx.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	sctx, span := c.s.begin(ctx, "BEGIN", "")
	tx, err := c.beginTx(sctx, opts)
	end(span, err)
	if err != nil {
		return nil, err
	}
	if span == nil {
		return tx, nil
	}
	return &sqlTx{next: tx, ctx: ctx, s: c.s}, nil
}

// beginTx is database/sql's ctxDriverBegin.
func (c *conn) beginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.next.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	if opts.Isolation != driver.IsolationLevel(0) {
		return nil, errors.New("sql: driver does not support non-default isolation level")
	}
	if opts.ReadOnly {
		return nil, errors.New("sql: driver does not support read-only transactions")
	}
	if ctx.Done() == nil {
		return c.next.Begin() //nolint:staticcheck // the driver has no BeginTx
	}
	tx, err := c.next.Begin() //nolint:staticcheck // the driver has no BeginTx
	if err == nil {
		select {
		case <-ctx.Done():
			_ = tx.Rollback()
			return nil, ctx.Err()
		default:
		}
	}
	return tx, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ec, hasCtx := c.next.(driver.ExecerContext)
	e, hasPlain := c.next.(driver.Execer) //nolint:staticcheck // deprecated, still honoured by database/sql
	if !hasCtx && !hasPlain {
		return nil, driver.ErrSkip
	}
	ctx, span := c.s.begin(ctx, "", query)
	var res driver.Result
	var err error
	if hasCtx {
		res, err = ec.ExecContext(ctx, query, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(args); err == nil {
			if err = ctx.Err(); err == nil {
				res, err = e.Exec(query, vals)
			}
		}
	}
	end(span, err)
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	qc, hasCtx := c.next.(driver.QueryerContext)
	q, hasPlain := c.next.(driver.Queryer) //nolint:staticcheck // deprecated, still honoured by database/sql
	if !hasCtx && !hasPlain {
		return nil, driver.ErrSkip
	}
	ctx, span := c.s.begin(ctx, "", query)
	var rows driver.Rows
	var err error
	if hasCtx {
		rows, err = qc.QueryContext(ctx, query, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(args); err == nil {
			if err = ctx.Err(); err == nil {
				rows, err = q.Query(query, vals)
			}
		}
	}
	return wrapRows(rows, span, err)
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.next.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.next.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.next.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.next.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// namedValueToValue is database/sql's conversion for drivers without the
// context interfaces.
func namedValueToValue(named []driver.NamedValue) ([]driver.Value, error) {
	args := make([]driver.Value, len(named))
	for n, param := range named {
		if len(param.Name) > 0 {
			return nil, errors.New("sql: driver does not support the use of Named Parameters")
		}
		args[n] = param.Value
	}
	return args, nil
}

// sqlTx traces Commit and Rollback, in the context the transaction began
// with.
type sqlTx struct {
	next driver.Tx
	ctx  context.Context
	s    *sqlTracer
}

func (tx *sqlTx) Commit() error {
	_, span := tx.s.begin(tx.ctx, "COMMIT", "")
	err := tx.next.Commit()
	end(span, err)
	return err
}

func (tx *sqlTx) Rollback() error {
	_, span := tx.s.begin(tx.ctx, "ROLLBACK", "")
	err := tx.next.Rollback()
	end(span, err)
	return err
}

// stmt wraps a prepared statement.
type stmt struct {
	next  driver.Stmt
	conn  *conn
	query string
}

// stmtCC is a stmt whose driver statement is a (deprecated)
// driver.ColumnConverter, which database/sql still consults.
type stmtCC struct {
	*stmt
	cc driver.ColumnConverter //nolint:staticcheck // deprecated, still honoured by database/sql
}

func (s stmtCC) ColumnConverter(idx int) driver.ValueConverter { return s.cc.ColumnConverter(idx) }

var (
	_ driver.Stmt              = (*stmt)(nil)
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func wrapStmt(st driver.Stmt, c *conn, query string) driver.Stmt {
	s := &stmt{next: st, conn: c, query: query}
	if cc, ok := st.(driver.ColumnConverter); ok { //nolint:staticcheck // deprecated, still honoured by database/sql
		return stmtCC{stmt: s, cc: cc}
	}
	return s
}

// Unwrap returns the driver's statement.
func (s *stmt) Unwrap() driver.Stmt { return s.next }

func (s *stmt) Close() error  { return s.next.Close() }
func (s *stmt) NumInput() int { return s.next.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	_, span := s.conn.s.begin(context.Background(), "", s.query)
	res, err := s.next.Exec(args) //nolint:staticcheck // the caller chose the deprecated form
	end(span, err)
	return res, err
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	_, span := s.conn.s.begin(context.Background(), "", s.query)
	rows, err := s.next.Query(args) //nolint:staticcheck // the caller chose the deprecated form
	return wrapRows(rows, span, err)
}

// ExecContext is database/sql's ctxDriverStmtExec, traced.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, span := s.conn.s.begin(ctx, "", s.query)
	var res driver.Result
	var err error
	if ec, ok := s.next.(driver.StmtExecContext); ok {
		res, err = ec.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(args); err == nil {
			if err = ctx.Err(); err == nil {
				res, err = s.next.Exec(vals) //nolint:staticcheck // the driver has no ExecContext
			}
		}
	}
	end(span, err)
	return res, err
}

// QueryContext is database/sql's ctxDriverStmtQuery, traced.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, span := s.conn.s.begin(ctx, "", s.query)
	var rows driver.Rows
	var err error
	if qc, ok := s.next.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedValueToValue(args); err == nil {
			if err = ctx.Err(); err == nil {
				rows, err = s.next.Query(vals) //nolint:staticcheck // the driver has no QueryContext
			}
		}
	}
	return wrapRows(rows, span, err)
}

// CheckNamedValue asks the statement's checker, else the connection's, as
// database/sql does; ErrSkip sends database/sql to its default conversion.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.next.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.conn.CheckNamedValue(nv)
}

// wrapRows returns rows whose span ends when they are closed, or ends the
// span now when there are no rows or nothing records it.
func wrapRows(rows driver.Rows, span trace.Span, err error) (driver.Rows, error) {
	if err != nil || rows == nil || span == nil || !span.IsRecording() {
		end(span, err)
		return rows, err
	}
	return &sqlRows{next: rows, span: span}, nil
}

// sqlRows ends its span on Close and records a failed Next. It implements
// the optional rows interfaces, answering as database/sql does when the
// driver's rows lack one.
type sqlRows struct {
	next driver.Rows
	span trace.Span
	err  error
}

var (
	_ driver.RowsNextResultSet              = (*sqlRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*sqlRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*sqlRows)(nil)
	_ driver.RowsColumnTypeLength           = (*sqlRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*sqlRows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*sqlRows)(nil)
)

func (r *sqlRows) Columns() []string { return r.next.Columns() }

func (r *sqlRows) Close() error {
	err := r.next.Close()
	if err == nil {
		err = r.err
	}
	end(r.span, err)
	return err
}

func (r *sqlRows) Next(dest []driver.Value) error {
	err := r.next.Next(dest)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return err
}

func (r *sqlRows) HasNextResultSet() bool {
	if n, ok := r.next.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *sqlRows) NextResultSet() error {
	if n, ok := r.next.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}

var anyType = reflect.TypeFor[any]()

func (r *sqlRows) ColumnTypeScanType(index int) reflect.Type {
	if c, ok := r.next.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(index)
	}
	return anyType
}

func (r *sqlRows) ColumnTypeDatabaseTypeName(index int) string {
	if c, ok := r.next.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(index)
	}
	return ""
}

func (r *sqlRows) ColumnTypeLength(index int) (int64, bool) {
	if c, ok := r.next.(driver.RowsColumnTypeLength); ok {
		return c.ColumnTypeLength(index)
	}
	return 0, false
}

func (r *sqlRows) ColumnTypeNullable(index int) (nullable, ok bool) {
	if c, ok := r.next.(driver.RowsColumnTypeNullable); ok {
		return c.ColumnTypeNullable(index)
	}
	return false, false
}

func (r *sqlRows) ColumnTypePrecisionScale(index int) (precision, scale int64, ok bool) {
	if c, ok := r.next.(driver.RowsColumnTypePrecisionScale); ok {
		return c.ColumnTypePrecisionScale(index)
	}
	return 0, 0, false
}
