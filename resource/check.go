package resource

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gatehouse.dev/tenancy"
)

// SchemaError is the error of [Registry.Check]: every mismatch between the
// declared resources and the live schema, so that one run shows everything
// to fix.
type SchemaError struct {
	// Problems are the mismatches, one sentence each, in declaration
	// order.
	Problems []string
}

// Error lists every problem, one per line.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("resource: the database schema does not match the declared resources (%d problems):\n  - %s",
		len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// Check compares every declared table, column, type and reference with the
// live schema (SQLite or PostgreSQL) and returns a *[SchemaError] listing
// every mismatch, or nil when the registry can serve the tables: a schema
// mistake is reported at startup, never as a 500 under traffic. It reads
// the catalog only and changes nothing. Missing recommended indexes (see
// [Registry.IndexDDL]) and weaker but workable types are warnings, logged
// with Options.Logger at level WARN, not errors. Other errors (the database
// unreachable) are returned wrapped.
//
// Columns must be of a type the field's values fit (the compatibility table
// is in docs/resource-schema.md), and a NOT NULL column must be written on
// every create (the id unless the database makes it, the organization, the
// timestamps, sequences, required fields) or have a default; a field that
// accepts null cannot be over a NOT NULL column. Referenced tables must
// exist with their id column and, unless the reference is global, their
// organization column. Resources with sequence fields need
// gatehouse_sequences ([Registry.Migrate]).
func (rg *Registry) Check(ctx context.Context) error {
	c := &checker{rg: rg, tables: map[string]*tableInfo{}}
	seqs := false
	for _, s := range rg.specs {
		if err := c.resource(ctx, s); err != nil {
			return fmt.Errorf("resource: check: %w", err)
		}
		seqs = seqs || len(s.seqs) > 0
	}
	if seqs {
		t, err := c.table(ctx, tenancy.SequencesTable)
		if err != nil {
			return fmt.Errorf("resource: check: %w", err)
		}
		if !t.exists {
			c.problem("table %s does not exist: run Registry.Migrate (sequence fields need it)", tenancy.SequencesTable)
		}
	}
	for _, w := range c.warnings {
		rg.logger.WarnContext(ctx, "resource: schema check: "+w)
	}
	if len(c.problems) > 0 {
		return &SchemaError{Problems: c.problems}
	}
	return nil
}

// column is one column of the live schema.
type column struct {
	name string
	// typ is the lower-case type: PostgreSQL's format_type ("character
	// varying(255)", "timestamp with time zone"), SQLite's declared type.
	typ string
	// length of varchar(n) and char(n); 0 for none.
	length     int
	notNull    bool
	hasDefault bool
	// generated: the database makes the value (SQLite's INTEGER PRIMARY
	// KEY, PostgreSQL's identity or nextval default).
	generated bool
}

// tableInfo is a table of the live schema.
type tableInfo struct {
	exists  bool
	columns map[string]*column
	order   []string   // column names in table order
	indexes [][]string // column lists of plain (not partial, not expression) indexes
	rowid   string     // SQLite: the INTEGER PRIMARY KEY column, if any
}

type checker struct {
	rg       *Registry
	tables   map[string]*tableInfo
	problems []string
	warnings []string
}

func (c *checker) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) warn(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

// table introspects a table once.
func (c *checker) table(ctx context.Context, name string) (*tableInfo, error) {
	if t, ok := c.tables[name]; ok {
		return t, nil
	}
	var t *tableInfo
	var err error
	if c.rg.dialect == tenancy.Postgres {
		t, err = inspectPostgres(ctx, c.rg.db, name)
	} else {
		t, err = inspectSQLite(ctx, c.rg.db, name)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	c.tables[name] = t
	return t, nil
}

var typeLength = regexp.MustCompile(`^(?:character varying|varchar|character|char|nvarchar|nchar|varying character|native character)\s*\(\s*(\d+)\s*\)`)

func newColumn(name, typ string) *column {
	col := &column{name: name, typ: strings.ToLower(strings.TrimSpace(typ))}
	if m := typeLength.FindStringSubmatch(col.typ); m != nil {
		col.length, _ = strconv.Atoi(m[1])
	}
	return col
}

func inspectSQLite(ctx context.Context, db *sql.DB, name string) (*tableInfo, error) {
	schema, table, qualified := strings.Cut(name, ".")
	if !qualified {
		schema, table = "main", name
	}
	t := &tableInfo{columns: map[string]*column{}}
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value IS NOT NULL, pk FROM pragma_table_info(?, ?) ORDER BY cid`, table, schema)
	if err != nil {
		return nil, err
	}
	var pks []*column
	for rows.Next() {
		var n, typ string
		var notNull, hasDefault bool
		var pk int
		if err := rows.Scan(&n, &typ, &notNull, &hasDefault, &pk); err != nil {
			_ = rows.Close()
			return nil, err
		}
		col := newColumn(n, typ)
		col.notNull, col.hasDefault = notNull, hasDefault
		if pk > 0 {
			pks = append(pks, col)
		}
		t.columns[n] = col
		t.order = append(t.order, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	t.exists = len(t.order) > 0
	if !t.exists {
		return t, nil
	}
	// Only a single-column primary key declared exactly INTEGER aliases
	// the rowid, which SQLite fills in (BIGINT PRIMARY KEY does not).
	var withoutRowid bool
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_list WHERE schema = ? AND name = ? AND wr`, schema, table).Scan(&withoutRowid); err != nil {
		return nil, err
	}
	if len(pks) == 1 && pks[0].typ == "integer" && !withoutRowid {
		pks[0].generated = true
		t.rowid = pks[0].name
	}
	var names []string
	rows, err = db.QueryContext(ctx, `SELECT name FROM pragma_index_list(?, ?) WHERE partial = 0`, table, schema)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			_ = rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, idx := range names {
		rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?, ?) ORDER BY seqno`, idx, schema)
		if err != nil {
			return nil, err
		}
		var cols []string
		expr := false
		for rows.Next() {
			var n sql.NullString
			if err := rows.Scan(&n); err != nil {
				_ = rows.Close()
				return nil, err
			}
			expr = expr || !n.Valid
			cols = append(cols, n.String)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if !expr {
			t.indexes = append(t.indexes, cols)
		}
	}
	return t, nil
}

func inspectPostgres(ctx context.Context, db *sql.DB, name string) (*tableInfo, error) {
	t := &tableInfo{columns: map[string]*column{}}
	rel := quoteTable(name)
	rows, err := db.QueryContext(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
			a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%'
		FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, rel)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, typ string
		var notNull, hasDefault, generated bool
		if err := rows.Scan(&n, &typ, &notNull, &hasDefault, &generated); err != nil {
			_ = rows.Close()
			return nil, err
		}
		col := newColumn(n, typ)
		col.notNull, col.hasDefault, col.generated = notNull, hasDefault || generated, generated
		t.columns[n] = col
		t.order = append(t.order, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	t.exists = len(t.order) > 0
	if !t.exists {
		return t, nil
	}
	rows, err = db.QueryContext(ctx, `SELECT array_to_string(ARRAY(
			SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, o)
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), ',')
		FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indpred IS NULL AND i.indexprs IS NULL`, rel)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var cols string
		if err := rows.Scan(&cols); err != nil {
			_ = rows.Close()
			return nil, err
		}
		t.indexes = append(t.indexes, strings.Split(cols, ","))
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return t, rows.Err()
}

// resource checks one resource's table, columns and references.
func (c *checker) resource(ctx context.Context, s *spec) error {
	r := s.res
	where := fmt.Sprintf("resource %s: table %s", r.Name, r.Table)
	t, err := c.table(ctx, r.Table)
	if err != nil {
		return err
	}
	if !t.exists {
		c.problem("%s does not exist (Registry.DDL writes CREATE TABLE statements for resources declared from scratch)", where)
		return c.references(ctx, s)
	}
	written := map[string]bool{r.OrgColumn: true}
	col := func(name, what string) *column {
		cl := t.columns[name]
		if cl == nil {
			c.problem("%s: column %s (%s) does not exist", where, name, what)
		}
		return cl
	}

	if cl := col(r.IDColumn, "the id"); cl != nil {
		c.idColumn(where, cl, r.IDType, "the id", t.rowid == cl.name)
		if r.IDType == IDInteger && !cl.generated {
			if c.rg.dialect == tenancy.SQLite {
				c.problem("%s: column %s holds integer ids but the database does not generate them: on SQLite it must be declared INTEGER PRIMARY KEY (BIGINT PRIMARY KEY does not alias the rowid)", where, cl.name)
			} else {
				c.problem("%s: column %s holds integer ids but the database does not generate them: declare it bigserial or GENERATED ... AS IDENTITY", where, cl.name)
			}
		}
		written[cl.name] = true // by the API, by the database, or reported above
	}
	if cl := col(r.OrgColumn, "the organization"); cl != nil {
		c.orgColumn(where, cl)
	}
	for _, ts := range []*field{s.created, s.updated} {
		if ts == nil {
			continue
		}
		if cl := col(ts.column, ts.Name); cl != nil {
			c.stampColumn(where, cl, ts.stamp)
			written[cl.name] = true
		}
	}
	for _, f := range s.fields {
		cl := col(f.column, "field "+f.Name)
		if cl == nil {
			continue
		}
		if f.ref != nil {
			c.idColumn(where, cl, f.idType, "field "+f.Name, false)
		} else {
			c.fieldColumn(where, cl, f)
		}
		switch {
		case f.Sequence || f.Required:
			written[cl.name] = true
		case cl.notNull && !f.ReadOnly:
			c.problem("%s: column %s is NOT NULL but field %s accepts null (and may be left out): declare it Required, or make the column nullable", where, cl.name, f.Name)
			written[cl.name] = true // reported once
		}
	}
	for _, name := range t.order {
		cl := t.columns[name]
		if cl.notNull && !cl.hasDefault && !cl.generated && !written[name] {
			c.problem("%s: column %s is NOT NULL without a default and the API never writes it, so every create would fail: declare it, give it a default or make it nullable", where, name)
		}
	}
	c.indexes(where, s, t)
	return c.references(ctx, s)
}

// references checks the tables the resource's reference fields name.
func (c *checker) references(ctx context.Context, s *spec) error {
	for _, f := range s.refs {
		where := fmt.Sprintf("resource %s: field %s: referenced table %s", s.res.Name, f.Name, f.References)
		t, err := c.table(ctx, f.References)
		if err != nil {
			return err
		}
		if !t.exists {
			c.problem("%s does not exist", where)
			continue
		}
		ref := f.ref.table
		if cl := t.columns[ref.IDColumn]; cl == nil {
			c.problem("%s has no column %s (set ReferenceColumn to its id column)", where, ref.IDColumn)
		} else {
			c.idColumn(where, cl, f.idType, "the referenced id", t.rowid == cl.name)
		}
		if f.ref.global {
			continue
		}
		org := ref.OrgColumn
		if org == "" {
			org = fieldOrg
		}
		if t.columns[org] == nil {
			c.problem("%s has no organization column %s: declare the reference GlobalReference if its rows are shared by every organization", where, org)
		}
	}
	return nil
}

// affinity is SQLite's type affinity of a declared type.
func affinity(typ string) string {
	switch {
	case strings.Contains(typ, "int"):
		return "integer"
	case strings.Contains(typ, "char"), strings.Contains(typ, "clob"), strings.Contains(typ, "text"):
		return "text"
	case typ == "", strings.Contains(typ, "blob"):
		return "blob"
	case strings.Contains(typ, "real"), strings.Contains(typ, "floa"), strings.Contains(typ, "doub"):
		return "real"
	}
	return "numeric"
}

// pgText reports whether a PostgreSQL type holds text of at least min
// characters (0: any length).
func pgText(cl *column, min int) bool {
	switch {
	case cl.typ == "text", cl.typ == "character varying", cl.typ == "citext":
		return true
	case strings.HasPrefix(cl.typ, "character varying("):
		return cl.length >= min
	}
	return false
}

func pgTimestamptz(typ string) bool {
	return strings.HasPrefix(typ, "timestamp") && strings.HasSuffix(typ, "with time zone") && !strings.HasSuffix(typ, "without time zone")
}

func pgTimestamp(typ string) bool {
	return strings.HasPrefix(typ, "timestamp") && strings.HasSuffix(typ, "without time zone")
}

// idColumn checks a column holding ids of type t.
func (c *checker) idColumn(where string, cl *column, t IDType, what string, rowid bool) {
	bad := func(want string) {
		c.problem("%s: column %s (%s) is %s; %s ids need %s", where, cl.name, what, typeName(cl.typ), t, want)
	}
	if c.rg.dialect == tenancy.SQLite {
		a := affinity(cl.typ)
		switch t {
		case IDInteger:
			if a != "integer" && !rowid {
				bad("an INTEGER column")
			}
		default:
			if a != "text" && a != "blob" {
				bad("a TEXT column")
			}
		}
		return
	}
	switch t {
	case IDInteger:
		switch cl.typ {
		case "bigint":
		case "integer", "smallint":
			c.warn("%s: column %s (%s) is %s: ids beyond its range cannot be stored; bigint holds every int64", where, cl.name, what, cl.typ)
		default:
			bad("bigint (or integer)")
		}
	case IDText:
		if !pgText(cl, 0) {
			bad("text or varchar")
		} else if cl.length > 0 && cl.length < MaxTextIDLength {
			c.warn("%s: column %s (%s) is %s: NewID must never make longer ids", where, cl.name, what, cl.typ)
		}
	default:
		if cl.typ != "uuid" && !pgText(cl, 36) && cl.typ != "character(36)" {
			bad("uuid, text or varchar(36+)")
		}
	}
}

// orgColumn checks the organization column against Options.OrgIDType.
func (c *checker) orgColumn(where string, cl *column) {
	typ := c.rg.orgIDType
	if c.rg.dialect == tenancy.SQLite {
		switch a := affinity(cl.typ); {
		case a == "real":
			c.problem("%s: column %s (the organization) is %s; organization ids need a TEXT or INTEGER column", where, cl.name, typeName(cl.typ))
		case typ == tenancy.OrgIDText && (a == "integer" || a == "numeric"):
			// "007" and "7" would be two organizations but one value.
			c.problem("%s: column %s (the organization) is %s, which turns numeric text into numbers; text organization ids (OrgIDType %s) need a TEXT column", where, cl.name, typeName(cl.typ), typ)
		}
		return
	}
	switch {
	case pgText(cl, 0):
		if cl.length > 0 && cl.length < tenancy.MaxOrgIDLength && typ == tenancy.OrgIDText {
			c.warn("%s: column %s (the organization) is %s: text organization ids may have up to %d characters", where, cl.name, cl.typ, tenancy.MaxOrgIDLength)
		}
	case cl.typ == "uuid":
		if typ == tenancy.OrgIDText || typ == tenancy.OrgIDInteger {
			c.problem("%s: column %s (the organization) is uuid; %s organization ids (OrgIDType) need a text or bigint column", where, cl.name, typ)
		}
	case cl.typ == "bigint", cl.typ == "integer":
		switch typ {
		case tenancy.OrgIDInteger:
		case tenancy.OrgIDText:
			c.problem("%s: column %s (the organization) is %s; text organization ids (OrgIDType) need a text column: declare OrgIDType integer", where, cl.name, cl.typ)
		default:
			c.warn("%s: column %s (the organization) is %s: declare OrgIDType integer, so that the admin API accepts only integer organization ids (the database refuses others with an error)", where, cl.name, cl.typ)
		}
	default:
		c.problem("%s: column %s (the organization) is %s; organization ids need text, varchar, uuid, bigint or integer", where, cl.name, cl.typ)
	}
}

// stampColumn checks a timestamp column against its declared format.
func (c *checker) stampColumn(where string, cl *column, f TimeFormat) {
	bad := func(want string) {
		c.problem("%s: column %s is %s; the %s format needs %s", where, cl.name, typeName(cl.typ), f, want)
	}
	sqlite := c.rg.dialect == tenancy.SQLite
	switch f {
	case TimeNative:
		switch {
		case pgTimestamptz(cl.typ):
		case pgTimestamp(cl.typ):
			c.warn("%s: column %s is timestamp without time zone: read and written as UTC (timestamptz is unambiguous)", where, cl.name)
		default:
			bad("timestamptz")
		}
	case TimeText:
		if sqlite && affinity(cl.typ) != "text" || !sqlite && !pgText(cl, len(tenancy.TimeLayout)) {
			bad("a text column (tenancy.TimeLayout, fixed width)")
		}
	case TimeUnix, TimeUnixMilli:
		switch {
		case sqlite && (affinity(cl.typ) == "integer" || affinity(cl.typ) == "numeric"):
		case !sqlite && cl.typ == "bigint":
		case !sqlite && cl.typ == "integer" && f == TimeUnix:
			c.warn("%s: column %s is integer: Unix seconds overflow it in 2038; use bigint", where, cl.name)
		default:
			bad("a bigint column")
		}
	}
}

// fieldColumn checks the column of a field that is not a reference.
func (c *checker) fieldColumn(where string, cl *column, f *field) {
	bad := func(want string) {
		c.problem("%s: column %s is %s; a%s %s field needs %s", where, cl.name, typeName(cl.typ), article(string(f.Type)), f.Type, want)
	}
	if c.rg.dialect == tenancy.SQLite {
		a := affinity(cl.typ)
		switch f.Type {
		case String, Text, Email, Date, Time, DateTime, UUID:
			if a != "text" && a != "blob" {
				bad("a TEXT column")
			}
		case JSONObject:
			if a != "text" && a != "blob" && !strings.Contains(cl.typ, "json") {
				bad("a TEXT column")
			}
		case Integer, Boolean:
			if a != "integer" && a != "numeric" {
				bad("an INTEGER column")
			}
		case Number:
			if a == "text" {
				bad("a REAL column")
			}
		}
		return
	}
	switch f.Type {
	case String, Text, Email:
		switch {
		case pgText(cl, 0) && cl.length > 0 && cl.length < f.MaxLength:
			c.problem("%s: column %s is %s, shorter than field %s's MaxLength %d: set MaxLength to at most %d", where, cl.name, cl.typ, f.Name, f.MaxLength, cl.length)
		case pgText(cl, 0):
		default:
			bad("text or varchar(n) with n ≥ MaxLength")
		}
	case Date:
		if cl.typ != "date" && !pgText(cl, 10) {
			bad("date or text")
		}
	case Time:
		if cl.typ != "time without time zone" && !pgText(cl, 5) {
			bad("time or text")
		}
	case DateTime:
		switch {
		case pgTimestamptz(cl.typ):
		case pgTimestamp(cl.typ):
			c.warn("%s: column %s is timestamp without time zone: read and written as UTC (timestamptz is unambiguous)", where, cl.name)
		default:
			bad("timestamptz")
		}
	case Integer:
		switch cl.typ {
		case "bigint":
		case "integer", "smallint", "numeric":
			c.warn("%s: column %s is %s: integers beyond its range are refused by the database (bigint holds every int64)", where, cl.name, cl.typ)
		default:
			if !strings.HasPrefix(cl.typ, "numeric(") {
				bad("bigint")
			}
		}
	case Number:
		switch {
		case cl.typ == "double precision", cl.typ == "numeric", strings.HasPrefix(cl.typ, "numeric("):
		case cl.typ == "real":
			c.warn("%s: column %s is real: numbers keep only about 7 digits (double precision keeps what JSON sends)", where, cl.name)
		default:
			bad("double precision or numeric")
		}
	case Boolean:
		if cl.typ != "boolean" {
			bad("boolean")
		}
	case UUID:
		if cl.typ != "uuid" && !pgText(cl, 36) {
			bad("uuid or text")
		}
	case JSONObject:
		if cl.typ != "jsonb" && cl.typ != "json" && !pgText(cl, 0) {
			bad("jsonb, json or text")
		}
	}
}

// indexes warns about recommended indexes the table lacks.
func (c *checker) indexes(where string, s *spec, t *tableInfo) {
	for _, want := range s.recommended() {
		if !t.hasIndex(want.columns) {
			c.warn("%s: no index on (%s) for %s; create it with: %s", where, strings.Join(want.columns, ", "), want.purpose, want.ddl)
		}
	}
}

// hasIndex reports whether an index starts with cols (with SQLite's rowid
// implied after the last column of every index).
func (t *tableInfo) hasIndex(cols []string) bool {
	for _, idx := range t.indexes {
		if len(idx) >= len(cols) && slices.Equal(idx[:len(cols)], cols) {
			return true
		}
		if t.rowid != "" && cols[len(cols)-1] == t.rowid && len(idx) == len(cols)-1 && slices.Equal(idx, cols[:len(cols)-1]) {
			return true
		}
	}
	return false
}

func typeName(typ string) string {
	if typ == "" {
		return "untyped"
	}
	return typ
}

func article(s string) string {
	if s != "" && strings.IndexByte("aeiou", s[0]) >= 0 {
		return "n"
	}
	return ""
}
