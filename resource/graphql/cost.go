package graphql

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse.dev"
	"gatehouse.dev/scope"
)

// analysis is what is known of an operation before it runs.
type analysis struct {
	// cost is the requested cost, in points.
	cost int
	// forbidden fields need a scope the caller lacks; errs has one error
	// for each.
	forbidden map[*ast.Field]bool
	errs      []Error
	// reqErr refuses the request before execution.
	reqErr *Response
}

// maxCost saturates cost arithmetic.
const maxCost = 1 << 40

func addCost(a, b int) int { return min(a+b, maxCost) }
func mulCost(a, b int) int {
	if a != 0 && b > maxCost/a {
		return maxCost
	}
	return min(a*b, maxCost)
}

// analyze checks depth, aliases and scopes, and computes the requested
// cost: 1 per root field, plus first per connection, plus 1 per record
// for each to-one reference under it (recursively); 10 per mutation plus
// the references of its payload; 1 per introspection root field. Aliases
// and fragments count after expansion, @skip and @include as if included.
// Scopes are checked on the fields that will run.
func (e *executor) analyze() analysis {
	a := analysis{forbidden: map[*ast.Field]bool{}}
	w := &walker{e: e, a: &a}
	root := e.h.m.schema.Query
	if e.op.Operation == ast.Mutation {
		root = e.h.m.schema.Mutation
	}
	var granted scope.Set
	if s, ok := scope.FromContext(e.ctx); ok {
		granted = s
	}
	w.granted = granted
	a.cost = w.root(root, e.op.SelectionSet)
	switch {
	case w.fields > DefaultMaxFields:
		a.reqErr = requestError("MAX_FIELDS_EXCEEDED", gqlerror.Errorf("the query selects more than %d fields after fragment expansion", DefaultMaxFields))
	case w.depth > e.h.depth:
		a.reqErr = requestError("MAX_DEPTH_EXCEEDED", gqlerror.Errorf("the query is %d levels deep; at most %d are allowed", w.depth, e.h.depth))
	case w.aliases > e.h.aliases:
		a.reqErr = requestError("MAX_ALIASES_EXCEEDED", gqlerror.Errorf("the query has %d aliases; at most %d are allowed", w.aliases, e.h.aliases))
	}
	if a.reqErr != nil {
		a.reqErr.Extensions = map[string]any{"cost": map[string]any{"requestedQueryCost": a.cost, "actualQueryCost": 0}}
	}
	return a
}

// walker walks the operation once for the analysis.
type walker struct {
	e       *executor
	a       *analysis
	granted scope.Set
	fields  int
	depth   int
	aliases int
}

// over reports whether the walk went past a limit (it stops there: the
// request is refused anyway).
func (w *walker) over() bool {
	return w.fields > DefaultMaxFields || w.aliases > w.e.h.aliases || w.depth > w.e.h.depth
}

// visit counts the fields of a group at depth d.
func (w *walker) visit(g *group, d int) {
	w.count(g, d, false)
}

// count is visit; introspection fields do not count for the depth (the
// MaxIntrospectionDepth rule bounds them).
func (w *walker) count(g *group, d int, introspection bool) {
	w.fields += len(g.fields)
	for _, f := range g.fields {
		if f.Alias != "" && f.Alias != f.Name {
			w.aliases++
		}
	}
	if d > w.depth && !introspection && !strings.HasPrefix(g.name, "__") {
		w.depth = d
	}
}

// forbid records that the fields of g (at path p) need sc, unless the
// caller has it or the group does not run.
func (w *walker) forbid(g *group, p []any, sc scope.Scope) bool {
	if g.skipped || w.granted.Has(sc) {
		return false
	}
	for _, f := range g.fields {
		w.a.forbidden[f] = true
	}
	err := Error{Message: gatehouse.MsgMissingScope, Path: p, Extensions: map[string]any{"code": "FORBIDDEN", "required_scope": string(sc)}}
	if pos := g.fields[0].Position; pos != nil {
		err.Locations = []Location{{Line: pos.Line, Column: pos.Column}}
	}
	w.a.errs = append(w.a.errs, err)
	return true
}

// root walks the root selection set and returns its cost.
func (w *walker) root(def *ast.Definition, set ast.SelectionSet) int {
	cost := 0
	for _, g := range w.e.collect(def, []ast.SelectionSet{set}, false) {
		if w.over() {
			break
		}
		w.visit(g, 1)
		p := []any{g.key}
		switch {
		case g.name == "__typename":
		case g.name == "__schema" || g.name == "__type":
			cost = addCost(cost, 1)
			w.plain(g, 2, true)
		case g.name == "node":
			c := 0
			for _, t := range w.e.h.m.types {
				c = max(c, w.record(t, subSets(g.fields), 2, p, true))
			}
			cost = addCost(cost, 1+c)
		case def == w.e.h.m.schema.Mutation:
			t := w.e.h.m.byRoot[g.name]
			cost = addCost(cost, MutationCost)
			if t == nil {
				continue
			}
			sc := t.create
			if g.name == t.singular+"Update" {
				sc = t.update
			}
			if w.forbid(g, p, sc) {
				continue
			}
			payload := w.e.h.m.schema.Types[t.name+"CreatePayload"]
			for _, pg := range w.e.collect(payload, subSets(g.fields), false) {
				w.visit(pg, 2)
				if pg.name == t.singular {
					cost = addCost(cost, w.record(t, subSets(pg.fields), 3, path(p, pg.key), false))
				} else {
					w.plain(pg, 3, false)
				}
			}
		default:
			t := w.e.h.m.byRoot[g.name]
			if t == nil {
				continue
			}
			if w.forbid(g, p, t.read) {
				cost = addCost(cost, 1)
				continue
			}
			if g.name == t.singular {
				cost = addCost(cost, 1+w.record(t, subSets(g.fields), 2, p, false))
				continue
			}
			first := w.e.h.limits.DefaultLimit
			if args, err := w.e.args(g.fields[0]); err == nil {
				if n, ok := firstArg(args, w.e.h.limits); ok {
					first = n
				} else {
					first = 0
				}
			}
			per := 0
			conn := w.e.h.m.schema.Types[t.name+"Connection"]
			for _, cg := range w.e.collect(conn, subSets(g.fields), false) {
				w.visit(cg, 2)
				switch cg.name {
				case "nodes":
					per = addCost(per, w.record(t, subSets(cg.fields), 3, path(p, cg.key), false))
				case "edges":
					edge := w.e.h.m.schema.Types[t.name+"Edge"]
					for _, eg := range w.e.collect(edge, subSets(cg.fields), false) {
						w.visit(eg, 3)
						if eg.name == "node" {
							per = addCost(per, w.record(t, subSets(eg.fields), 4, path(path(p, cg.key), eg.key), false))
						}
					}
				default:
					w.plain(cg, 3, false)
				}
			}
			cost = addCost(cost, addCost(1+first, mulCost(first, per)))
		}
	}
	return cost
}

// record walks a selection on the record type t (every type when
// abstract, for node) at depth d and returns its cost per record: 1 for
// each to-one reference plus the cost of its selection.
func (w *walker) record(t *resType, sets []ast.SelectionSet, d int, p []any, abstract bool) int {
	def := w.e.h.m.schema.Types[t.name]
	cost := 0
	for _, g := range w.e.collect(def, sets, false) {
		if w.over() {
			break
		}
		if abstract && !w.selectsOn(def, g) {
			continue
		}
		w.visit(g, d)
		f := t.byGQL[g.name]
		if f == nil || !f.obj {
			continue
		}
		if w.forbid(g, path(p, g.key), f.target.read) {
			continue
		}
		cost = addCost(cost, 1+w.record(f.target, subSets(g.fields), d+1, path(p, g.key), false))
	}
	return cost
}

// selectsOn reports whether a group collected for node applies to def
// specifically (fields of Node itself apply to every type; count them
// once, on the first type).
func (w *walker) selectsOn(def *ast.Definition, g *group) bool {
	return g.name != "id" && g.name != "__typename" || def.Name == w.e.h.m.types[0].name
}

// plain walks a selection that costs nothing (introspection, page info,
// user errors) for the depth, alias and size limits.
func (w *walker) plain(g *group, d int, introspection bool) {
	for _, f := range g.fields {
		if len(f.SelectionSet) == 0 || f.Definition == nil {
			return
		}
	}
	def := w.e.h.m.schema.Types[g.fields[0].Definition.Type.Name()]
	if def == nil {
		return
	}
	defs := []*ast.Definition{def}
	if def.Kind == ast.Interface || def.Kind == ast.Union {
		defs = w.e.h.m.schema.GetPossibleTypes(def)
	}
	for _, od := range defs {
		for _, sg := range w.e.collect(od, subSets(g.fields), false) {
			if w.over() {
				return
			}
			w.count(sg, d, introspection)
			w.plain(sg, d+1, introspection)
		}
	}
}
