package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
)

// writeQueue serializes the writers of one SQLite pool in Go, before they
// reach SQLite. SQLite lets one writer in at a time; without the queue,
// concurrent writers spin in SQLite's busy handler, which sleeps with a
// growing back-off (up to 100 ms a turn), so under 16 concurrent creates
// the slowest waits out many turns (a p99 of 712 ms was measured). With the
// queue the next writer starts the moment the previous one commits, in
// arrival order (a Go channel hands its slot to waiters first in, first
// out), and readers, which WAL lets run beside the writer, never queue.
//
// A write is a transaction (the pool opens them with BEGIN IMMEDIATE, so
// every one takes the write lock; a read-only transaction does not queue) or
// a statement outside a transaction whose first keyword is not SELECT,
// WITH, EXPLAIN, PRAGMA or VALUES. Other processes writing to the same file
// still meet the busy timeout.
type writeQueue chan struct{}

func newWriteQueue() writeQueue { return make(writeQueue, 1) }

func (q writeQueue) lock(ctx context.Context) error {
	select {
	case q <- struct{}{}:
		return nil
	default:
	}
	select {
	case q <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q writeQueue) unlock() { <-q }

// isWrite reports whether a statement run outside a transaction may write.
func isWrite(query string) bool {
	s := skipSpaceAndComments(query)
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
		end++
	}
	switch strings.ToUpper(s[:end]) {
	case "SELECT", "WITH", "EXPLAIN", "PRAGMA", "VALUES":
		return false
	}
	return true
}

func skipSpaceAndComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return ""
			}
			s = s[i+4:]
		default:
			return s
		}
	}
}

// queuedConnector wraps SQLite's connector so that every connection of the
// pool shares one writeQueue. Driver reports SQLite's driver, so
// tenancy.DialectOf still recognizes the pool.
type queuedConnector struct {
	next driver.Connector
	q    writeQueue
}

func (c *queuedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.next.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &queuedConn{next: conn, q: c.q}, nil
}

func (c *queuedConnector) Driver() driver.Driver { return c.next.Driver() }

var errNoContext = errors.New("sqldb: the SQLite connection lacks a context method")

// queuedConn is one connection of the pool. database/sql uses a connection
// from one goroutine at a time, so inTx needs no lock.
type queuedConn struct {
	next driver.Conn
	q    writeQueue
	inTx bool
}

var (
	_ driver.ConnBeginTx        = (*queuedConn)(nil)
	_ driver.ConnPrepareContext = (*queuedConn)(nil)
	_ driver.ExecerContext      = (*queuedConn)(nil)
	_ driver.QueryerContext     = (*queuedConn)(nil)
	_ driver.Pinger             = (*queuedConn)(nil)
	_ driver.SessionResetter    = (*queuedConn)(nil)
	_ driver.Validator          = (*queuedConn)(nil)
)

func (c *queuedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *queuedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.next.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNoContext
	}
	st, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &queuedStmt{next: st, c: c, write: isWrite(query)}, nil
}

func (c *queuedConn) Close() error { return c.next.Close() }

func (c *queuedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *queuedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.next.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContext
	}
	if opts.ReadOnly {
		return b.BeginTx(ctx, opts)
	}
	if err := c.q.lock(ctx); err != nil {
		return nil, err
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		c.q.unlock()
		return nil, err
	}
	c.inTx = true
	return &queuedTx{next: tx, c: c}, nil
}

func (c *queuedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.next.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if c.inTx || !isWrite(query) {
		return e.ExecContext(ctx, query, args)
	}
	if err := c.q.lock(ctx); err != nil {
		return nil, err
	}
	defer c.q.unlock()
	return e.ExecContext(ctx, query, args)
}

func (c *queuedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.next.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if c.inTx || !isWrite(query) {
		return qc.QueryContext(ctx, query, args)
	}
	if err := c.q.lock(ctx); err != nil {
		return nil, err
	}
	rows, err := qc.QueryContext(ctx, query, args)
	if err != nil {
		c.q.unlock()
		return nil, err
	}
	return &queuedRows{Rows: rows, q: c.q}, nil
}

func (c *queuedConn) Ping(ctx context.Context) error {
	if p, ok := c.next.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *queuedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.next.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *queuedConn) IsValid() bool {
	if v, ok := c.next.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// queuedTx releases the queue when the transaction ends, whichever way.
type queuedTx struct {
	next driver.Tx
	c    *queuedConn
}

func (t *queuedTx) Commit() error {
	defer t.end()
	return t.next.Commit()
}

func (t *queuedTx) Rollback() error {
	defer t.end()
	return t.next.Rollback()
}

func (t *queuedTx) end() {
	if t.c.inTx {
		t.c.inTx = false
		t.c.q.unlock()
	}
}

// queuedStmt is a prepared statement; run outside a transaction, a write
// takes the queue for the duration of the call (or of its rows).
type queuedStmt struct {
	next  driver.Stmt
	c     *queuedConn
	write bool
}

func (s *queuedStmt) Close() error  { return s.next.Close() }
func (s *queuedStmt) NumInput() int { return s.next.NumInput() }

func (s *queuedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errNoContext
}

func (s *queuedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errNoContext
}

func (s *queuedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.next.(driver.StmtExecContext)
	if !ok {
		return nil, errNoContext
	}
	if s.c.inTx || !s.write {
		return e.ExecContext(ctx, args)
	}
	if err := s.c.q.lock(ctx); err != nil {
		return nil, err
	}
	defer s.c.q.unlock()
	return e.ExecContext(ctx, args)
}

func (s *queuedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := s.next.(driver.StmtQueryContext)
	if !ok {
		return nil, errNoContext
	}
	if s.c.inTx || !s.write {
		return qc.QueryContext(ctx, args)
	}
	if err := s.c.q.lock(ctx); err != nil {
		return nil, err
	}
	rows, err := qc.QueryContext(ctx, args)
	if err != nil {
		s.c.q.unlock()
		return nil, err
	}
	return &queuedRows{Rows: rows, q: s.c.q}, nil
}

// queuedRows holds the queue until the rows of a write (INSERT … RETURNING
// outside a transaction) are closed.
type queuedRows struct {
	driver.Rows
	q    writeQueue
	done bool
}

func (r *queuedRows) Close() error {
	err := r.Rows.Close()
	if !r.done {
		r.done = true
		r.q.unlock()
	}
	return err
}
