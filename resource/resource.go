package resource

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Type is the type of a [Field]: how input is validated, how the value is
// stored and how it is written in JSON. /schema reports it as a string.
type Type string

// Field types.
const (
	// String is a JSON string of at most MaxLength characters (default 255).
	String Type = "string"
	// Text is String meant for long text (set MaxLength, e.g. 10000).
	Text Type = "text"
	// Email is one address without display name, comments or angle
	// brackets ("ann@example.com").
	Email Type = "email"
	// Date is a calendar date "YYYY-MM-DD" (a real one: no February 30).
	Date Type = "date"
	// Time is a time of day "HH:MM" (00:00–23:59).
	Time Type = "time"
	// DateTime is an RFC 3339 date-time; stored and returned in UTC.
	DateTime Type = "date-time"
	// Integer is a JSON integer in the int64 range.
	Integer Type = "integer"
	// Number is any finite JSON number.
	Number Type = "number"
	// Boolean is true or false.
	Boolean Type = "boolean"
	// UUID is a UUID string, stored in lower case. Foreign keys are UUIDs.
	UUID Type = "uuid"
	// JSONObject is any JSON object, stored as its text (a text or jsonb
	// column).
	JSONObject Type = "object"
)

func (t Type) valid() bool {
	switch t {
	case String, Text, Email, Date, Time, DateTime, Integer, Number, Boolean, UUID, JSONObject:
		return true
	}
	return false
}

func (t Type) stringy() bool { return t == String || t == Text || t == Email }

// DefaultMaxLength is the MaxLength of String, Text and Email fields that
// leave it zero.
const DefaultMaxLength = 255

// Field is one column of a [Resource] as the API shows it.
type Field struct {
	// Name in JSON and in filters: lower-case snake_case. Required.
	Name string
	// Column in the table; empty means Name.
	Column string
	// Type of the value; empty means String, or UUID when References is
	// set, or Integer when Sequence is set.
	Type Type
	// Required fields must be present and non-null on create and cannot be
	// set to null on update. A required String or Text must not be blank.
	Required bool
	// ReadOnly fields are returned but never accepted in input (including
	// every name in Options.Protected).
	ReadOnly bool
	// Sequence fields get the organization's next counter value (from 1)
	// on create, in the create's transaction; they are read-only Integers
	// (e.g. lead_number). The numbers are gap-free: the counter's row stays
	// locked until the create commits, so on PostgreSQL the creates of one
	// organization wait for each other's commits.
	Sequence bool
	// SequenceGaps (with Sequence) takes the number in a statement of its
	// own before the create's transaction begins, so concurrent creates of
	// one organization never wait for each other's commits. Numbers stay
	// unique and increase in allocation order; a create that fails after
	// taking its number leaves a gap, and rows may become visible out of
	// number order (a later number committing first).
	SequenceGaps bool
	// MaxLength caps String, Text and Email values in characters; zero
	// means [DefaultMaxLength]. Other types must leave it zero.
	MaxLength int
	// References names a table of rows of the caller's organization (with
	// columns id and organization_id, or those of the registered resource
	// with that table) that a non-null value must be the id of. The
	// field's type is the referenced ids' type: empty means the IDType of
	// the registered resource with that table (UUID, Integer for
	// [IDInteger], String for [IDText]), or UUID; set Integer or String
	// for a table that is not a resource.
	References string
	// ReferenceColumn is the id column of the References table; empty
	// means the IDColumn of the registered resource with that table, or
	// "id".
	ReferenceColumn string
	// GlobalReference declares that References is a table without an
	// organization column (a lookup table shared by every organization,
	// such as countries or categories): any of its rows may be
	// referenced. Without it the referenced row must belong to the
	// caller's organization.
	GlobalReference bool
}

// IDType is the type of a resource's ids: how they are made, validated in
// paths, filters and references, and written in JSON.
type IDType string

// Id types.
const (
	// IDUUID ids are UUIDs, written as lower-case strings, made by the
	// registry (random, version 4) or by Resource.NewID. The column is
	// uuid or text on PostgreSQL, text on SQLite.
	IDUUID IDType = "uuid"
	// IDInteger ids are 64-bit integers the database generates
	// (bigserial, an identity column, SQLite's INTEGER PRIMARY KEY),
	// read back with RETURNING and written in JSON as numbers. JSON
	// numbers above 2^53 lose precision in JavaScript and other clients
	// that read numbers as float64: a database sequence stays far below
	// that in practice, but clients that need every digit must parse the
	// body with big-integer support.
	IDInteger IDType = "integer"
	// IDText ids are strings of 1 to 64 characters of A–Z a–z 0–9 . _ : -
	// (they travel in paths and cursors), made by Resource.NewID.
	IDText IDType = "text"
)

// MaxTextIDLength is the longest [IDText] id.
const MaxTextIDLength = 64

// TimeFormat is how a timestamp column stores time. Whatever the format,
// the API writes timestamps as RFC 3339 in UTC.
type TimeFormat string

// Timestamp formats.
const (
	// TimeNative is PostgreSQL's timestamptz, the default on PostgreSQL.
	// A timestamp column (without time zone) is read and written as UTC;
	// [Registry.Check] warns about it. Not available on SQLite.
	TimeNative TimeFormat = "native"
	// TimeText is fixed-width UTC text in tenancy.TimeLayout
	// ("2006-01-02T15:04:05.000000Z"), the default on SQLite: the only
	// text form whose text order is time order, which list order and
	// cursors rely on.
	TimeText TimeFormat = "text"
	// TimeUnix is an integer number of seconds since the Unix epoch.
	TimeUnix TimeFormat = "unix"
	// TimeUnixMilli is an integer number of milliseconds since the Unix
	// epoch.
	TimeUnixMilli TimeFormat = "unix_ms"
)

func (f TimeFormat) valid() bool {
	switch f {
	case TimeNative, TimeText, TimeUnix, TimeUnixMilli:
		return true
	}
	return false
}

// Timestamp declares the creation or update time column of a [Resource].
// The zero value is the column created_at (or updated_at) in the dialect's
// default format.
type Timestamp struct {
	// Column name; empty means "created_at" or "updated_at". The API
	// always calls the members created_at and updated_at.
	Column string
	// Format of the column; empty means [TimeNative] on PostgreSQL and
	// [TimeText] on SQLite.
	Format TimeFormat
	// None declares that the table has no such column: records then have
	// no created_at (or updated_at) member. Without a creation time, lists
	// take no created_after or created_before and are ordered by id,
	// descending, which is newest first only for ids that grow with time
	// (integer ids from a sequence; not random UUIDs).
	None bool
}

// Resource declares one collection of the API (e.g. "leads") over an
// existing table. Besides its Fields every record has the implicit columns
// id (see [IDType]), the organization column, and unless declared absent
// the creation and update times (created_at and updated_at in JSON, RFC
// 3339 UTC; see [Timestamp]), which are never accepted in input.
type Resource struct {
	// Name in the URL and in scopes ("leads" → /v1/leads, leads:read).
	// Lower-case letters, digits, '_' and '-', starting with a letter; not
	// one of the reserved names schema, whoami, webhooks, openapi.json,
	// graphql.
	Name string
	// Singular names one record in events ("lead" → lead.created); empty
	// means Name without a trailing "s".
	Singular string
	// Table holding the records, optionally "schema.table"; empty means
	// Name.
	Table string
	// OrgColumn is the organization column; empty means "organization_id".
	// It is written as "organization_id" in JSON.
	OrgColumn string
	// IDColumn is the primary key column; empty means "id".
	IDColumn string
	// IDType of the ids; empty means [IDUUID].
	IDType IDType
	// NewID makes the id of a new record. Required for [IDText], where
	// it must return 1 to 64 characters of A–Z a–z 0–9 . _ : - unique in
	// the table; optional for [IDUUID] (nil means random version 4 UUIDs;
	// it must return a UUID); not allowed for [IDInteger], whose ids the
	// database makes. An error fails the create (500).
	NewID func(ctx context.Context) (string, error)
	// Created is the creation time column (set once on create).
	Created Timestamp
	// Updated is the update time column (set on create and update).
	Updated Timestamp
	// Fields of the record besides the implicit ones.
	Fields []Field
	// Filters are the exact-match list filters: "id" or field names
	// (read-only ones such as lead_number included; not JSONObject).
	Filters []string
	// Search lists the String, Text or Email fields the q parameter searches.
	Search []string
	// IndexedFilters are filters (each also in Filters, not "id") the
	// host indexes for: the registry recommends an index on
	// (organization, filter, created DESC, id DESC) for each, so that a
	// filtered list reads only its page, already in order.
	// [Registry.IndexDDL] and [Registry.DDL] emit it and [Registry.Check]
	// warns when it is missing. Each index slows writes a little, so
	// indexes are opt-in.
	IndexedFilters []string
}

// Implicit JSON names of every record.
const (
	fieldID        = "id"
	fieldOrg       = "organization_id"
	fieldCreatedAt = "created_at"
	fieldUpdatedAt = "updated_at"
)

// reservedNames cannot name a resource: the registry or later features serve
// them.
var reservedNames = []string{"schema", "whoami", "webhooks", "openapi.json", "graphql"}

// reservedParams cannot be filters: they are list parameters.
var reservedParams = []string{"limit", "offset", "cursor", "q", "created_after", "created_before"}

// field is a compiled Field.
type field struct {
	Field
	ref    *reference // References
	seq    string     // sequence name, when Sequence
	column string
	// idType, for the id field and references, is the type of the ids
	// the value names: paths, filters and references are validated by it.
	idType IDType
	// stamp, for the created_at and updated_at fields, is the column's
	// format.
	stamp TimeFormat
}

// reference is the check of a reference field: the row must exist in
// table, in the caller's organization unless global.
type reference struct {
	table  tenancy.Table
	global bool
}

// spec is a compiled Resource.
type spec struct {
	res      Resource // normalized copy: defaults applied
	table    tenancy.Table
	fields   []*field
	byName   map[string]*field
	filters  map[string]*field // includes "id"
	search   []string          // columns
	columns  []string          // select list: id, org, [created], [updated], fields...
	keys     []string          // JSON members: id, fields..., organization_id, [created_at], [updated_at]
	idField  *field
	created  *field // nil when the table has no creation time
	updated  *field // nil when the table has no update time
	implicit int    // number of implicit columns leading columns
	read     scope.Scope
	create   scope.Scope
	update   scope.Scope
	path     string // e.g. /v1/leads
	writable map[string]*field
	seqs     []*field
	refs     []*field
}

func validName(s string, extra string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

func validTable(name string) bool {
	s, t, ok := strings.Cut(name, ".")
	if !ok {
		return tenancy.ValidIdent(name)
	}
	return tenancy.ValidIdent(s) && tenancy.ValidIdent(t)
}

// refTarget is what a reference to a registered resource's table needs.
type refTarget struct {
	idType    IDType
	idColumn  string
	orgColumn string
}

// refTargets maps the tables of the resources (their defaults applied) to
// their ids, for references; the first resource of a table wins.
func refTargets(rs []Resource) map[string]refTarget {
	out := make(map[string]refTarget, len(rs))
	for _, r := range rs {
		t := refTarget{idType: r.IDType, idColumn: r.IDColumn, orgColumn: r.OrgColumn}
		table := r.Table
		if table == "" {
			table = r.Name
		}
		if t.idType == "" {
			t.idType = IDUUID
		}
		if t.idColumn == "" {
			t.idColumn = fieldID
		}
		if t.orgColumn == "" {
			t.orgColumn = fieldOrg
		}
		if _, dup := out[table]; !dup {
			out[table] = t
		}
	}
	return out
}

// idFieldType is the field type of ids of type t.
func idFieldType(t IDType) Type {
	switch t {
	case IDInteger:
		return Integer
	case IDText:
		return String
	}
	return UUID
}

// normalize applies the defaults of r and validates what can be checked
// without the other resources (targets describes their tables, for
// references). d is the dialect, or 0 when unknown (ParseListQuery).
func normalize(r Resource, protected map[string]bool, d tenancy.Dialect, targets map[string]refTarget) (Resource, error) {
	if slices.Contains(reservedNames, r.Name) {
		return r, fmt.Errorf("resource: name %q is reserved", r.Name)
	}
	if !validName(r.Name, "-") {
		return r, fmt.Errorf("resource: invalid resource name %q: want lower-case letters, digits, '_' or '-', starting with a letter", r.Name)
	}
	r.Singular = r.SingularName()
	if !validName(r.Singular, "-") {
		return r, fmt.Errorf("resource %s: invalid singular name %q", r.Name, r.Singular)
	}
	if r.Table == "" {
		r.Table = r.Name
	}
	if !validTable(r.Table) {
		return r, fmt.Errorf("resource %s: invalid table name %q: want a plain SQL identifier, optionally schema-qualified", r.Name, r.Table)
	}
	if r.OrgColumn == "" {
		r.OrgColumn = fieldOrg
	}
	if r.IDColumn == "" {
		r.IDColumn = fieldID
	}
	for _, c := range []string{r.OrgColumn, r.IDColumn} {
		if !tenancy.ValidIdent(c) {
			return r, fmt.Errorf("resource %s: invalid column name %q", r.Name, c)
		}
	}
	if r.OrgColumn == r.IDColumn {
		return r, fmt.Errorf("resource %s: OrgColumn and IDColumn are both %q", r.Name, r.OrgColumn)
	}
	switch r.IDType {
	case "":
		r.IDType = IDUUID
	case IDUUID, IDText:
	case IDInteger:
		if r.NewID != nil {
			return r, fmt.Errorf("resource %s: NewID is set but integer ids are made by the database", r.Name)
		}
	default:
		return r, fmt.Errorf("resource %s: unknown IDType %q: want uuid, integer or text", r.Name, r.IDType)
	}
	if r.IDType == IDText && r.NewID == nil {
		return r, fmt.Errorf("resource %s: text ids need NewID, the generator of new ids", r.Name)
	}
	columns := map[string]bool{r.IDColumn: true, r.OrgColumn: true}
	for _, ts := range []struct {
		t    *Timestamp
		def  string
		name string
	}{{&r.Created, fieldCreatedAt, "Created"}, {&r.Updated, fieldUpdatedAt, "Updated"}} {
		t := ts.t
		if t.None {
			if t.Column != "" || t.Format != "" {
				return r, fmt.Errorf("resource %s: %s.None is set with a Column or Format", r.Name, ts.name)
			}
			continue
		}
		if t.Column == "" {
			t.Column = ts.def
		}
		if !tenancy.ValidIdent(t.Column) {
			return r, fmt.Errorf("resource %s: %s: invalid column name %q", r.Name, ts.name, t.Column)
		}
		if columns[t.Column] {
			return r, fmt.Errorf("resource %s: %s: column %s is used twice", r.Name, ts.name, t.Column)
		}
		columns[t.Column] = true
		switch {
		case t.Format == "" && d == tenancy.Postgres:
			t.Format = TimeNative
		case t.Format == "":
			t.Format = TimeText
		case !t.Format.valid():
			return r, fmt.Errorf("resource %s: %s: unknown Format %q: want native, text, unix or unix_ms", r.Name, ts.name, t.Format)
		case t.Format == TimeNative && d == tenancy.SQLite:
			return r, fmt.Errorf("resource %s: %s: the native format is PostgreSQL's timestamptz; SQLite stores text (TimeText) or integers (TimeUnix, TimeUnixMilli)", r.Name, ts.name)
		}
	}
	fields := make([]Field, len(r.Fields))
	names := map[string]bool{fieldID: true, fieldOrg: true, fieldCreatedAt: true, fieldUpdatedAt: true}
	for i, f := range r.Fields {
		if !validName(f.Name, "") {
			return r, fmt.Errorf("resource %s: invalid field name %q: want lower-case snake_case", r.Name, f.Name)
		}
		if names[f.Name] {
			switch f.Name {
			case fieldID, fieldOrg, fieldCreatedAt, fieldUpdatedAt:
				return r, fmt.Errorf("resource %s: field %s is implicit and cannot be declared", r.Name, f.Name)
			}
			return r, fmt.Errorf("resource %s: duplicate field %s", r.Name, f.Name)
		}
		names[f.Name] = true
		if f.Column == "" {
			f.Column = f.Name
		}
		if !tenancy.ValidIdent(f.Column) {
			return r, fmt.Errorf("resource %s: field %s: invalid column name %q", r.Name, f.Name, f.Column)
		}
		if columns[f.Column] {
			return r, fmt.Errorf("resource %s: field %s: column %s is used twice (or is an implicit column)", r.Name, f.Name, f.Column)
		}
		columns[f.Column] = true
		target, registered := targets[f.References]
		if f.Type == "" {
			switch {
			case f.References != "" && registered:
				f.Type = idFieldType(target.idType)
			case f.References != "":
				f.Type = UUID
			case f.Sequence:
				f.Type = Integer
			default:
				f.Type = String
			}
		}
		if !f.Type.valid() {
			return r, fmt.Errorf("resource %s: field %s: unknown type %q", r.Name, f.Name, f.Type)
		}
		if f.SequenceGaps && !f.Sequence {
			return r, fmt.Errorf("resource %s: field %s: SequenceGaps needs Sequence", r.Name, f.Name)
		}
		if f.Sequence {
			if f.Type != Integer {
				return r, fmt.Errorf("resource %s: field %s: a sequence is an integer, not %s", r.Name, f.Name, f.Type)
			}
			if f.References != "" {
				return r, fmt.Errorf("resource %s: field %s: a sequence cannot reference a table", r.Name, f.Name)
			}
			f.ReadOnly = true
		}
		if protected[f.Name] {
			f.ReadOnly = true
		}
		if f.Required && f.ReadOnly {
			return r, fmt.Errorf("resource %s: field %s is both required and read-only (or protected)", r.Name, f.Name)
		}
		if f.MaxLength < 0 {
			return r, fmt.Errorf("resource %s: field %s: negative MaxLength", r.Name, f.Name)
		}
		if f.Type.stringy() {
			if f.MaxLength == 0 {
				f.MaxLength = DefaultMaxLength
			}
		} else if f.MaxLength != 0 {
			return r, fmt.Errorf("resource %s: field %s: MaxLength applies to string, text and email fields only", r.Name, f.Name)
		}
		if f.References == "" {
			if f.ReferenceColumn != "" || f.GlobalReference {
				return r, fmt.Errorf("resource %s: field %s: ReferenceColumn or GlobalReference without References", r.Name, f.Name)
			}
		} else {
			if f.Type != UUID && f.Type != Integer && f.Type != String {
				return r, fmt.Errorf("resource %s: field %s: a reference is a uuid, an integer or a string (text ids), not %s", r.Name, f.Name, f.Type)
			}
			if !validTable(f.References) {
				return r, fmt.Errorf("resource %s: field %s: invalid referenced table %q", r.Name, f.Name, f.References)
			}
			if registered && f.Type != idFieldType(target.idType) {
				return r, fmt.Errorf("resource %s: field %s: %s has %s ids, so the reference must be of type %s, not %s",
					r.Name, f.Name, f.References, target.idType, idFieldType(target.idType), f.Type)
			}
			if f.ReferenceColumn == "" {
				f.ReferenceColumn = fieldID
				if registered {
					f.ReferenceColumn = target.idColumn
				}
			}
			if !tenancy.ValidIdent(f.ReferenceColumn) {
				return r, fmt.Errorf("resource %s: field %s: invalid ReferenceColumn %q", r.Name, f.Name, f.ReferenceColumn)
			}
		}
		fields[i] = f
	}
	r.Fields = fields
	r.Filters = slices.Clone(r.Filters)
	r.Search = slices.Clone(r.Search)
	seen := map[string]bool{}
	for _, name := range r.Filters {
		if seen[name] {
			return r, fmt.Errorf("resource %s: duplicate filter %q", r.Name, name)
		}
		seen[name] = true
		if slices.Contains(reservedParams, name) {
			return r, fmt.Errorf("resource %s: filter %q is a reserved list parameter", r.Name, name)
		}
		if name == fieldID {
			continue
		}
		i := slices.IndexFunc(fields, func(f Field) bool { return f.Name == name })
		if i < 0 {
			return r, fmt.Errorf("resource %s: unknown filter field %q", r.Name, name)
		}
		if fields[i].Type == JSONObject {
			return r, fmt.Errorf("resource %s: filter %q: object fields cannot be filtered", r.Name, name)
		}
	}
	r.IndexedFilters = slices.Clone(r.IndexedFilters)
	indexed := map[string]bool{}
	for _, name := range r.IndexedFilters {
		switch {
		case indexed[name]:
			return r, fmt.Errorf("resource %s: duplicate indexed filter %q", r.Name, name)
		case name == fieldID:
			return r, fmt.Errorf("resource %s: indexed filter %q: the id is unique, its filter needs no list index", r.Name, name)
		case !seen[name]:
			return r, fmt.Errorf("resource %s: indexed filter %q is not in Filters", r.Name, name)
		}
		indexed[name] = true
	}
	seen = map[string]bool{}
	for _, name := range r.Search {
		if seen[name] {
			return r, fmt.Errorf("resource %s: duplicate search field %q", r.Name, name)
		}
		seen[name] = true
		i := slices.IndexFunc(fields, func(f Field) bool { return f.Name == name })
		if i < 0 {
			return r, fmt.Errorf("resource %s: unknown search field %q", r.Name, name)
		}
		if !fields[i].Type.stringy() {
			return r, fmt.Errorf("resource %s: search field %q must be string, text or email, not %s", r.Name, name, fields[i].Type)
		}
	}
	return r, nil
}

// compile builds the spec of a normalized resource. targets describes the
// tables of registered resources, for references.
func compile(r Resource, d tenancy.Dialect, prefix string, targets map[string]refTarget) *spec {
	s := &spec{
		res:      r,
		table:    tenancy.Table{Name: r.Table, OrgColumn: r.OrgColumn, IDColumn: r.IDColumn, Dialect: d},
		byName:   make(map[string]*field, len(r.Fields)),
		filters:  make(map[string]*field, len(r.Filters)),
		writable: make(map[string]*field, len(r.Fields)),
		read:     scope.Of(r.Name, scope.Read),
		create:   scope.Of(r.Name, scope.Create),
		update:   scope.Of(r.Name, scope.Update),
		path:     prefix + "/" + r.Name,
	}
	s.idField = &field{Field: Field{Name: fieldID, Column: r.IDColumn, Type: idFieldType(r.IDType), ReadOnly: true}, column: r.IDColumn, idType: r.IDType}
	if r.IDType == IDText {
		s.idField.MaxLength = MaxTextIDLength
	}
	s.columns = append(s.columns, r.IDColumn, r.OrgColumn)
	if !r.Created.None {
		s.created = &field{Field: Field{Name: fieldCreatedAt, Column: r.Created.Column, Type: DateTime, ReadOnly: true}, column: r.Created.Column, stamp: r.Created.Format}
		s.columns = append(s.columns, r.Created.Column)
	}
	if !r.Updated.None {
		s.updated = &field{Field: Field{Name: fieldUpdatedAt, Column: r.Updated.Column, Type: DateTime, ReadOnly: true}, column: r.Updated.Column, stamp: r.Updated.Format}
		s.columns = append(s.columns, r.Updated.Column)
	}
	s.implicit = len(s.columns)
	for _, f := range r.Fields {
		cf := &field{Field: f, column: f.Column}
		if f.References != "" {
			ref := &reference{table: tenancy.Table{Name: f.References, IDColumn: f.ReferenceColumn, Dialect: d}, global: f.GlobalReference}
			if t, ok := targets[f.References]; ok {
				ref.table.OrgColumn = t.orgColumn
			}
			cf.ref = ref
			switch f.Type {
			case Integer:
				cf.idType = IDInteger
			case String:
				cf.idType = IDText
			default:
				cf.idType = IDUUID
			}
			s.refs = append(s.refs, cf)
		}
		if f.Sequence {
			cf.seq = r.Table + "." + f.Column
			s.seqs = append(s.seqs, cf)
		}
		if !f.ReadOnly {
			s.writable[f.Name] = cf
		}
		s.fields = append(s.fields, cf)
		s.byName[f.Name] = cf
		s.columns = append(s.columns, f.Column)
	}
	s.keys = append(s.keys, fieldID)
	for _, f := range s.fields {
		s.keys = append(s.keys, f.Name)
	}
	s.keys = append(s.keys, fieldOrg)
	if s.created != nil {
		s.keys = append(s.keys, fieldCreatedAt)
	}
	if s.updated != nil {
		s.keys = append(s.keys, fieldUpdatedAt)
	}
	for _, name := range r.Filters {
		if name == fieldID {
			s.filters[name] = s.idField
			continue
		}
		s.filters[name] = s.byName[name]
	}
	for _, name := range r.Search {
		s.search = append(s.search, s.byName[name].column)
	}
	return s
}

// order is the list order: newest first by creation time, then id; by id
// alone without a creation time.
func (s *spec) order() []tenancy.Order {
	if s.created == nil {
		return []tenancy.Order{{Column: s.res.IDColumn, Desc: true}}
	}
	return []tenancy.Order{{Column: s.created.column, Desc: true}, {Column: s.res.IDColumn, Desc: true}}
}

// clone returns a deep copy of r.
// SingularName returns Singular, or when it is empty the default: Name
// without a final "s" ("leads" → "lead"). Event names use it.
func (r Resource) SingularName() string {
	if r.Singular != "" {
		return r.Singular
	}
	if len(r.Name) > 1 && strings.HasSuffix(r.Name, "s") {
		return strings.TrimSuffix(r.Name, "s")
	}
	return r.Name
}

func (r Resource) clone() Resource {
	r.IndexedFilters = slices.Clone(r.IndexedFilters)
	r.Fields = slices.Clone(r.Fields)
	r.Filters = slices.Clone(r.Filters)
	r.Search = slices.Clone(r.Search)
	return r
}
