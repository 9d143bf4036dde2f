package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gatehouse.dev/resource"
)

// ResourceSchemas are the JSON Schemas (draft 2020-12, self-contained:
// no $ref) of one resource, built by the code that writes the document's
// components and parameters, for other descriptions of the same API (for
// example MCP tools).
type ResourceSchemas struct {
	// Resource is the resource's name ("leads").
	Resource string
	// Record is a record as the API answers it (component <Singular>).
	Record json.RawMessage
	// ID is the schema of a record id (the record's id member, without
	// readOnly).
	ID json.RawMessage
	// Create is the body of a create (component <Singular>Create).
	Create json.RawMessage
	// Update is the body of an update (component <Singular>Update).
	Update json.RawMessage
	// List is an object of the list parameters, all optional: limit
	// (at most Limits.MaxLimit), cursor (when cursors are on),
	// created_after, created_before, q and each filter, with the
	// descriptions of the query parameters. offset is left out: cursors
	// page without it.
	List json.RawMessage
}

// Schemas returns the schemas of every resource of reg, in declaration
// order.
func Schemas(reg *resource.Registry) ([]ResourceSchemas, error) {
	if reg == nil {
		return nil, errors.New("openapi: Schemas: nil registry")
	}
	b, err := newBuilder(Options{Registry: reg})
	if err != nil {
		return nil, err
	}
	params := b.parameters()
	var out []ResourceSchemas
	for _, r := range reg.Resources() {
		if err := b.resource(r); err != nil {
			return nil, err
		}
		name := camel(r.Singular)
		rs := ResourceSchemas{Resource: r.Name}
		rec := b.schemas[name]
		id := *rec.Properties["id"]
		id.ReadOnly = false
		list, err := b.listSchema(params, b.reg.Prefix()+"/"+r.Name)
		if err != nil {
			return nil, fmt.Errorf("openapi: resource %s: %w", r.Name, err)
		}
		for _, c := range []struct {
			dst *json.RawMessage
			s   *schema
		}{{&rs.Record, rec}, {&rs.ID, &id}, {&rs.Create, b.schemas[name+"Create"]}, {&rs.Update, b.schemas[name+"Update"]}, {&rs.List, list}} {
			if *c.dst, err = renderJSON(c.s); err != nil {
				return nil, fmt.Errorf("openapi: resource %s: %w", r.Name, err)
			}
		}
		out = append(out, rs)
	}
	return out, nil
}

// listSchema turns the query parameters of the documented list operation
// at path into an object schema.
func (b *builder) listSchema(params map[string]any, path string) (*schema, error) {
	op, _ := b.paths[path]["get"].(map[string]any)
	ps, _ := op["parameters"].([]any)
	if op == nil {
		return nil, errors.New("no list operation")
	}
	obj := object(nil)
	for _, p := range ps {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			pm, _ = params[strings.TrimPrefix(ref, "#/components/parameters/")].(map[string]any)
		}
		name, _ := pm["name"].(string)
		s, _ := pm["schema"].(*schema)
		if pm["in"] != "query" || name == "offset" || s == nil {
			continue
		}
		c := *s
		if d, _ := pm["description"].(string); d != "" {
			c.Description = d
		}
		if name == "limit" {
			c.Maximum = num(b.reg.Limits().MaxLimit)
		}
		obj.Properties[name] = &c
	}
	return obj, nil
}

// renderJSON renders s as JSON Schema 2020-12 (the OpenAPI 3.1 form).
func renderJSON(s *schema) (json.RawMessage, error) {
	m, err := s.render(v31)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}
