package graphql_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource/graphql"
	"gatehouse.dev/tenancy"
)

// introspectionQuery is graphql-js's getIntrospectionQuery, as clients
// (GraphiQL, genqlient, codegen tools) send it.
const introspectionQuery = `
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`

// TestIntrospection: the full introspection query describes the SDL's
// types and fields exactly.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, graphql.Options{})
	r := e.post(uuid.New(), nil, introspectionQuery, nil)
	if len(r.Errors) != 0 || get(r.Data, "__schema", "queryType", "name") != "Query" || get(r.Data, "__schema", "mutationType", "name") != "Mutation" {
		t.Fatalf("%.2000s", r.Raw)
	}
	sdl, err := gqlparser.LoadSchema(&ast.Source{Input: e.h.SDL()})
	if err != nil {
		t.Fatal(err)
	}
	types, _ := get(r.Data, "__schema", "types").([]any)
	seen := map[string]bool{}
	for _, ty := range types {
		name, _ := get(ty, "name").(string)
		seen[name] = true
		def := sdl.Types[name]
		if def == nil {
			t.Errorf("introspection type %s is not in the SDL", name)
			continue
		}
		if get(ty, "kind") != string(def.Kind) {
			t.Errorf("%s: kind %v, SDL %s", name, get(ty, "kind"), def.Kind)
		}
		var got, want []string
		fields, _ := get(ty, "fields").([]any)
		if def.Kind == ast.InputObject {
			fields, _ = get(ty, "inputFields").([]any)
		}
		for _, f := range fields {
			got = append(got, fmt.Sprint(get(f, "name"), ":", typeRef(get(f, "type"))))
		}
		for _, f := range def.Fields {
			if len(f.Name) > 1 && f.Name[:2] == "__" {
				continue
			}
			want = append(want, f.Name+":"+f.Type.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: fields %v, SDL %v", name, got, want)
		}
	}
	for name := range sdl.Types {
		if !seen[name] {
			t.Errorf("SDL type %s is missing from introspection", name)
		}
	}
	if get(r.Data, "__schema", "directives") == nil {
		t.Error("no directives")
	}
	// __type of a wrapper-free name, possibleTypes of Node.
	r = e.post(uuid.New(), nil, `{ __type(name: "Node") { kind possibleTypes { name } } nope: __type(name: "Nope") { name } }`, nil)
	if get(r.Data, "__type", "kind") != "INTERFACE" || len(get(r.Data, "__type", "possibleTypes").([]any)) != 3 || get(r.Data, "nope") != nil {
		t.Errorf("__type: %s", r.Raw)
	}
}

// typeRef prints an introspected type reference as SDL does.
func typeRef(v any) string {
	switch get(v, "kind") {
	case "NON_NULL":
		return typeRef(get(v, "ofType")) + "!"
	case "LIST":
		return "[" + typeRef(get(v, "ofType")) + "]"
	}
	s, _ := get(v, "name").(string)
	return s
}
