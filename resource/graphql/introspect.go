package graphql

import (
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Introspection values: the executor completes them with the prelude's
// __Schema, __Type, __Field, __InputValue, __EnumValue and __Directive
// types.
type (
	schemaVal struct{ s *ast.Schema }
	// typeVal is a named type (def) or a wrapper (typ with NonNull or
	// Elem).
	typeVal struct {
		def *ast.Definition
		typ *ast.Type
	}
	fieldVal     struct{ f *ast.FieldDefinition }
	inputVal     struct{ a *ast.ArgumentDefinition }
	inputField   struct{ f *ast.FieldDefinition }
	enumValueVal struct{ v *ast.EnumValueDefinition }
	directiveVal struct{ d *ast.DirectiveDefinition }
)

// typeOf returns the introspection value of a type reference.
func (e *executor) typeOf(t *ast.Type) typeVal {
	if t.NonNull || t.Elem != nil {
		return typeVal{typ: t}
	}
	return typeVal{def: e.h.m.schema.Types[t.NamedType]}
}

// deprecation returns whether ds holds @deprecated and its reason.
func deprecation(ds ast.DirectiveList) (bool, any) {
	d := ds.ForName("deprecated")
	if d == nil {
		return false, nil
	}
	reason := "No longer supported"
	if a := d.Arguments.ForName("reason"); a != nil && a.Value != nil {
		reason = a.Value.Raw
	}
	return true, reason
}

func optString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// introspect resolves the field fd of an introspection value (or the
// __schema and __type root fields).
func (e *executor) introspect(parent any, f *ast.Field, fd *ast.FieldDefinition) (any, error) {
	s := e.h.m.schema
	switch v := parent.(type) {
	case rootVal:
		if fd.Name == "__schema" {
			return schemaVal{s: s}, nil
		}
		args, err := e.args(f)
		if err != nil {
			return nil, err
		}
		name, _ := args["name"].(string)
		def := s.Types[name]
		if def == nil {
			return nil, nil
		}
		return typeVal{def: def}, nil
	case schemaVal:
		switch fd.Name {
		case "description":
			return optString(s.Description), nil
		case "types":
			names := make([]string, 0, len(s.Types))
			for n := range s.Types {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]any, len(names))
			for i, n := range names {
				out[i] = typeVal{def: s.Types[n]}
			}
			return out, nil
		case "queryType":
			return typeVal{def: s.Query}, nil
		case "mutationType":
			if s.Mutation == nil {
				return nil, nil
			}
			return typeVal{def: s.Mutation}, nil
		case "subscriptionType":
			return nil, nil
		case "directives":
			names := make([]string, 0, len(s.Directives))
			for n := range s.Directives {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]any, len(names))
			for i, n := range names {
				out[i] = directiveVal{d: s.Directives[n]}
			}
			return out, nil
		}
	case typeVal:
		return e.typeField(v, f, fd)
	case fieldVal:
		switch fd.Name {
		case "name":
			return v.f.Name, nil
		case "description":
			return optString(v.f.Description), nil
		case "args":
			out := make([]any, len(v.f.Arguments))
			for i, a := range v.f.Arguments {
				out[i] = inputVal{a: a}
			}
			return out, nil
		case "type":
			return e.typeOf(v.f.Type), nil
		case "isDeprecated":
			dep, _ := deprecation(v.f.Directives)
			return dep, nil
		case "deprecationReason":
			_, r := deprecation(v.f.Directives)
			return r, nil
		}
	case inputVal:
		return e.inputValue(fd.Name, v.a.Name, v.a.Description, v.a.Type, v.a.DefaultValue, v.a.Directives), nil
	case inputField:
		return e.inputValue(fd.Name, v.f.Name, v.f.Description, v.f.Type, v.f.DefaultValue, v.f.Directives), nil
	case enumValueVal:
		switch fd.Name {
		case "name":
			return v.v.Name, nil
		case "description":
			return optString(v.v.Description), nil
		case "isDeprecated":
			dep, _ := deprecation(v.v.Directives)
			return dep, nil
		case "deprecationReason":
			_, r := deprecation(v.v.Directives)
			return r, nil
		}
	case directiveVal:
		switch fd.Name {
		case "name":
			return v.d.Name, nil
		case "description":
			return optString(v.d.Description), nil
		case "isRepeatable":
			return v.d.IsRepeatable, nil
		case "locations":
			out := make([]any, len(v.d.Locations))
			for i, l := range v.d.Locations {
				out[i] = string(l)
			}
			return out, nil
		case "args":
			out := make([]any, len(v.d.Arguments))
			for i, a := range v.d.Arguments {
				out[i] = inputVal{a: a}
			}
			return out, nil
		}
	}
	return nil, nil
}

// inputValue resolves a field of __InputValue.
func (e *executor) inputValue(field, name, desc string, t *ast.Type, def *ast.Value, ds ast.DirectiveList) any {
	switch field {
	case "name":
		return name
	case "description":
		return optString(desc)
	case "type":
		return e.typeOf(t)
	case "defaultValue":
		if def == nil {
			return nil
		}
		return def.String()
	case "isDeprecated":
		dep, _ := deprecation(ds)
		return dep
	case "deprecationReason":
		_, r := deprecation(ds)
		return r
	}
	return nil
}

// typeField resolves a field of __Type.
func (e *executor) typeField(v typeVal, f *ast.Field, fd *ast.FieldDefinition) (any, error) {
	if v.typ != nil {
		switch fd.Name {
		case "kind":
			if v.typ.NonNull {
				return "NON_NULL", nil
			}
			return "LIST", nil
		case "ofType":
			if v.typ.NonNull {
				inner := *v.typ
				inner.NonNull = false
				return e.typeOf(&inner), nil
			}
			return e.typeOf(v.typ.Elem), nil
		}
		return nil, nil
	}
	d := v.def
	if d == nil {
		return nil, nil
	}
	args, err := e.args(f)
	if err != nil {
		return nil, err
	}
	withDeprecated, _ := args["includeDeprecated"].(bool)
	switch fd.Name {
	case "kind":
		return string(d.Kind), nil
	case "name":
		return d.Name, nil
	case "description":
		return optString(d.Description), nil
	case "specifiedByURL":
		if sb := d.Directives.ForName("specifiedBy"); sb != nil {
			if a := sb.Arguments.ForName("url"); a != nil && a.Value != nil {
				return a.Value.Raw, nil
			}
		}
		return nil, nil
	case "fields":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil, nil
		}
		out := []any{}
		for _, fl := range d.Fields {
			if strings.HasPrefix(fl.Name, "__") {
				continue
			}
			if dep, _ := deprecation(fl.Directives); dep && !withDeprecated {
				continue
			}
			out = append(out, fieldVal{f: fl})
		}
		return out, nil
	case "interfaces":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil, nil
		}
		out := []any{}
		for _, n := range d.Interfaces {
			if i := e.h.m.schema.Types[n]; i != nil {
				out = append(out, typeVal{def: i})
			}
		}
		return out, nil
	case "possibleTypes":
		if d.Kind != ast.Interface && d.Kind != ast.Union {
			return nil, nil
		}
		pts := slices.Clone(e.h.m.schema.GetPossibleTypes(d))
		slices.SortFunc(pts, func(a, b *ast.Definition) int { return strings.Compare(a.Name, b.Name) })
		out := make([]any, len(pts))
		for i, p := range pts {
			out[i] = typeVal{def: p}
		}
		return out, nil
	case "enumValues":
		if d.Kind != ast.Enum {
			return nil, nil
		}
		out := []any{}
		for _, ev := range d.EnumValues {
			if dep, _ := deprecation(ev.Directives); dep && !withDeprecated {
				continue
			}
			out = append(out, enumValueVal{v: ev})
		}
		return out, nil
	case "inputFields":
		if d.Kind != ast.InputObject {
			return nil, nil
		}
		out := []any{}
		for _, fl := range d.Fields {
			if dep, _ := deprecation(fl.Directives); dep && !withDeprecated {
				continue
			}
			out = append(out, inputField{f: fl})
		}
		return out, nil
	case "ofType":
		return nil, nil
	case "isOneOf":
		if d.Kind != ast.InputObject {
			return nil, nil
		}
		return d.Directives.ForName("oneOf") != nil, nil
	}
	return nil, nil
}
