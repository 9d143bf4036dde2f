package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// schema is the subset of JSON Schema 2020-12 the generator writes and
// reads from route documentation. It renders as OpenAPI 3.1 (JSON Schema as
// it is) or as an OpenAPI 3.0 Schema Object (nullable, enum for const,
// example for examples).
type schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 typeList           `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Const                json.RawMessage    `json:"const,omitempty"`
	Enum                 []json.RawMessage  `json:"enum,omitempty"`
	Default              json.RawMessage    `json:"default,omitempty"`
	Examples             []json.RawMessage  `json:"examples,omitempty"`
	Minimum              *json.Number       `json:"minimum,omitempty"`
	Maximum              *json.Number       `json:"maximum,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	UniqueItems          bool               `json:"uniqueItems,omitempty"`
	MinProperties        *int               `json:"minProperties,omitempty"`
	MaxProperties        *int               `json:"maxProperties,omitempty"`
	Properties           map[string]*schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *boolOrSchema      `json:"additionalProperties,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	OneOf                []*schema          `json:"oneOf,omitempty"`
	AnyOf                []*schema          `json:"anyOf,omitempty"`
	AllOf                []*schema          `json:"allOf,omitempty"`
	ReadOnly             bool               `json:"readOnly,omitempty"`
	WriteOnly            bool               `json:"writeOnly,omitempty"`
	Deprecated           bool               `json:"deprecated,omitempty"`
}

// typeList is the "type" keyword: one type name or a list of them.
type typeList []string

func (t *typeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = typeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New(`"type" must be a string or an array of strings`)
	}
	*t = many
	return nil
}

// boolOrSchema is additionalProperties: true, false or a schema.
type boolOrSchema struct {
	Bool   *bool
	Schema *schema
}

func (b *boolOrSchema) UnmarshalJSON(data []byte) error {
	var v bool
	if err := json.Unmarshal(data, &v); err == nil {
		b.Bool = &v
		return nil
	}
	s, err := parseSchema(data)
	if err != nil {
		return err
	}
	b.Schema = s
	return nil
}

var validTypes = []string{"string", "integer", "number", "boolean", "object", "array", "null"}

// parseSchema decodes a schema of route documentation. Unknown keywords
// are an error, so that nothing is silently dropped from the document.
func parseSchema(raw json.RawMessage) (*schema, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var s schema
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid schema: data after the schema")
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// check validates what decoding cannot.
func (s *schema) check() error {
	for _, t := range s.Type {
		if !slices.Contains(validTypes, t) {
			return fmt.Errorf("invalid schema: unknown type %q", t)
		}
	}
	if s.Ref != "" && !strings.HasPrefix(s.Ref, schemaRefPrefix) {
		return fmt.Errorf("invalid schema: $ref %q: only %s<Name> is supported", s.Ref, schemaRefPrefix)
	}
	for _, name := range s.Required {
		if s.Properties == nil || s.Properties[name] == nil {
			return fmt.Errorf("invalid schema: required property %q is not in properties", name)
		}
	}
	for _, sub := range s.children() {
		if sub == nil {
			return errors.New("invalid schema: null subschema")
		}
		if err := sub.check(); err != nil {
			return err
		}
	}
	return nil
}

// children returns the direct subschemas.
func (s *schema) children() []*schema {
	var out []*schema
	for _, name := range s.propertyNames() {
		out = append(out, s.Properties[name])
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, s.AdditionalProperties.Schema)
	}
	if s.Items != nil {
		out = append(out, s.Items)
	}
	out = append(out, s.OneOf...)
	out = append(out, s.AnyOf...)
	return append(out, s.AllOf...)
}

// propertyNames returns the property names, sorted.
func (s *schema) propertyNames() []string {
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// refs appends the component names s refers to.
func (s *schema) refs(out []string) []string {
	if s.Ref != "" {
		out = append(out, strings.TrimPrefix(s.Ref, schemaRefPrefix))
	}
	for _, c := range s.children() {
		out = c.refs(out)
	}
	return out
}

const schemaRefPrefix = "#/components/schemas/"

// render returns the schema as a JSON value for the OpenAPI version (30 or
// 31).
func (s *schema) render(v version) (map[string]any, error) {
	out := map[string]any{}
	if s.Ref != "" {
		if v == v30 && s.hasSiblings() {
			// OpenAPI 3.0 ignores keywords next to $ref: wrap it.
			c := *s
			c.Ref = ""
			c.AllOf = append([]*schema{{Ref: s.Ref}}, s.AllOf...)
			return c.render(v)
		}
		out["$ref"] = s.Ref
	}
	set := func(k string, v any, ok bool) {
		if ok {
			out[k] = v
		}
	}
	set("title", s.Title, s.Title != "")
	set("description", s.Description, s.Description != "")
	set("format", s.Format, s.Format != "")
	set("pattern", s.Pattern, s.Pattern != "")
	set("default", s.Default, s.Default != nil)
	set("minimum", s.Minimum, s.Minimum != nil)
	set("maximum", s.Maximum, s.Maximum != nil)
	set("minLength", s.MinLength, s.MinLength != nil)
	set("maxLength", s.MaxLength, s.MaxLength != nil)
	set("minItems", s.MinItems, s.MinItems != nil)
	set("maxItems", s.MaxItems, s.MaxItems != nil)
	set("uniqueItems", true, s.UniqueItems)
	set("minProperties", s.MinProperties, s.MinProperties != nil)
	set("maxProperties", s.MaxProperties, s.MaxProperties != nil)
	set("readOnly", true, s.ReadOnly)
	set("writeOnly", true, s.WriteOnly)
	set("deprecated", true, s.Deprecated)

	nonNull := slices.DeleteFunc(slices.Clone([]string(s.Type)), func(t string) bool { return t == "null" })
	nullable := len(nonNull) < len(s.Type)
	switch {
	case v == v31 && len(s.Type) == 1:
		out["type"] = s.Type[0]
	case v == v31 && len(s.Type) > 1:
		out["type"] = []string(s.Type)
	case len(nonNull) == 1:
		out["type"] = nonNull[0]
		set("nullable", true, nullable)
	case len(nonNull) > 1:
		return nil, fmt.Errorf("type %v cannot be expressed in OpenAPI 3.0", []string(s.Type))
	case nullable:
		return nil, errors.New(`type "null" alone cannot be expressed in OpenAPI 3.0`)
	}

	switch {
	case s.Const != nil && v == v30:
		out["enum"] = []json.RawMessage{s.Const}
	case s.Const != nil:
		out["const"] = s.Const
	}
	if s.Enum != nil {
		out["enum"] = s.Enum
	}
	if len(s.Examples) > 0 {
		if v == v30 {
			out["example"] = s.Examples[0]
		} else {
			out["examples"] = s.Examples
		}
	}

	if s.Properties != nil {
		props := make(map[string]any, len(s.Properties))
		for name, p := range s.Properties {
			r, err := p.render(v)
			if err != nil {
				return nil, fmt.Errorf("property %s: %w", name, err)
			}
			props[name] = r
		}
		out["properties"] = props
	}
	if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if ap := s.AdditionalProperties; ap != nil {
		switch {
		case ap.Bool != nil:
			out["additionalProperties"] = *ap.Bool
		case ap.Schema != nil:
			r, err := ap.Schema.render(v)
			if err != nil {
				return nil, err
			}
			out["additionalProperties"] = r
		}
	}
	if s.Items != nil {
		r, err := s.Items.render(v)
		if err != nil {
			return nil, err
		}
		out["items"] = r
	}
	for _, l := range []struct {
		key  string
		list []*schema
	}{{"oneOf", s.OneOf}, {"anyOf", s.AnyOf}, {"allOf", s.AllOf}} {
		if l.list == nil {
			continue
		}
		rs := make([]any, len(l.list))
		for i, sub := range l.list {
			r, err := sub.render(v)
			if err != nil {
				return nil, err
			}
			rs[i] = r
		}
		out[l.key] = rs
	}
	return out, nil
}

// hasSiblings reports whether s has keywords besides $ref.
func (s *schema) hasSiblings() bool {
	c := *s
	c.Ref = ""
	return !c.isEmpty()
}

func (s *schema) isEmpty() bool {
	b, _ := json.Marshal(s)
	return string(b) == "{}"
}

// Constructors of the generator's own schemas.

func ref(name string) *schema { return &schema{Ref: schemaRefPrefix + name} }

func str() *schema { return &schema{Type: typeList{"string"}} }

func strFormat(format string) *schema { return &schema{Type: typeList{"string"}, Format: format} }

func integer() *schema { return &schema{Type: typeList{"integer"}} }

func boolean() *schema { return &schema{Type: typeList{"boolean"}} }

func arrayOf(items *schema) *schema { return &schema{Type: typeList{"array"}, Items: items} }

func intp(n int) *int { return &n }

func num(n int) *json.Number {
	v := json.Number(fmt.Sprint(n))
	return &v
}

func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// object returns a closed object schema (additionalProperties: false);
// required names the always-present properties.
func object(required []string, props ...prop) *schema {
	s := &schema{
		Type:                 typeList{"object"},
		Properties:           make(map[string]*schema, len(props)),
		AdditionalProperties: &boolOrSchema{Bool: new(bool)},
	}
	for _, p := range props {
		s.Properties[p.name] = p.s
	}
	s.Required = required
	return s
}

type prop struct {
	name string
	s    *schema
}

// nullable returns a copy of s that also accepts null.
func nullable(s *schema) *schema {
	c := *s
	if len(c.Type) == 0 || slices.Contains(c.Type, "null") {
		return &c
	}
	c.Type = append(slices.Clone(c.Type), "null")
	return &c
}

// withDescription returns a copy of s with the description.
func withDescription(s *schema, d string) *schema {
	c := *s
	c.Description = d
	return &c
}
