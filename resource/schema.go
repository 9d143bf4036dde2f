package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"gatehouse.dev"
	"gatehouse.dev/scope"
)

type schemaDoc struct {
	Version         string           `json:"version"`
	Resources       []schemaResource `json:"resources"`
	ListParameters  []string         `json:"list_parameters"`
	ProtectedFields []string         `json:"protected_fields"`
	Limits          Limits           `json:"limits"`
}

type schemaResource struct {
	Name         string        `json:"name"`
	Scopes       schemaScopes  `json:"scopes"`
	CreateFields []schemaField `json:"create_fields"`
	UpdateFields []schemaField `json:"update_fields"`
	Filters      []string      `json:"filters"`
	SearchFields []string      `json:"search_fields"`
}

type schemaScopes struct {
	Read   scope.Scope `json:"read"`
	Create scope.Scope `json:"create"`
	Update scope.Scope `json:"update"`
}

type schemaField struct {
	Name      string `json:"name"`
	Type      Type   `json:"type"`
	Required  bool   `json:"required"`
	MaxLength *int   `json:"max_length"`
	// Nullable tells whether null is accepted (to clear the field).
	Nullable bool `json:"nullable"`
}

// buildSchema renders the data of GET /schema once: it never changes.
func (rg *Registry) buildSchema() ([]byte, error) {
	doc := schemaDoc{
		Version:         rg.version,
		Resources:       make([]schemaResource, 0, len(rg.specs)),
		ListParameters:  rg.ListParameters(),
		ProtectedFields: rg.protected,
		Limits:          rg.limits,
	}
	for _, s := range rg.specs {
		sr := schemaResource{
			Name:         s.res.Name,
			Scopes:       schemaScopes{Read: s.read, Create: s.create, Update: s.update},
			CreateFields: []schemaField{},
			UpdateFields: []schemaField{},
			Filters:      append([]string{}, s.res.Filters...),
			SearchFields: append([]string{}, s.res.Search...),
		}
		for _, f := range s.fields {
			if f.ReadOnly {
				continue
			}
			var ml *int
			if f.Type.stringy() {
				ml = &f.MaxLength
			}
			sf := schemaField{Name: f.Name, Type: f.Type, Required: f.Required, MaxLength: ml, Nullable: !f.Required}
			sr.CreateFields = append(sr.CreateFields, sf)
			sf.Required = false
			sr.UpdateFields = append(sr.UpdateFields, sf)
		}
		doc.Resources = append(doc.Resources, sr)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("resource: schema: %w", err)
	}
	return b, nil
}

// serveSchema answers GET /schema (for any authenticated caller: see
// anyCaller). "version" is the API version serving the request when a
// gatehouse.Versioner put one in the context, else Options.Version.
func (rg *Registry) serveSchema(w http.ResponseWriter, r *http.Request) {
	doc := rg.schema
	if v, ok := gatehouse.VersionFromContext(r.Context()); ok && v != rg.version {
		doc = withVersion(rg.schema, rg.version, v)
	}
	gatehouse.WriteData(w, r, http.StatusOK, json.RawMessage(doc))
}

// withVersion returns the schema document with its leading "version"
// member (json.Marshal writes the fields of schemaDoc in order) set to v.
func withVersion(doc []byte, old, v string) []byte {
	oldJSON, _ := json.Marshal(old)
	newJSON, _ := json.Marshal(v)
	prefix := append([]byte(`{"version":`), oldJSON...)
	if !bytes.HasPrefix(doc, prefix) {
		return doc
	}
	out := make([]byte, 0, len(doc)+len(newJSON))
	out = append(out, `{"version":`...)
	out = append(out, newJSON...)
	return append(out, doc[len(prefix):]...)
}
