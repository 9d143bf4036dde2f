package graphql

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"gatehouse.dev/resource"
	"gatehouse.dev/scope"
)

// Scalar kinds of record fields.
type kind int

const (
	kString kind = iota
	kInt64
	kFloat
	kBool
	kDate
	kTime
	kDateTime
	kJSON
	kEncodedID // a reference to a resource of the registry
	kID        // databaseId
)

// gqlName returns the GraphQL scalar of k.
func (k kind) gqlName() string {
	switch k {
	case kInt64:
		return "Int64"
	case kFloat:
		return "Float"
	case kBool:
		return "Boolean"
	case kDate:
		return "Date"
	case kTime:
		return "Time"
	case kDateTime:
		return "DateTime"
	case kJSON:
		return "JSON"
	case kEncodedID:
		return "EncodedId"
	case kID:
		return "ID"
	}
	return "String"
}

// objField is one field of a resource's object type.
type objField struct {
	gql   string         // GraphQL name (camelCase)
	json  string         // member of the record ("" for the reference object)
	kind  kind           // scalar kind
	field resource.Field // the registry's field (zero for implicit ones)
	// target is the referenced resource, for a reference id field
	// (kind kEncodedID) and its object field (obj).
	target *resType
	// obj marks the object field of a reference (client for client_id).
	obj bool
	// nonNull marks id, databaseId and organizationId.
	nonNull bool
	desc    string
}

// resType is the GraphQL side of one resource.
type resType struct {
	res      resource.Resource
	name     string // object type ("Lead")
	plural   string // list root field ("leads")
	singular string // get root field ("lead")
	fields   []*objField
	byGQL    map[string]*objField
	byJSON   map[string]*objField // record members and inputs
	filters  []*objField          // filter input fields (json: filter name)
	inputs   []*objField          // writable fields
	read     scope.Scope
	create   scope.Scope
	update   scope.Scope
	created  bool // the table has a creation time (createdAfter/Before)
	// intID: the ids are integers.
	intID bool
}

// words splits a registry name (snake_case, '-' allowed) into words.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' })
}

// camel returns the lowerCamelCase of a registry name ("first_name" →
// "firstName").
func camel(s string) string {
	var b strings.Builder
	for i, w := range words(s) {
		if i == 0 {
			b.WriteString(w)
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// pascal returns the UpperCamelCase of a registry name ("job_type" →
// "JobType").
func pascal(s string) string {
	c := camel(s)
	if c == "" {
		return c
	}
	return strings.ToUpper(c[:1]) + c[1:]
}

// EncodeID returns the EncodedId of the record id of the resource name:
// base64url without padding of "<name>:<id>".
func EncodeID(name, id string) string {
	var in [160]byte
	src := append(append(append(in[:0], name...), ':'), id...)
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(src)))
	base64.RawURLEncoding.Encode(out, src)
	return string(out)
}

// DecodeID returns the resource name and record id of an EncodedId, or
// false when s is not one.
func DecodeID(s string) (name, id string, ok bool) {
	if len(s) > 512 {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return "", "", false
	}
	name, id, ok = strings.Cut(string(b), ":")
	if !ok || name == "" || id == "" {
		return "", "", false
	}
	return name, id, true
}

// model is the GraphQL schema built from a registry.
type model struct {
	types  []*resType
	byName map[string]*resType // by resource name
	byType map[string]*resType // by object type name
	byRoot map[string]*resType // by plural, singular and mutation names
	sdl    string
	schema *ast.Schema
}

// builtinTypes are the type names the schema always declares.
var builtinTypes = []string{
	"Query", "Mutation", "Node", "PageInfo", "UserError",
	"String", "Int", "Float", "Boolean", "ID",
	"Int64", "Date", "Time", "DateTime", "JSON", "EncodedId",
}

// build compiles the registry's resources into a model and its SDL.
func build(rs []resource.Resource) (*model, error) {
	m := &model{byName: map[string]*resType{}, byType: map[string]*resType{}, byRoot: map[string]*resType{}}
	byTable := map[string]*resType{}
	typeNames := map[string]string{} // type name → what declared it
	for _, n := range builtinTypes {
		typeNames[n] = "a built-in type"
	}
	roots := map[string]string{"node": "the node root field"}
	claim := func(set map[string]string, name, owner, what string) error {
		if prev, ok := set[name]; ok {
			return fmt.Errorf("graphql: %s %q of %s clashes with %s", what, name, owner, prev)
		}
		set[name] = owner
		return nil
	}
	for _, r := range rs {
		t := &resType{
			res:      r,
			name:     pascal(r.Singular),
			plural:   camel(r.Name),
			singular: camel(r.Singular),
			read:     scope.Of(r.Name, scope.Read),
			create:   scope.Of(r.Name, scope.Create),
			update:   scope.Of(r.Name, scope.Update),
			created:  !r.Created.None,
			intID:    r.IDType == resource.IDInteger,
			byGQL:    map[string]*objField{},
			byJSON:   map[string]*objField{},
		}
		owner := "resource " + r.Name
		if t.plural == t.singular {
			return nil, fmt.Errorf("graphql: resource %s: the list field and the get field are both %q; set a Singular that differs from Name", r.Name, t.plural)
		}
		if strings.HasPrefix(t.name, "__") || strings.HasPrefix(t.plural, "__") {
			return nil, fmt.Errorf("graphql: resource %s: names starting with __ are reserved", r.Name)
		}
		for _, suffix := range []string{"", "Connection", "Edge", "Filter", "CreateInput", "UpdateInput", "CreatePayload", "UpdatePayload"} {
			if err := claim(typeNames, t.name+suffix, owner, "type"); err != nil {
				return nil, err
			}
		}
		for _, f := range []string{t.plural, t.singular, t.singular + "Create", t.singular + "Update"} {
			if err := claim(roots, f, owner, "root field"); err != nil {
				return nil, err
			}
			m.byRoot[f] = t
		}
		m.types = append(m.types, t)
		m.byName[r.Name] = t
		m.byType[t.name] = t
		if _, dup := byTable[r.Table]; !dup {
			byTable[r.Table] = t
		}
	}
	for _, t := range m.types {
		if err := t.compile(byTable); err != nil {
			return nil, err
		}
	}
	m.sdl = m.writeSDL()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "gatehouse.graphql", Input: m.sdl, BuiltIn: false})
	if err != nil {
		return nil, fmt.Errorf("graphql: generated schema does not load: %w", err)
	}
	m.schema = s
	return m, nil
}

// compile builds the fields of t.
func (t *resType) compile(byTable map[string]*resType) error {
	owner := "type " + t.name
	names := map[string]string{}
	add := func(f *objField) error {
		if prev, ok := names[f.gql]; ok {
			return fmt.Errorf("graphql: field %q of %s (from %s) clashes with %s", f.gql, owner, f.json, prev)
		}
		if strings.HasPrefix(f.gql, "__") || f.gql == "" {
			return fmt.Errorf("graphql: field %q of %s is not a valid GraphQL name", f.gql, owner)
		}
		src := f.json
		if f.obj {
			src = "the reference " + f.field.Name
		}
		names[f.gql] = src
		t.fields = append(t.fields, f)
		t.byGQL[f.gql] = f
		if !f.obj {
			t.byJSON[f.json] = f
		}
		return nil
	}
	idDesc := "The record's id: base64url without padding of `" + t.res.Name + ":<databaseId>`."
	if err := add(&objField{gql: "id", json: "id", kind: kEncodedID, target: t, nonNull: true, desc: idDesc}); err != nil {
		return err
	}
	if err := add(&objField{gql: "databaseId", json: "id", kind: kID, nonNull: true, desc: "The record's id in the REST API (/v1/" + t.res.Name + "/{id}) and in webhook payloads."}); err != nil {
		return err
	}
	t.byJSON["id"] = t.byGQL["id"]
	for _, rf := range t.res.Fields {
		f := &objField{gql: camel(rf.Name), json: rf.Name, field: rf, kind: kindOf(rf.Type)}
		var target *resType
		if rf.References != "" {
			target = byTable[rf.References]
			if target != nil {
				f.kind = kEncodedID
				f.target = target
			}
		}
		f.desc = fieldDesc(rf, target)
		if err := add(f); err != nil {
			return err
		}
		if target != nil {
			on := strings.TrimSuffix(rf.Name, "_id")
			if on == rf.Name {
				on += "_record"
			}
			of := &objField{gql: camel(on), json: rf.Name, field: rf, kind: kEncodedID, target: target, obj: true,
				desc: "The " + target.res.Singular + " that " + camel(rf.Name) + " names, in the caller's organization; null when none. Needs the scope " + string(target.read) + "."}
			if err := add(of); err != nil {
				return err
			}
		}
		if !rf.ReadOnly {
			t.inputs = append(t.inputs, f)
		}
	}
	if err := add(&objField{gql: "organizationId", json: "organization_id", kind: kString, nonNull: true, desc: "The organization the record belongs to."}); err != nil {
		return err
	}
	if !t.res.Created.None {
		if err := add(&objField{gql: "createdAt", json: "created_at", kind: kDateTime, desc: "When the record was created (RFC 3339, UTC)."}); err != nil {
			return err
		}
	}
	if !t.res.Updated.None {
		if err := add(&objField{gql: "updatedAt", json: "updated_at", kind: kDateTime, desc: "When the record was last changed (RFC 3339, UTC)."}); err != nil {
			return err
		}
	}
	for _, name := range t.res.Filters {
		f := t.byJSON[name]
		if f == nil {
			continue
		}
		t.filters = append(t.filters, f)
	}
	if t.created {
		for _, n := range []string{"createdAfter", "createdBefore"} {
			for _, f := range t.filters {
				if f.gql == n {
					return fmt.Errorf("graphql: filter %q of %s clashes with the list's %s", f.json, owner, n)
				}
			}
		}
	}
	return nil
}

// kindOf is the GraphQL scalar of a registry type.
func kindOf(t resource.Type) kind {
	switch t {
	case resource.Integer:
		return kInt64
	case resource.Number:
		return kFloat
	case resource.Boolean:
		return kBool
	case resource.Date:
		return kDate
	case resource.Time:
		return kTime
	case resource.DateTime:
		return kDateTime
	case resource.JSONObject:
		return kJSON
	}
	return kString
}

// fieldDesc documents a registry field: its REST name, type, limits and
// whether create requires it.
func fieldDesc(f resource.Field, target *resType) string {
	var b strings.Builder
	b.WriteString("`" + f.Name + "` in the REST API")
	switch {
	case target != nil:
		b.WriteString("; the EncodedId of a " + target.res.Singular + " of the caller's organization")
	case f.References != "":
		b.WriteString("; the id of a row of " + f.References)
	default:
		b.WriteString("; " + string(f.Type))
	}
	if f.MaxLength > 0 && (f.Type == resource.String || f.Type == resource.Text || f.Type == resource.Email) {
		b.WriteString(" of at most " + strconv.Itoa(f.MaxLength) + " characters")
	}
	b.WriteString(".")
	switch {
	case f.Sequence:
		b.WriteString(" Numbered by the server (1, 2, … per organization).")
	case f.ReadOnly:
		b.WriteString(" Read-only.")
	case f.Required:
		b.WriteString(" Required on create; cannot be cleared.")
	}
	return b.String()
}

// writeSDL prints the schema.
func (m *model) writeSDL() string {
	var b strings.Builder
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
	}
	desc := func(indent, s string) {
		if s == "" {
			return
		}
		w(indent, `"""`, strings.ReplaceAll(s, `"""`, `\"""`), `"""`, "\n")
	}
	w(`"""
The GraphQL API of the registry. Every record type implements Node; lists
are Relay connections on the REST API's signed keyset cursors (a REST
next_cursor is a valid after, and the reverse). There is no last, before or
totalCount.
"""
`)
	w("schema {\n  query: Query\n")
	if m.hasMutations() {
		w("  mutation: Mutation\n")
	}
	w(`}

"""An object with an EncodedId."""
interface Node {
  """base64url without padding of ` + "`<resource>:<id>`" + `."""
  id: EncodedId!
}

"""An opaque record id: base64url without padding of ` + "`<resource>:<id>`" + `."""
scalar EncodedId

"""An RFC 3339 date-time, written in UTC."""
scalar DateTime

"""A calendar date, YYYY-MM-DD."""
scalar Date

"""A time of day, HH:MM."""
scalar Time

"""Any JSON object."""
scalar JSON

"""A 64-bit integer, written as a string; accepted as a string or a number."""
scalar Int64

"""Where a list page ends."""
type PageInfo {
  """Whether more records follow endCursor."""
  hasNextPage: Boolean!
  """Whether the page was asked for after a cursor."""
  hasPreviousPage: Boolean!
  """The cursor after the first record of the page; null when the page is empty or cursors are off."""
  startCursor: String
  """The cursor after the last record of the page (pass it as after); null when the page is empty or cursors are off."""
  endCursor: String
}

"""A validation problem of a mutation's input, with the registry's message."""
type UserError {
  """The registry's message, as the REST API's details give it."""
  message: String!
  """The argument and input field at fault, e.g. ["input", "email"]."""
  path: [String!]!
}

type Query {
  """The record of any type with this EncodedId in the caller's organization; null when there is none."""
  node(id: EncodedId!): Node
`)
	for _, t := range m.types {
		w("  \"\"\"", "A page of ", t.res.Name, ", newest first. Needs the scope ", string(t.read), ". first defaults to 50 and is clamped at the registry's maximum.\"\"\"\n")
		w("  ", t.plural, "(first: Int, after: String")
		if len(t.filters) > 0 || t.created {
			w(", filter: ", t.name, "Filter")
		}
		if len(t.res.Search) > 0 {
			w(", q: String")
		}
		w("): ", t.name, "Connection\n")
		w("  \"\"\"", "The ", t.res.Singular, " with this EncodedId in the caller's organization; null when there is none. Needs the scope ", string(t.read), ".\"\"\"\n")
		w("  ", t.singular, "(id: EncodedId!): ", t.name, "\n")
	}
	w("}\n")
	if m.hasMutations() {
		w("\ntype Mutation {\n")
		for _, t := range m.types {
			if len(t.inputs) == 0 {
				continue
			}
			w("  \"\"\"", "Creates a record of ", t.res.Name, " as POST /v1/", t.res.Name, " does. Needs the scope ", string(t.create), ".\"\"\"\n")
			w("  ", t.singular, "Create(input: ", t.name, "CreateInput!): ", t.name, "CreatePayload\n")
			w("  \"\"\"", "Changes a record of ", t.res.Name, " as PATCH /v1/", t.res.Name, "/{id} does: absent input fields are left alone, null clears. Needs the scope ", string(t.update), ".\"\"\"\n")
			w("  ", t.singular, "Update(", t.singular, "Id: EncodedId!, input: ", t.name, "UpdateInput!): ", t.name, "UpdatePayload\n")
		}
		w("}\n")
	}
	for _, t := range m.types {
		w("\n")
		desc("", "A record of "+t.res.Name+". Reading it needs the scope "+string(t.read)+".")
		w("type ", t.name, " implements Node {\n")
		for _, f := range t.fields {
			desc("  ", f.desc)
			typ := f.kind.gqlName()
			if f.obj {
				typ = f.target.name
			}
			if f.nonNull {
				typ += "!"
			}
			w("  ", f.gql, ": ", typ, "\n")
		}
		w("}\n\n")
		desc("", "A page of "+t.res.Name+".")
		w("type ", t.name, "Connection {\n")
		w("  \"\"\"The records of the page.\"\"\"\n  nodes: [", t.name, "!]!\n")
		w("  \"\"\"The records of the page with their cursors.\"\"\"\n  edges: [", t.name, "Edge!]!\n")
		w("  \"\"\"Where the page ends.\"\"\"\n  pageInfo: PageInfo!\n}\n\n")
		desc("", "A "+t.res.Singular+" and its cursor.")
		w("type ", t.name, "Edge {\n  \"\"\"The record.\"\"\"\n  node: ", t.name, "!\n")
		w("  \"\"\"The cursor after this record; null when cursors are off.\"\"\"\n  cursor: String\n}\n")
		if len(t.filters) > 0 || t.created {
			w("\n")
			desc("", "Exact filters of "+t.res.Name+", as the REST list's query parameters.")
			w("input ", t.name, "Filter {\n")
			for _, f := range t.filters {
				w("  ", f.gql, ": ", f.kind.gqlName(), "\n")
			}
			if t.created {
				w("  \"\"\"Records created at or after this time.\"\"\"\n  createdAfter: DateTime\n")
				w("  \"\"\"Records created before this time.\"\"\"\n  createdBefore: DateTime\n")
			}
			w("}\n")
		}
		if len(t.inputs) == 0 {
			continue
		}
		for _, op := range []string{"Create", "Update"} {
			w("\n")
			if op == "Create" {
				desc("", "The fields of a new "+t.res.Singular+"; the registry validates them (required fields, formats, references) and reports problems as userErrors.")
			} else {
				desc("", "The fields to change: absent fields are left alone, null clears.")
			}
			w("input ", t.name, op, "Input {\n")
			for _, f := range t.inputs {
				desc("  ", f.desc)
				w("  ", f.gql, ": ", f.kind.gqlName(), "\n")
			}
			w("}\n\n")
			desc("", "The result of "+t.singular+op+".")
			w("type ", t.name, op, "Payload {\n")
			w("  \"\"\"The ", t.res.Singular, " as read back; null when the input was refused.\"\"\"\n  ", t.singular, ": ", t.name, "\n")
			w("  \"\"\"Why the input was refused; empty on success.\"\"\"\n  userErrors: [UserError!]!\n}\n")
		}
	}
	return b.String()
}

// hasMutations reports whether any resource has writable fields.
func (m *model) hasMutations() bool {
	return slices.ContainsFunc(m.types, func(t *resType) bool { return len(t.inputs) > 0 })
}

// inputByGQL returns the writable field of t named gql.
func (t *resType) inputByGQL(gql string) *objField {
	i := slices.IndexFunc(t.inputs, func(f *objField) bool { return f.gql == gql })
	if i < 0 {
		return nil
	}
	return t.inputs[i]
}
