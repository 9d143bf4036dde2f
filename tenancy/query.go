package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrNoOrganization is returned by every organization-scoped query when the
// context carries no organization (see [FromContext]). Such a query is never
// run unscoped.
var ErrNoOrganization = errors.New("tenancy: no organization in context")

// ErrInvalidIdentifier is wrapped by the errors of queries naming a table or
// column that is not a plain SQL identifier.
var ErrInvalidIdentifier = errors.New("tenancy: invalid identifier")

// Querier is the part of *sql.DB, *sql.Tx and *sql.Conn the helpers use, so
// the same call runs inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*sql.DB)(nil)
	_ Querier = (*sql.Tx)(nil)
	_ Querier = (*sql.Conn)(nil)
)

// Cond is one condition of a WHERE clause: SQL with '?' placeholders and
// their arguments.
//
// SQL is trusted developer SQL, never client input: values from a request
// go in Args, and conditions on request data are built with [Eq], [Gte],
// [Lt] and [Contains], which quote their column names and bind their
// values. What [Table.Select] guarantees is only that the organization
// predicate comes first and each condition is ANDed to it inside its own
// parentheses, so an OR inside a condition cannot widen the query beyond
// the caller's organization. To keep a mistake from undoing that, a
// condition whose parentheses do not balance outside quoted literals and
// identifiers ("1=1) OR (1=1"), or which holds a comment ("--", "/*"), a
// ';', a '$' or a prefixed string literal (E'…', whose backslash escapes
// would hide a quote), is refused with an error before anything runs.
type Cond struct {
	SQL  string
	Args []any
}

// Eq is the condition column = v.
func Eq(column string, v any) Cond { return Cond{SQL: QuoteIdent(column) + " = ?", Args: []any{v}} }

// Gte is the condition column >= v.
func Gte(column string, v any) Cond { return Cond{SQL: QuoteIdent(column) + " >= ?", Args: []any{v}} }

// Lt is the condition column < v.
func Lt(column string, v any) Cond { return Cond{SQL: QuoteIdent(column) + " < ?", Args: []any{v}} }

// Contains is the condition "one of columns contains substr", case-insensitive
// for ASCII letters only and identical on both dialects: SQLite's LIKE folds
// only ASCII, and on PostgreSQL the column is lowered under the "C" collation,
// which also folds only ASCII; the pattern is lowered the same way here. The
// LIKE wildcards '%' and '_' (and the escape character '\') in substr match
// themselves. With no columns the condition matches nothing.
func Contains(d Dialect, columns []string, substr string) Cond {
	if len(columns) == 0 {
		return Cond{SQL: "1 = 0"}
	}
	pattern := "%" + EscapeLike(lowerASCII(substr)) + "%"
	var b strings.Builder
	args := make([]any, 0, len(columns))
	for i, c := range columns {
		if i > 0 {
			b.WriteString(" OR ")
		}
		if d == Postgres {
			b.WriteString("lower(" + QuoteIdent(c) + ` COLLATE "C")`)
		} else {
			b.WriteString(QuoteIdent(c))
		}
		b.WriteString(` LIKE ? ESCAPE '\'`)
		args = append(args, pattern)
	}
	return Cond{SQL: b.String(), Args: args}
}

// EscapeLike escapes '\', '%' and '_' in s with '\' for a LIKE pattern that
// declares ESCAPE '\'.
func EscapeLike(s string) string {
	if !strings.ContainsAny(s, `\%_`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// QuoteIdent quotes name as one SQL identifier ("name", with any '"'
// doubled), which is safe for any input. Quoted names are case-sensitive on
// PostgreSQL: use the lower-case names PostgreSQL folds unquoted names to.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// ValidIdent reports whether name is a plain SQL identifier: an ASCII
// letter or '_' followed by up to 62 ASCII letters, digits or '_'.
func ValidIdent(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// quoteTable validates and quotes a table name, optionally qualified by a
// schema ("schema.table").
func quoteTable(name string) (string, error) {
	schema, table, qualified := strings.Cut(name, ".")
	if !qualified {
		if !ValidIdent(name) {
			return "", fmt.Errorf("%w: table %q", ErrInvalidIdentifier, name)
		}
		return QuoteIdent(name), nil
	}
	if !ValidIdent(schema) || !ValidIdent(table) {
		return "", fmt.Errorf("%w: table %q", ErrInvalidIdentifier, name)
	}
	return QuoteIdent(schema) + "." + QuoteIdent(table), nil
}

func quoteColumn(name string) (string, error) {
	if !ValidIdent(name) {
		return "", fmt.Errorf("%w: column %q", ErrInvalidIdentifier, name)
	}
	return QuoteIdent(name), nil
}

// Order is one ORDER BY term.
type Order struct {
	Column string
	Desc   bool
}

// Assign is one column value of an INSERT or UPDATE.
type Assign struct {
	Column string
	Value  any
}

// Query is what [Table.Select] reads.
type Query struct {
	// Columns to select; at least one.
	Columns []string
	// Where holds conditions joined by AND after the organization predicate.
	Where []Cond
	// OrderBy terms, in order.
	OrderBy []Order
	// Limit caps the rows; zero means no limit.
	Limit int
	// Offset skips rows; zero means none.
	Offset int
}

// Table is an organization-scoped table. Every statement it builds carries
// the organization predicate (SELECT, UPDATE) or sets the organization
// column (INSERT) from the organization in the context, and fails with
// [ErrNoOrganization] when there is none. The zero Dialect is an error.
type Table struct {
	// Name of the table, optionally "schema.table".
	Name string
	// OrgColumn is the organization column; empty means "organization_id".
	OrgColumn string
	// IDColumn is the primary key column; empty means "id".
	IDColumn string
	// Dialect of the database.
	Dialect Dialect
}

// prepared holds the quoted names of a table and the caller's organization.
type prepared struct {
	table, org, id string
	orgID          string
	d              Dialect
}

func (t Table) prepare(ctx context.Context) (prepared, error) {
	orgID, ok := FromContext(ctx)
	if !ok {
		return prepared{}, ErrNoOrganization
	}
	if t.Dialect != SQLite && t.Dialect != Postgres {
		return prepared{}, fmt.Errorf("tenancy: table %s: unknown dialect %d", t.Name, int(t.Dialect))
	}
	p := prepared{orgID: orgID, d: t.Dialect}
	var err error
	if p.table, err = quoteTable(t.Name); err != nil {
		return prepared{}, err
	}
	if p.org, err = quoteColumn(defaultString(t.OrgColumn, "organization_id")); err != nil {
		return prepared{}, err
	}
	if p.id, err = quoteColumn(defaultString(t.IDColumn, "id")); err != nil {
		return prepared{}, err
	}
	return p, nil
}

func defaultString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SelectSQL returns the statement [Table.Select] runs, rebound for the
// dialect, and its arguments.
func (t Table) SelectSQL(ctx context.Context, q Query) (string, []any, error) {
	p, err := t.prepare(ctx)
	if err != nil {
		return "", nil, err
	}
	if len(q.Columns) == 0 {
		return "", nil, fmt.Errorf("tenancy: select from %s: no columns", t.Name)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return "", nil, fmt.Errorf("tenancy: select from %s: negative limit or offset", t.Name)
	}
	var b strings.Builder
	b.Grow(64 + 16*len(q.Columns) + 32*len(q.Where))
	b.WriteString("SELECT ")
	for i, c := range q.Columns {
		qc, err := quoteColumn(c)
		if err != nil {
			return "", nil, err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(qc)
	}
	b.WriteString(" FROM ")
	b.WriteString(p.table)
	b.WriteString(" WHERE ")
	b.WriteString(p.org)
	b.WriteString(" = ?")
	args := make([]any, 0, 3+2*len(q.Where))
	args = append(args, p.orgID)
	for _, c := range q.Where {
		if n := countPlaceholders(c.SQL); n != len(c.Args) {
			return "", nil, fmt.Errorf("tenancy: select from %s: condition %q has %d placeholders and %d arguments", t.Name, c.SQL, n, len(c.Args))
		}
		if strings.TrimSpace(c.SQL) == "" {
			return "", nil, fmt.Errorf("tenancy: select from %s: empty condition", t.Name)
		}
		if err := checkCond(c.SQL); err != nil {
			return "", nil, fmt.Errorf("tenancy: select from %s: condition %q: %w", t.Name, c.SQL, err)
		}
		b.WriteString(" AND (")
		b.WriteString(c.SQL)
		b.WriteString(")")
		args = append(args, c.Args...)
	}
	for i, o := range q.OrderBy {
		qc, err := quoteColumn(o.Column)
		if err != nil {
			return "", nil, err
		}
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(qc)
		if o.Desc {
			b.WriteString(" DESC")
		}
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	if q.Offset > 0 {
		if q.Limit == 0 && p.d == SQLite {
			b.WriteString(" LIMIT -1")
		}
		b.WriteString(" OFFSET ?")
		args = append(args, q.Offset)
	}
	return p.d.Rebind(b.String()), args, nil
}

// checkCond refuses condition SQL that could reach outside the
// parentheses [Table.SelectSQL] puts it in: parentheses that do not
// balance outside quoted literals and identifiers, comments, statement
// separators, dollar quoting and prefixed string literals.
func checkCond(s string) error {
	depth := 0
	var quote byte // '\'' or '"' while inside a quoted literal or identifier
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: same result
			}
			continue
		}
		switch c {
		case '\'', '"':
			if c == '\'' && i > 0 && isIdentByte(s[i-1]) {
				return errors.New("prefixed string literals are not allowed")
			}
			quote = c
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return errors.New("unbalanced parentheses")
			}
		case ';', '$':
			return fmt.Errorf("%q is not allowed outside quotes", c)
		case '-', '/':
			if i+1 < len(s) && (c == '-' && s[i+1] == '-' || c == '/' && s[i+1] == '*') {
				return errors.New("comments are not allowed")
			}
		}
	}
	if quote != 0 {
		return errors.New("unterminated quote")
	}
	if depth != 0 {
		return errors.New("unbalanced parentheses")
	}
	return nil
}

func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// countPlaceholders counts '?' outside single-quoted string literals, as
// [Dialect.Rebind] sees them.
func countPlaceholders(s string) int {
	n := 0
	inStr := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			inStr = !inStr
		case '?':
			if !inStr {
				n++
			}
		}
	}
	return n
}

// Select runs the query against the caller's organization:
//
//	SELECT cols FROM t WHERE org = ? AND (cond) ... ORDER BY ... LIMIT ? OFFSET ?
func (t Table) Select(ctx context.Context, db Querier, q Query) (*sql.Rows, error) {
	query, args, err := t.SelectSQL(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("tenancy: select from %s: %w", t.Name, err)
	}
	return rows, nil
}

// Get scans the columns of the caller's row with the id into dest:
//
//	SELECT cols FROM t WHERE org = ? AND id = ?
//
// It returns sql.ErrNoRows (unwrapped) when the organization has no such row,
// which includes rows of other organizations. The id is a query argument of
// the id column's type: a string (UUID or text ids) or an int64.
func (t Table) Get(ctx context.Context, db Querier, id any, columns []string, dest ...any) error {
	p, err := t.prepare(ctx)
	if err != nil {
		return err
	}
	if len(columns) == 0 || len(columns) != len(dest) {
		return fmt.Errorf("tenancy: get from %s: %d columns for %d destinations", t.Name, len(columns), len(dest))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range columns {
		qc, err := quoteColumn(c)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(qc)
	}
	b.WriteString(" FROM " + p.table + " WHERE " + p.org + " = ? AND " + p.id + " = ?")
	err = db.QueryRowContext(ctx, p.d.Rebind(b.String()), p.orgID, id).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sql.ErrNoRows
	}
	if err != nil {
		return fmt.Errorf("tenancy: get from %s: %w", t.Name, err)
	}
	return nil
}

// Insert inserts one row for the caller's organization. The organization
// column is always set from the context; an Assign naming it is an error.
//
//	INSERT INTO t (org, a, b) VALUES (?, ?, ?)
func (t Table) Insert(ctx context.Context, db Querier, values []Assign) error {
	return t.insert(ctx, db, values, "", nil)
}

// InsertReturning inserts one row like [Table.Insert] and scans the value
// the database gave the column (typically a generated id: bigserial,
// identity, SQLite's INTEGER PRIMARY KEY) into dest. Both dialects support
// RETURNING (SQLite since 3.35).
//
//	INSERT INTO t (org, a) VALUES (?, ?) RETURNING column
func (t Table) InsertReturning(ctx context.Context, db Querier, values []Assign, column string, dest any) error {
	if column == "" || dest == nil {
		return fmt.Errorf("tenancy: insert into %s: RETURNING needs a column and a destination", t.Name)
	}
	return t.insert(ctx, db, values, column, dest)
}

func (t Table) insert(ctx context.Context, db Querier, values []Assign, returning string, dest any) error {
	p, err := t.prepare(ctx)
	if err != nil {
		return err
	}
	var cols, marks strings.Builder
	cols.WriteString(p.org)
	marks.WriteString("?")
	args := make([]any, 0, 1+len(values))
	args = append(args, p.orgID)
	seen := make(map[string]bool, len(values))
	for _, a := range values {
		qc, err := quoteColumn(a.Column)
		if err != nil {
			return err
		}
		if qc == p.org {
			return fmt.Errorf("tenancy: insert into %s: the organization column is set from the context", t.Name)
		}
		if seen[qc] {
			return fmt.Errorf("tenancy: insert into %s: column %s set twice", t.Name, a.Column)
		}
		seen[qc] = true
		cols.WriteString(", " + qc)
		marks.WriteString(", ?")
		args = append(args, a.Value)
	}
	query := "INSERT INTO " + p.table + " (" + cols.String() + ") VALUES (" + marks.String() + ")"
	if returning != "" {
		qc, err := quoteColumn(returning)
		if err != nil {
			return err
		}
		query += " RETURNING " + qc
		if err := db.QueryRowContext(ctx, p.d.Rebind(query), args...).Scan(dest); err != nil {
			return fmt.Errorf("tenancy: insert into %s: %w", t.Name, err)
		}
		return nil
	}
	if _, err := db.ExecContext(ctx, p.d.Rebind(query), args...); err != nil {
		return fmt.Errorf("tenancy: insert into %s: %w", t.Name, err)
	}
	return nil
}

// Update sets columns of the caller's row with the id and reports whether
// such a row exists. The organization and id columns cannot be set.
//
//	UPDATE t SET a = ?, b = ? WHERE org = ? AND id = ?
func (t Table) Update(ctx context.Context, db Querier, id any, set []Assign) (bool, error) {
	p, err := t.prepare(ctx)
	if err != nil {
		return false, err
	}
	if len(set) == 0 {
		return false, fmt.Errorf("tenancy: update %s: no columns", t.Name)
	}
	var b strings.Builder
	b.WriteString("UPDATE " + p.table + " SET ")
	args := make([]any, 0, 2+len(set))
	seen := make(map[string]bool, len(set))
	for i, a := range set {
		qc, err := quoteColumn(a.Column)
		if err != nil {
			return false, err
		}
		if qc == p.org || qc == p.id {
			return false, fmt.Errorf("tenancy: update %s: column %s cannot be updated", t.Name, a.Column)
		}
		if seen[qc] {
			return false, fmt.Errorf("tenancy: update %s: column %s set twice", t.Name, a.Column)
		}
		seen[qc] = true
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(qc + " = ?")
		args = append(args, a.Value)
	}
	b.WriteString(" WHERE " + p.org + " = ? AND " + p.id + " = ?")
	args = append(args, p.orgID, id)
	res, err := db.ExecContext(ctx, p.d.Rebind(b.String()), args...)
	if err != nil {
		return false, fmt.Errorf("tenancy: update %s: %w", t.Name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("tenancy: update %s: rows affected: %w", t.Name, err)
	}
	return n > 0, nil
}

// Exists reports whether the caller's organization has a row with the id;
// it is the foreign key check of writes:
//
//	SELECT 1 FROM t WHERE org = ? AND id = ?
func (t Table) Exists(ctx context.Context, db Querier, id any) (bool, error) {
	p, err := t.prepare(ctx)
	if err != nil {
		return false, err
	}
	query := "SELECT 1 FROM " + p.table + " WHERE " + p.org + " = ? AND " + p.id + " = ?"
	var one int
	err = db.QueryRowContext(ctx, p.d.Rebind(query), p.orgID, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tenancy: exists in %s: %w", t.Name, err)
	}
	return true, nil
}
