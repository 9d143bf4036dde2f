package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
)

// addResource registers the four tools of one resource.
func (s *Server) addResource(r resource.Resource, rs openapi.ResourceSchemas) error {
	var idSchema any
	if err := json.Unmarshal(rs.ID, &idSchema); err != nil {
		return fmt.Errorf("mcp: resource %s: id schema: %w", r.Name, err)
	}
	getInput, err := json.Marshal(map[string]any{
		"type": "object", "required": []string{"id"}, "additionalProperties": false,
		"properties": map[string]any{"id": idSchema},
	})
	if err != nil {
		return err
	}
	updateInput, err := withID(rs.Update, idSchema)
	if err != nil {
		return fmt.Errorf("mcp: resource %s: %w", r.Name, err)
	}
	listOutput, err := pageSchema(rs.Record)
	if err != nil {
		return fmt.Errorf("mcp: resource %s: %w", r.Name, err)
	}
	read, create, update := scope.Of(r.Name, scope.Read), scope.Of(r.Name, scope.Create), scope.Of(r.Name, scope.Update)
	name, one := r.Name, r.Singular
	a := article(one)
	closed := false
	tools := []struct {
		t     *sdk.Tool
		scope scope.Scope
		h     func(context.Context, json.RawMessage) (any, int, error)
	}{{
		t: &sdk.Tool{
			Name:  "list_" + name,
			Title: "List " + name,
			Description: fmt.Sprintf("Lists the organization's %s, newest first. Optional: exact filters (%s), q (search in %s), created_after, created_before, limit (default %d, at most %d) and cursor (the next_cursor of the previous page, with the same filters). Requires scope %s.",
				name, strings.Join(r.Filters, ", "), strings.Join(r.Search, ", "), s.reg.Limits().DefaultLimit, s.reg.Limits().MaxLimit, read),
			InputSchema:  rs.List,
			OutputSchema: listOutput,
			Annotations:  &sdk.ToolAnnotations{Title: "List " + name, ReadOnlyHint: true, OpenWorldHint: &closed},
		},
		scope: read,
		h:     s.listTool(r),
	}, {
		t: &sdk.Tool{
			Name:         "get_" + one,
			Title:        "Get " + a + " " + one,
			Description:  fmt.Sprintf("Returns one %s of the organization by id. Requires scope %s.", one, read),
			InputSchema:  json.RawMessage(getInput),
			OutputSchema: rs.Record,
			Annotations:  &sdk.ToolAnnotations{Title: "Get " + a + " " + one, ReadOnlyHint: true, OpenWorldHint: &closed},
		},
		scope: read,
		h:     s.getTool(name),
	}, {
		t: &sdk.Tool{
			Name:         "create_" + one,
			Title:        "Create " + a + " " + one,
			Description:  fmt.Sprintf("Creates %s %s in the organization and returns it. Each call creates a new record. Requires scope %s.", a, one, create),
			InputSchema:  rs.Create,
			OutputSchema: rs.Record,
			Annotations:  &sdk.ToolAnnotations{Title: "Create " + a + " " + one, DestructiveHint: &closed, OpenWorldHint: &closed},
		},
		scope: create,
		h:     s.createTool(name),
	}, {
		t: &sdk.Tool{
			Name:         "update_" + one,
			Title:        "Update " + a + " " + one,
			Description:  fmt.Sprintf("Changes the given fields of %s %s (id required; fields not sent are left alone, null clears one) and returns it. Requires scope %s.", a, one, update),
			InputSchema:  updateInput,
			OutputSchema: rs.Record,
			Annotations:  &sdk.ToolAnnotations{Title: "Update " + a + " " + one, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: &closed},
		},
		scope: update,
		h:     s.updateTool(name),
	}}
	for _, t := range tools {
		if err := s.add(t.t, tool{scope: t.scope}, t.h); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// withID returns the update body schema with a required id property.
func withID(update json.RawMessage, id any) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(update, &m); err != nil {
		return nil, err
	}
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["id"] = id
	m["properties"] = props
	m["required"] = []string{"id"}
	m["minProperties"] = 2
	return json.Marshal(m)
}

// pageSchema is the structured result of a list tool.
func pageSchema(record json.RawMessage) (json.RawMessage, error) {
	var rec any
	if err := json.Unmarshal(record, &rec); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"type":     "object",
		"required": []string{"data", "limit", "has_more", "next_cursor"},
		"properties": map[string]any{
			"data":        map[string]any{"type": "array", "items": rec, "description": "The page, newest first."},
			"limit":       map[string]any{"type": "integer", "description": "The page size used."},
			"has_more":    map[string]any{"type": "boolean", "description": "Whether records follow this page."},
			"next_cursor": map[string]any{"type": []string{"string", "null"}, "description": "Pass as cursor (with the same filters) for the next page; null on the last page."},
		},
	})
}

// page is the structured result of a list tool.
type page struct {
	Data       []resource.Record `json:"data"`
	Limit      int               `json:"limit"`
	HasMore    bool              `json:"has_more"`
	NextCursor *string           `json:"next_cursor"`
}

func (s *Server) listTool(r resource.Resource) func(context.Context, json.RawMessage) (any, int, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, int, error) {
		args, err := objectArgs(raw)
		if err != nil {
			return nil, 0, err
		}
		qs, err := listQuery(args)
		if err != nil {
			return nil, 0, err
		}
		q, err := resource.ParseListQuery(r, s.reg.Limits(), qs)
		if err != nil {
			return nil, 0, err
		}
		p, err := s.reg.List(ctx, r.Name, q)
		if err != nil {
			return nil, 0, err
		}
		out := page{Data: p.Records, Limit: p.Limit, HasMore: p.HasMore}
		if out.Data == nil {
			out.Data = []resource.Record{}
		}
		if p.NextCursor != "" {
			out.NextCursor = &p.NextCursor
		}
		return out, http.StatusOK, nil
	}
}

func (s *Server) getTool(name string) func(context.Context, json.RawMessage) (any, int, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, int, error) {
		args, err := objectArgs(raw)
		if err != nil {
			return nil, 0, err
		}
		id, err := idArg(args)
		if err != nil {
			return nil, 0, err
		}
		if len(args) > 0 {
			return nil, 0, unsupported(args)
		}
		rec, err := s.reg.Get(ctx, name, id)
		return rec, http.StatusOK, err
	}
}

func (s *Server) createTool(name string) func(context.Context, json.RawMessage) (any, int, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, int, error) {
		args, err := objectArgs(raw)
		if err != nil {
			return nil, 0, err
		}
		rec, err := s.reg.Create(ctx, name, args)
		return rec, http.StatusCreated, err
	}
}

func (s *Server) updateTool(name string) func(context.Context, json.RawMessage) (any, int, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, int, error) {
		args, err := objectArgs(raw)
		if err != nil {
			return nil, 0, err
		}
		id, err := idArg(args)
		if err != nil {
			return nil, 0, err
		}
		rec, err := s.reg.Update(ctx, name, id, args)
		return rec, http.StatusOK, err
	}
}

func whoamiTool() *sdk.Tool {
	return &sdk.Tool{
		Name:        "whoami",
		Title:       "Who am I",
		Description: "Describes the API key in use: organization, key id and name, scopes, rate limit per minute, expiry and API version. Any valid key may call it.",
		InputSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
		OutputSchema: json.RawMessage(`{"type":"object","required":["organization_id","key_id","scopes","rate_limit_per_minute"],"properties":{` +
			`"organization_id":{"type":"string"},"key_id":{"type":"string"},"key_name":{"type":"string"},"display_prefix":{"type":"string"},` +
			`"env":{"type":"string"},"scopes":{"type":"array","items":{"type":"string"}},"rate_limit_per_minute":{"type":"integer"},` +
			`"expires_at":{"type":["string","null"]},"api_version":{"type":["string","null"]}}}`),
		Annotations: &sdk.ToolAnnotations{Title: "Who am I", ReadOnlyHint: true, OpenWorldHint: ptr(false)},
	}
}

// unsupported is 400 "Unsupported or protected fields" for arguments a tool
// does not take.
func unsupported(args map[string]json.RawMessage) error {
	names := make([]string, 0, len(args))
	for k := range args {
		names = append(names, k)
	}
	return gatehouse.FieldsError(gatehouse.MsgUnsupportedFields, names...)
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
