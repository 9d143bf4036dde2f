package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

// executor runs one operation.
type executor struct {
	h    *Handler
	ctx  context.Context
	doc  *ast.QueryDocument
	op   *ast.OperationDefinition
	vars map[string]any
	// forbidden fields resolve to null without an error of their own (the
	// analysis reported each once).
	forbidden map[*ast.Field]bool
	errs      []Error
	// pending references wait for the next level's batch.
	pending []*pendingRef
	// actual is the actual cost.
	actual int
	// collected caches the executed selections: every record of a list
	// has the same one.
	collected map[collectKey]*selection
}

// selection is a collected selection with what every object of it
// shares: member names and which are non-null.
type selection struct {
	groups  []*group
	keys    []string
	nonNull []bool
}

// newSelection collects the selection of fields (sets) on def.
func (e *executor) newSelection(def *ast.Definition, sets []ast.SelectionSet) *selection {
	gs := e.collect(def, sets, true)
	sel := &selection{groups: gs, keys: make([]string, len(gs)), nonNull: make([]bool, len(gs))}
	for i, g := range gs {
		sel.keys[i] = g.key
		if g.name == "__typename" {
			continue
		}
		fd := g.fields[0].Definition
		if fd == nil {
			fd = def.Fields.ForName(g.name)
		}
		sel.nonNull[i] = fd != nil && fd.Type.NonNull
	}
	return sel
}

// object returns an object of the selection with its members to fill.
func (sel *selection) object() *object {
	return &object{keys: sel.keys, vals: make([]any, len(sel.keys)), nonNull: sel.nonNull}
}

// collectKey identifies the selection of a group of fields on a type.
type collectKey struct {
	def   *ast.Definition
	first *ast.Field
	n     int
}

// group is the fields of one response key, merged.
type group struct {
	key    string
	keyAny any // key, boxed once
	name   string
	fields []*ast.Field
	// skipped: every occurrence is excluded by @skip/@include (only when
	// collecting for the cost, which counts them anyway).
	skipped bool
}

// collect groups the fields of sets that apply to the object type def,
// in order, expanding fragments. With honorSkip, fields excluded by @skip
// or @include are left out; without, they are kept and marked.
func (e *executor) collect(def *ast.Definition, sets []ast.SelectionSet, honorSkip bool) []*group {
	var out []*group
	byKey := map[string]*group{}
	visited := map[string]bool{}
	var walk func(set ast.SelectionSet, skipped bool)
	walk = func(set ast.SelectionSet, skipped bool) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				sk := skipped || !e.included(sel.Directives)
				if sk && honorSkip {
					continue
				}
				key := sel.Alias
				if key == "" {
					key = sel.Name
				}
				g := byKey[key]
				if g == nil {
					g = &group{key: key, keyAny: key, name: sel.Name, skipped: true}
					byKey[key] = g
					out = append(out, g)
				}
				g.fields = append(g.fields, sel)
				g.skipped = g.skipped && sk
			case *ast.InlineFragment:
				sk := skipped || !e.included(sel.Directives)
				if sk && honorSkip {
					continue
				}
				if sel.TypeCondition != "" && !e.applies(def, sel.TypeCondition) {
					continue
				}
				walk(sel.SelectionSet, sk)
			case *ast.FragmentSpread:
				sk := skipped || !e.included(sel.Directives)
				if sk && honorSkip {
					continue
				}
				if visited[sel.Name] && !sk {
					continue
				}
				frag := e.doc.Fragments.ForName(sel.Name)
				if frag == nil || !e.applies(def, frag.TypeCondition) {
					continue
				}
				if !sk {
					visited[sel.Name] = true
				}
				walk(frag.SelectionSet, sk)
			}
		}
	}
	for _, set := range sets {
		walk(set, false)
	}
	return out
}

// applies reports whether a fragment on the type cond applies to def.
func (e *executor) applies(def *ast.Definition, cond string) bool {
	if cond == def.Name {
		return true
	}
	c := e.h.m.schema.Types[cond]
	if c == nil {
		return false
	}
	return slices.Contains(e.h.m.schema.GetPossibleTypes(c), def)
}

// included evaluates @skip and @include.
func (e *executor) included(ds ast.DirectiveList) bool {
	for _, d := range ds {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, _ := arg.Value.Value(e.vars)
		b, _ := v.(bool)
		if d.Name == "skip" && b || d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// subSets returns the selection sets of a group's fields.
func subSets(fields []*ast.Field) []ast.SelectionSet {
	out := make([]ast.SelectionSet, 0, len(fields))
	for _, f := range fields {
		out = append(out, f.SelectionSet)
	}
	return out
}

// args returns the argument values of f: present ones only (an argument
// set to an unset variable is absent), with defaults.
func (e *executor) args(f *ast.Field) (map[string]any, error) {
	out := map[string]any{}
	if f.Definition == nil {
		return out, nil
	}
	for _, ad := range f.Definition.Arguments {
		a := f.Arguments.ForName(ad.Name)
		if a == nil || a.Value == nil {
			if ad.DefaultValue != nil {
				v, err := ad.DefaultValue.Value(nil)
				if err != nil {
					return nil, err
				}
				out[ad.Name] = v
			}
			continue
		}
		if a.Value.Kind == ast.Variable {
			if _, ok := e.vars[a.Value.Raw]; !ok {
				continue
			}
		}
		v, err := a.Value.Value(e.vars)
		if err != nil {
			return nil, err
		}
		out[ad.Name] = v
	}
	return out, nil
}

// pathNode is a response path as a linked list, materialized only for
// errors and pending references.
type pathNode struct {
	parent *pathNode
	key    any
}

// slice returns the path from the root.
func (p *pathNode) slice() []any {
	n := 0
	for q := p; q != nil; q = q.parent {
		n++
	}
	out := make([]any, n)
	for q := p; q != nil; q = q.parent {
		n--
		out[n] = q.key
	}
	return out
}

// path appends a key to a copy of p.
func path(p []any, k any) []any {
	out := make([]any, len(p), len(p)+1)
	copy(out, p)
	return append(out, k)
}

// fieldError records an error of the field f at path.
func (e *executor) fieldError(f *ast.Field, p []any, msg string, ext map[string]any) {
	err := Error{Message: msg, Path: p, Extensions: ext}
	if f != nil && f.Position != nil {
		err.Locations = []Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	e.errs = append(e.errs, err)
}

// fail records err (from the data API) as an error of the field: a
// *gatehouse.Error keeps its message and extra members; anything else is
// logged and reported as an internal error.
func (e *executor) fail(f *ast.Field, p []any, err error) {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Status >= 500 {
		e.h.logger.ErrorContext(e.ctx, "graphql: field failed", "path", p, "error", err)
		e.fieldError(f, p, gatehouse.MsgInternal, map[string]any{"code": "INTERNAL"})
		return
	}
	ext := map[string]any{"code": codeOf(ge.Status)}
	for k, v := range ge.Extra {
		ext[k] = v
	}
	e.fieldError(f, p, ge.Msg, ext)
}

// codeOf names an HTTP status as an error code.
func codeOf(status int) string {
	switch status {
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RATE_LIMITED"
	}
	return "BAD_USER_INPUT"
}

// Parents of the values the executor completes.
type (
	rootVal   struct{}
	recordVal struct {
		t   *resType
		rec resource.Record
	}
	connVal struct {
		t       *resType
		page    resource.Page
		after   string
		cursors bool
	}
	edgeVal struct {
		rec    recordVal
		cursor any
	}
	pageInfoVal struct {
		next, prev bool
		start, end any
	}
	payloadVal struct {
		t      *resType
		rec    *recordVal
		errors []any
	}
	userErrorVal struct {
		message string
		path    []any
	}
	// refVal is a to-one reference, resolved with the next level's batch.
	refVal struct {
		t  *resType
		id string
	}
)

// pendingRef is a reference waiting for its level's batch.
type pendingRef struct {
	ref    refVal
	typ    *ast.Type
	fields []*ast.Field
	obj    *object
	i      int
	path   *pathNode
}

// rootFields returns the names of the operation's root fields, fragments
// expanded, @skip/@include ignored, without repeats.
func (e *executor) rootFields() []string {
	root := e.h.m.schema.Query
	if e.op.Operation == ast.Mutation {
		root = e.h.m.schema.Mutation
	}
	var out []string
	for _, g := range e.collect(root, []ast.SelectionSet{e.op.SelectionSet}, false) {
		if !slices.Contains(out, g.name) {
			out = append(out, g.name)
		}
	}
	return out
}

// run executes the operation and returns its data.
func (e *executor) run(forbidden map[*ast.Field]bool) any {
	e.forbidden = forbidden
	root := e.h.m.schema.Query
	if e.op.Operation == ast.Mutation {
		root = e.h.m.schema.Mutation
	}
	sel := e.newSelection(root, []ast.SelectionSet{e.op.SelectionSet})
	obj := sel.object()
	for i, g := range sel.groups {
		obj.vals[i] = e.field(root, rootVal{}, g, obj, i, nil)
		if e.op.Operation == ast.Mutation {
			e.drain() // serial: each mutation's result is complete before the next runs
		}
	}
	e.drain()
	if settle(obj) == bubble {
		return nil
	}
	return obj
}

// field resolves and completes one group of parent (of type def) into
// obj.vals[i].
func (e *executor) field(def *ast.Definition, parent any, g *group, obj *object, i int, p *pathNode) any {
	f := g.fields[0]
	if g.name == "__typename" {
		return def.Name
	}
	fd := f.Definition
	if fd == nil {
		fd = def.Fields.ForName(g.name)
	}
	if fd == nil {
		return nil
	}
	if e.forbidden[f] {
		return nil
	}
	v, err := e.resolve(def, parent, f, fd)
	if err != nil {
		e.fail(f, (&pathNode{p, g.keyAny}).slice(), err)
		if fd.Type.NonNull {
			return bubble
		}
		return nil
	}
	if r, ok := v.(refVal); ok {
		e.pending = append(e.pending, &pendingRef{ref: r, typ: fd.Type, fields: g.fields, obj: obj, i: i, path: &pathNode{p, g.keyAny}})
		return nil
	}
	return e.complete(fd.Type, g.fields, v, p, g.keyAny)
}

// complete turns a resolved value into its result for the type typ, at
// the path p and key.
func (e *executor) complete(typ *ast.Type, fields []*ast.Field, v any, p *pathNode, key any) any {
	if v == nil {
		if typ.NonNull {
			e.fieldError(fields[0], (&pathNode{p, key}).slice(), "Cannot return null for non-nullable field", map[string]any{"code": "INTERNAL"})
			return bubble
		}
		return nil
	}
	if typ.Elem != nil {
		items, _ := v.([]any)
		out := &list{items: make([]any, len(items)), nonNull: typ.Elem.NonNull}
		node := &pathNode{p, key}
		for i, it := range items {
			out.items[i] = e.complete(typ.Elem, fields, it, node, i)
		}
		return out
	}
	def := e.h.m.schema.Types[typ.NamedType]
	if def == nil {
		return nil
	}
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		return v
	case ast.Interface, ast.Union:
		def = e.concrete(v)
		if def == nil {
			return nil
		}
	}
	ck := collectKey{def: def, first: fields[0], n: len(fields)}
	sel, ok := e.collected[ck]
	if !ok {
		sel = e.newSelection(def, subSets(fields))
		if e.collected == nil {
			e.collected = map[collectKey]*selection{}
		}
		e.collected[ck] = sel
	}
	obj := sel.object()
	node := &pathNode{p, key}
	for i, g := range sel.groups {
		obj.vals[i] = e.field(def, v, g, obj, i, node)
	}
	return obj
}

// concrete returns the object type of a value of an abstract type.
func (e *executor) concrete(v any) *ast.Definition {
	switch v := v.(type) {
	case recordVal:
		return e.h.m.schema.Types[v.t.name]
	case typeVal:
		return e.h.m.schema.Types["__Type"]
	}
	return nil
}

// drain resolves the pending references level by level: one GetMany per
// resource per level (in chunks of Limits.MaxLimit ids).
func (e *executor) drain() {
	for len(e.pending) > 0 {
		batch := e.pending
		e.pending = nil
		var order []string
		ids := map[string][]string{}
		seen := map[string]map[string]bool{}
		for _, p := range batch {
			name := p.ref.t.res.Name
			if seen[name] == nil {
				seen[name] = map[string]bool{}
				order = append(order, name)
			}
			if !seen[name][p.ref.id] {
				seen[name][p.ref.id] = true
				ids[name] = append(ids[name], p.ref.id)
			}
		}
		found := map[string]map[string]resource.Record{}
		failed := map[string]error{}
		for _, name := range order {
			found[name] = map[string]resource.Record{}
			all := ids[name]
			for len(all) > 0 {
				n := min(len(all), e.h.limits.MaxLimit)
				recs, err := e.h.reg.GetMany(e.ctx, name, all[:n])
				all = all[n:]
				if err != nil {
					failed[name] = err
					break
				}
				for _, r := range recs {
					found[name][idString(r.Get("id"))] = r
				}
			}
		}
		for _, p := range batch {
			name := p.ref.t.res.Name
			if err := failed[name]; err != nil {
				e.fail(p.fields[0], p.path.slice(), err)
				continue
			}
			rec, ok := found[name][p.ref.id]
			if !ok {
				continue // a dangling reference reads as null
			}
			e.actual++
			p.obj.vals[p.i] = e.complete(p.typ, p.fields, recordVal{t: p.ref.t, rec: rec}, p.path.parent, p.path.key)
		}
	}
}

// idString formats a record id (a string or an int64).
func idString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	}
	return ""
}

// resolve returns the value of the field fd of parent.
func (e *executor) resolve(def *ast.Definition, parent any, f *ast.Field, fd *ast.FieldDefinition) (any, error) {
	switch v := parent.(type) {
	case rootVal:
		if e.op.Operation == ast.Mutation {
			return e.mutation(f, fd)
		}
		return e.query(f, fd)
	case recordVal:
		return e.recordField(v, fd.Name), nil
	case connVal:
		return v.field(fd.Name), nil
	case edgeVal:
		if fd.Name == "node" {
			return v.rec, nil
		}
		return v.cursor, nil
	case pageInfoVal:
		switch fd.Name {
		case "hasNextPage":
			return v.next, nil
		case "hasPreviousPage":
			return v.prev, nil
		case "startCursor":
			return v.start, nil
		}
		return v.end, nil
	case payloadVal:
		if fd.Name == "userErrors" {
			if v.errors == nil {
				return []any{}, nil
			}
			return v.errors, nil
		}
		if v.rec == nil {
			return nil, nil
		}
		return *v.rec, nil
	case userErrorVal:
		if fd.Name == "message" {
			return v.message, nil
		}
		return v.path, nil
	}
	return e.introspect(parent, f, fd)
}

// recordField returns the field name of a record.
func (e *executor) recordField(v recordVal, name string) any {
	f := v.t.byGQL[name]
	if f == nil {
		return nil
	}
	raw := v.rec.Get(f.json)
	if raw == nil {
		return nil
	}
	switch {
	case f.obj:
		return refVal{t: f.target, id: idString(raw)}
	case f.kind == kEncodedID:
		return EncodeID(f.target.res.Name, idString(raw))
	case f.kind == kID:
		return idString(raw)
	case f.kind == kInt64:
		return idString(raw)
	}
	return raw
}

// field returns a field of a connection.
func (c connVal) field(name string) any {
	switch name {
	case "nodes":
		out := make([]any, len(c.page.Records))
		for i, r := range c.page.Records {
			out[i] = recordVal{t: c.t, rec: r}
		}
		return out
	case "edges":
		out := make([]any, len(c.page.Records))
		for i, r := range c.page.Records {
			ed := edgeVal{rec: recordVal{t: c.t, rec: r}}
			if i < len(c.page.Cursors) {
				ed.cursor = c.page.Cursors[i]
			}
			out[i] = ed
		}
		return out
	}
	pi := pageInfoVal{next: c.page.HasMore, prev: c.after != ""}
	if len(c.page.Cursors) > 0 {
		pi.start = c.page.Cursors[0]
	}
	if c.page.EndCursor != "" {
		pi.end = c.page.EndCursor
	}
	return pi
}

var errNotFound = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)

// query resolves a root field of Query.
func (e *executor) query(f *ast.Field, fd *ast.FieldDefinition) (any, error) {
	switch fd.Name {
	case "__schema", "__type":
		e.actual++
		return e.introspect(rootVal{}, f, fd)
	}
	e.actual++
	args, err := e.args(f)
	if err != nil {
		return nil, gatehouse.NewError(http.StatusBadRequest, "invalid argument").Wrap(err)
	}
	if fd.Name == "node" {
		id, _ := args["id"].(string)
		name, raw, ok := DecodeID(id)
		t := e.h.m.byName[name]
		if !ok || t == nil {
			return nil, errNotFound
		}
		rec, err := e.h.reg.Get(e.ctx, t.res.Name, raw)
		if err != nil {
			return nil, err
		}
		return recordVal{t: t, rec: rec}, nil
	}
	t := e.h.m.byRoot[fd.Name]
	if t == nil {
		return nil, nil
	}
	if fd.Name == t.singular {
		id, _ := args["id"].(string)
		name, raw, ok := DecodeID(id)
		if !ok || name != t.res.Name {
			return nil, errNotFound
		}
		rec, err := e.h.reg.Get(e.ctx, t.res.Name, raw)
		if err != nil {
			return nil, err
		}
		return recordVal{t: t, rec: rec}, nil
	}
	return e.list(t, f, args)
}

// errFirst is the error of a first below 1.
var errFirst = gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidQuery).
	With("details", []resource.Detail{{Field: "first", Message: "must be at least 1"}})

// list resolves a connection root field.
func (e *executor) list(t *resType, f *ast.Field, args map[string]any) (any, error) {
	first, ok := firstArg(args, e.h.limits)
	if !ok {
		return nil, errFirst
	}
	q := resource.ListQuery{Limit: first}
	q.Cursor, _ = args["after"].(string)
	q.Q, _ = args["q"].(string)
	if fm, ok := args["filter"].(map[string]any); ok {
		empty, err := t.filters1(fm, &q)
		if err != nil {
			return nil, err
		}
		if empty {
			return connVal{t: t, after: q.Cursor}, nil
		}
	}
	for _, g := range e.collect(e.h.m.schema.Types[t.name+"Connection"], subSets([]*ast.Field{f}), true) {
		switch g.name {
		case "edges":
			for _, eg := range e.collect(e.h.m.schema.Types[t.name+"Edge"], subSets(g.fields), true) {
				q.EdgeCursors = q.EdgeCursors || eg.name == "cursor"
			}
		case "pageInfo":
			for _, pg := range e.collect(e.h.m.schema.Types["PageInfo"], subSets(g.fields), true) {
				q.EdgeCursors = q.EdgeCursors || pg.name == "startCursor"
				q.EndCursor = q.EndCursor || pg.name == "endCursor"
			}
		}
	}
	page, err := e.h.reg.List(e.ctx, t.res.Name, q)
	if err != nil {
		return nil, err
	}
	e.actual += len(page.Records)
	return connVal{t: t, page: page, after: q.Cursor}, nil
}

// firstArg returns the page size of a connection's arguments: the
// registry's default when absent, clamped at its maximum; false when below
// 1.
func firstArg(args map[string]any, lim resource.Limits) (int, bool) {
	v, ok := args["first"]
	if !ok || v == nil {
		return lim.DefaultLimit, true
	}
	n, ok := toInt(v)
	if !ok || n < 1 {
		return 0, false
	}
	if n > int64(lim.MaxLimit) {
		return lim.MaxLimit, true
	}
	return int(n), true
}

// toInt converts an Int argument value.
func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case float64:
		if v != float64(int64(v)) {
			return 0, false
		}
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// filters1 adds the filter input fm to q. It reports empty when a filter
// names an id that cannot exist (a malformed EncodedId or one of another
// resource): the page is then empty without a query.
func (t *resType) filters1(fm map[string]any, q *resource.ListQuery) (empty bool, err error) {
	for k, v := range fm {
		if v == nil {
			continue
		}
		switch k {
		case "createdAfter", "createdBefore":
			s, _ := v.(string)
			tm, perr := time.Parse(time.RFC3339Nano, s)
			if perr != nil {
				name := "created_after"
				if k == "createdBefore" {
					name = "created_before"
				}
				return false, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidQuery).
					With("fields", []string{name}).
					With("details", []resource.Detail{{Field: name, Message: "must be an RFC 3339 date-time"}})
			}
			if k == "createdAfter" {
				q.CreatedAfter = tm
			} else {
				q.CreatedBefore = tm
			}
			continue
		}
		i := slices.IndexFunc(t.filters, func(f *objField) bool { return f.gql == k })
		if i < 0 {
			continue
		}
		f := t.filters[i]
		if f.kind == kEncodedID {
			s, _ := v.(string)
			name, raw, ok := DecodeID(s)
			if !ok || name != f.target.res.Name {
				return true, nil
			}
			v = raw
		}
		q.Filters = append(q.Filters, resource.Filter{Field: f.json, Value: v})
	}
	return false, nil
}

// mutation resolves a root field of Mutation.
func (e *executor) mutation(f *ast.Field, fd *ast.FieldDefinition) (any, error) {
	e.actual += MutationCost
	t := e.h.m.byRoot[fd.Name]
	if t == nil {
		return nil, nil
	}
	args, err := e.args(f)
	if err != nil {
		return nil, gatehouse.NewError(http.StatusBadRequest, "invalid argument").Wrap(err)
	}
	in, _ := args["input"].(map[string]any)
	body, uerrs := t.input(in)
	if len(uerrs) > 0 {
		return payloadVal{t: t, errors: uerrs}, nil
	}
	var rec resource.Record
	if fd.Name == t.singular+"Create" {
		rec, err = e.h.reg.Create(e.ctx, t.res.Name, body)
	} else {
		idArg := t.singular + "Id"
		s, _ := args[idArg].(string)
		name, raw, ok := DecodeID(s)
		if !ok || name != t.res.Name {
			return payloadVal{t: t, errors: []any{userErrorVal{message: gatehouse.MsgNotFound, path: []any{idArg}}}}, nil
		}
		rec, err = e.h.reg.Update(e.ctx, t.res.Name, raw, body)
		if err != nil && gatehouse.StatusOf(err) == http.StatusNotFound {
			return payloadVal{t: t, errors: []any{userErrorVal{message: gatehouse.MsgNotFound, path: []any{idArg}}}}, nil
		}
	}
	if err != nil {
		if ue := t.userErrors(err); ue != nil {
			return payloadVal{t: t, errors: ue}, nil
		}
		return nil, err
	}
	return payloadVal{t: t, rec: &recordVal{t: t, rec: rec}}, nil
}

// input converts a mutation's input object to the members of a REST body.
// A reference that is not an EncodedId of its resource is a userError
// "Invalid foreign key", the registry's message for an id that names no
// record.
func (t *resType) input(in map[string]any) (map[string]json.RawMessage, []any) {
	out := make(map[string]json.RawMessage, len(in))
	var bad []any
	for _, f := range t.inputs {
		v, ok := in[f.gql]
		if !ok {
			continue
		}
		if v == nil {
			out[f.json] = json.RawMessage("null")
			continue
		}
		switch f.kind {
		case kEncodedID:
			s, _ := v.(string)
			name, raw, ok := DecodeID(s)
			if !ok || name != f.target.res.Name {
				bad = append(bad, userErrorVal{message: gatehouse.MsgInvalidForeignKey, path: []any{"input", f.gql}})
				continue
			}
			if f.target.intID {
				if _, err := strconv.ParseInt(raw, 10, 64); err == nil {
					out[f.json] = json.RawMessage(raw)
					continue
				}
			}
			v = raw
		case kInt64:
			if s, ok := v.(string); ok {
				if _, err := strconv.ParseInt(s, 10, 64); err == nil {
					out[f.json] = json.RawMessage(s)
					continue
				}
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte("null")
		}
		out[f.json] = b
	}
	return out, bad
}

// userErrors turns the registry's validation errors into userErrors with
// paths like ["input", "email"]; nil for other errors.
func (t *resType) userErrors(err error) []any {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest {
		return nil
	}
	name := func(json string) any {
		if f := t.byJSON[json]; f != nil {
			return f.gql
		}
		return camel(json)
	}
	var out []any
	switch ge.Msg {
	case gatehouse.MsgInvalidFieldValues:
		ds, _ := ge.Extra["details"].([]resource.Detail)
		for _, d := range ds {
			out = append(out, userErrorVal{message: d.Message, path: []any{"input", name(d.Field)}})
		}
	case gatehouse.MsgInvalidForeignKey, gatehouse.MsgUnsupportedFields:
		fs, _ := ge.Extra["fields"].([]string)
		for _, f := range fs {
			out = append(out, userErrorVal{message: ge.Msg, path: []any{"input", name(f)}})
		}
	case gatehouse.MsgNoFieldsToUpdate:
		out = append(out, userErrorVal{message: ge.Msg, path: []any{"input"}})
	}
	if len(out) == 0 {
		out = append(out, userErrorVal{message: ge.Msg, path: []any{"input"}})
	}
	return out
}
