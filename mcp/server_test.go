package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"gatehouse.dev"
	"gatehouse.dev/mcp"
	"gatehouse.dev/resource"
)

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	slices.Sort(out)
	return out
}

func TestToolsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mcp.Options{})
	if got := e.srv.Tools(); !slices.Equal(got, []string{"create_note", "get_note", "list_notes", "update_note", "whoami"}) {
		t.Fatalf("registered %v", got)
	}
	for _, tc := range []struct {
		name   string
		scopes []string
		want   []string
	}{
		{"none", nil, []string{"whoami"}},
		{"read", []string{"notes:read"}, []string{"get_note", "list_notes", "whoami"}},
		{"create", []string{"notes:create"}, []string{"create_note", "whoami"}},
		{"all", []string{"notes:read", "notes:create", "notes:update"}, []string{"create_note", "get_note", "list_notes", "update_note", "whoami"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, _ := e.key(e.orgA, 100, tc.scopes...)
			if got := toolNames(t, e.connect(key)); !slices.Equal(got, tc.want) {
				t.Errorf("tools %v, want %v", got, tc.want)
			}
		})
	}

	key, _ := e.key(e.orgA, 100, "notes:read", "notes:create", "notes:update")
	res, err := e.connect(key).ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range res.Tools {
		a := tl.Annotations
		if a == nil || tl.InputSchema == nil || tl.OutputSchema == nil || tl.Description == "" {
			t.Fatalf("%s: incomplete %+v", tl.Name, tl)
		}
		ro, destructive := a.ReadOnlyHint, a.DestructiveHint == nil || *a.DestructiveHint
		switch {
		case strings.HasPrefix(tl.Name, "list_"), strings.HasPrefix(tl.Name, "get_"), tl.Name == "whoami":
			if !ro {
				t.Errorf("%s: not read-only", tl.Name)
			}
		case strings.HasPrefix(tl.Name, "create_"):
			if ro || destructive || a.IdempotentHint {
				t.Errorf("%s: annotations %+v", tl.Name, a)
			}
		case strings.HasPrefix(tl.Name, "update_"):
			if ro || !destructive || !a.IdempotentHint {
				t.Errorf("%s: annotations %+v", tl.Name, a)
			}
		}
	}
	in := map[string]any{}
	for _, tl := range res.Tools {
		b, _ := json.Marshal(tl.InputSchema)
		in[tl.Name] = string(b)
	}
	for name, want := range map[string]string{
		"list_notes":  `"cursor"`,
		"create_note": `"required":["title"]`,
		"update_note": `"required":["id"]`,
		"get_note":    `"format":"uuid"`,
	} {
		if s, _ := in[name].(string); !strings.Contains(s, want) {
			t.Errorf("%s input schema %s lacks %s", name, s, want)
		}
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mcp.Options{})
	key, keyID := e.key(e.orgA, 100, "notes:read", "notes:create", "notes:update")
	cs := e.connect(key)

	n, isErr := call(t, cs, "create_note", map[string]any{"title": "First", "status": "open", "stars": 3})
	if isErr || n["title"] != "First" || n["organization_id"] != e.orgA {
		t.Fatalf("create: %v", n)
	}
	id, _ := n["id"].(string)
	for i := range 3 {
		if _, isErr := call(t, cs, "create_note", map[string]any{"title": "More " + string(rune('a'+i)), "status": "open"}); isErr {
			t.Fatal("create")
		}
	}
	g, isErr := call(t, cs, "get_note", map[string]any{"id": id})
	if isErr || g["id"] != id || g["stars"] != float64(3) {
		t.Fatalf("get: %v", g)
	}
	// Paging with typed filters and cursors.
	p, isErr := call(t, cs, "list_notes", map[string]any{"status": "open", "limit": 3})
	data, _ := p["data"].([]any)
	if isErr || len(data) != 3 || p["has_more"] != true || p["next_cursor"] == nil {
		t.Fatalf("list: %v", p)
	}
	p, _ = call(t, cs, "list_notes", map[string]any{"status": "open", "limit": 3, "cursor": p["next_cursor"]})
	if data, _ = p["data"].([]any); len(data) != 1 || p["has_more"] != false || p["next_cursor"] != nil {
		t.Fatalf("page 2: %v", p)
	}
	if p, _ = call(t, cs, "list_notes", map[string]any{"stars": 3, "q": "fir"}); len(p["data"].([]any)) != 1 {
		t.Fatalf("filter: %v", p)
	}
	u, isErr := call(t, cs, "update_note", map[string]any{"id": id, "status": "done", "email": nil})
	if isErr || u["status"] != "done" || u["title"] != "First" {
		t.Fatalf("update: %v", u)
	}
	w, isErr := call(t, cs, "whoami", nil)
	if isErr || w["key_id"] != keyID || w["organization_id"] != e.orgA {
		t.Fatalf("whoami: %v", w)
	}

	// Errors: the REST messages and details, as tool errors.
	for _, tc := range []struct {
		name, tool string
		args       any
		msg        string
		check      func(map[string]any) bool
	}{
		{"field details", "create_note", map[string]any{"title": " ", "email": "x", "stars": 1.5}, gatehouse.MsgInvalidFieldValues, func(m map[string]any) bool {
			return mustJSON(t, m["fields"]) == `["email","stars","title"]` && len(m["details"].([]any)) == 3
		}},
		{"protected", "create_note", map[string]any{"title": "x", "id": id}, gatehouse.MsgUnsupportedFields, nil},
		{"no fields", "update_note", map[string]any{"id": id}, gatehouse.MsgNoFieldsToUpdate, nil},
		{"missing id", "get_note", map[string]any{}, gatehouse.MsgInvalidFieldValues, nil},
		{"unknown id", "get_note", map[string]any{"id": "3f1c1bd0-0000-4000-8000-000000000000"}, gatehouse.MsgNotFound, nil},
		{"malformed id", "update_note", map[string]any{"id": "nope", "status": "x"}, gatehouse.MsgNotFound, nil},
		{"unknown filter", "list_notes", map[string]any{"title": "x"}, gatehouse.MsgUnsupportedFilters, nil},
		{"bad filter", "list_notes", map[string]any{"stars": "many", "limit": 0}, gatehouse.MsgInvalidQuery, func(m map[string]any) bool {
			return mustJSON(t, m["fields"]) == `["limit","stars"]`
		}},
		{"object filter", "list_notes", map[string]any{"status": map[string]any{}}, gatehouse.MsgInvalidQuery, nil},
		{"bad cursor", "list_notes", map[string]any{"cursor": "abc"}, gatehouse.MsgInvalidCursor, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, isErr := call(t, cs, tc.tool, tc.args)
			if !isErr || m["error"] != tc.msg || m["request_id"] == "" || (tc.check != nil && !tc.check(m)) {
				t.Errorf("%v → %v %v", tc.args, isErr, m)
			}
		})
	}

	// Another organization sees nothing.
	keyB, _ := e.key(e.orgB, 100, "notes:read", "notes:update")
	csB := e.connect(keyB)
	if m, isErr := call(t, csB, "get_note", map[string]any{"id": id}); !isErr || m["error"] != gatehouse.MsgNotFound {
		t.Errorf("cross-org get: %v", m)
	}
	if m, isErr := call(t, csB, "update_note", map[string]any{"id": id, "title": "mine"}); !isErr || m["error"] != gatehouse.MsgNotFound {
		t.Errorf("cross-org update: %v", m)
	}
	if p, _ := call(t, csB, "list_notes", nil); len(p["data"].([]any)) != 0 {
		t.Errorf("cross-org list: %v", p)
	}
	// A tool outside the key's scopes is a tool error naming the scope.
	if m, isErr := call(t, csB, "create_note", map[string]any{"title": "x"}); !isErr || m["error"] != gatehouse.MsgMissingScope || m["required_scope"] != "notes:create" {
		t.Errorf("missing scope: %v", m)
	}
	// The schema resource.
	rr, err := cs.ReadResource(context.Background(), &sdk.ReadResourceParams{URI: mcp.DefaultSchemaURI})
	if err != nil || len(rr.Contents) != 1 || !strings.Contains(rr.Contents[0].Text, `"notes"`) {
		t.Fatalf("schema: %v %v", rr, err)
	}
}

func TestLimitAndAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mcp.Options{})
	key, keyID := e.key(e.orgA, 2, "notes:read", "notes:create")
	cs := e.connect(key)
	for range 3 {
		toolNames(t, cs) // not counted
	}
	if _, isErr := call(t, cs, "create_note", map[string]any{"title": "a"}); isErr {
		t.Fatal("create refused")
	}
	if m, isErr := call(t, cs, "create_note", map[string]any{}); !isErr || m["error"] != gatehouse.MsgInvalidFieldValues {
		t.Fatalf("invalid create: %v", m)
	}
	m, isErr := call(t, cs, "list_notes", nil)
	if !isErr || m["error"] != gatehouse.MsgRateLimited || m["retry_after"] != float64(30) {
		t.Fatalf("third call: %v", m)
	}
	e.clock.Add(30 * time.Second)
	if _, isErr := call(t, cs, "list_notes", nil); isErr {
		t.Fatal("refused after the retry time")
	}
	if m, isErr := call(t, cs, "update_note", map[string]any{"id": "x", "title": "y"}); !isErr || m["error"] != gatehouse.MsgRateLimited {
		t.Fatalf("update: %v", m)
	}
	e.clock.Add(30 * time.Second)
	if m, isErr := call(t, cs, "update_note", map[string]any{"id": "x", "title": "y"}); !isErr || m["error"] != gatehouse.MsgMissingScope {
		t.Fatalf("update without scope: %v", m)
	}

	entries, err := e.audit.Latest(context.Background(), e.orgA, keyID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		en := entries[i]
		got = append(got, en.Route+" "+http.StatusText(en.Status))
		if en.Method != http.MethodPost || en.Path != "/" || en.RequestID == "" || en.OrganizationID != e.orgA {
			t.Errorf("entry %+v", en)
		}
	}
	// Tool calls the limit refused are counted per key, not kept among the
	// latest entries (audit.Refused), as for REST.
	want := []string{
		"MCP create_note Created", "MCP create_note Bad Request",
		"MCP list_notes OK", "MCP update_note Forbidden",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit\n got %q\nwant %q", got, want)
	}
	refused, err := e.audit.Refused(context.Background(), e.orgA, keyID)
	if err != nil || refused.Count != 2 {
		t.Errorf("refused %+v, %v; want 2 tool calls counted", refused, err)
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mcp.Options{AllowedOrigins: []string{"https://app.example.com"}})
	key, keyID := e.key(e.orgA, 100, "notes:read")
	init := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
	post := func(origin, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(init))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	for _, tc := range []struct {
		name, origin, auth string
		status             int
	}{
		{"no key", "", "", http.StatusUnauthorized},
		{"bad key", "", "Bearer test_live_nope", http.StatusUnauthorized},
		{"foreign origin", "https://evil.example", "Bearer " + key, http.StatusForbidden},
		{"allowed origin", "https://app.example.com", "Bearer " + key, http.StatusOK},
		{"no origin", "", "Bearer " + key, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(tc.origin, tc.auth)
			if res.StatusCode != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
	}
	// A revoked key is refused on its next request.
	cs := e.connect(key)
	toolNames(t, cs)
	if _, err := e.store.RevokeKey(context.Background(), e.orgA, keyID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_notes"}); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("revoked key: %v", err)
	}
	for _, bad := range []mcp.Options{{AllowedOrigins: []string{"https://x.example/path"}}, {SchemaURI: "schema"}} {
		bad.Registry = nil
		if _, err := mcp.New(bad); err == nil {
			t.Error("New accepted bad options")
		}
	}
}

// TestIntegerIDs drives a resource whose ids are integers the database
// makes: ids travel as JSON numbers (or their decimal strings).
func TestIntegerIDs(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, mcp.Options{}, `CREATE TABLE parts (part_id INTEGER PRIMARY KEY, org TEXT NOT NULL, name TEXT)`, []resource.Resource{{
		Name: "parts", IDColumn: "part_id", IDType: resource.IDInteger, OrgColumn: "org",
		Created: resource.Timestamp{None: true}, Updated: resource.Timestamp{None: true},
		Fields: []resource.Field{{Name: "name"}}, Filters: []string{"id"},
	}})
	key, _ := e.key(e.orgA, 100, "parts:read", "parts:create", "parts:update")
	cs := e.connect(key)
	p, isErr := call(t, cs, "create_part", map[string]any{"name": "bolt"})
	id, ok := p["id"].(float64)
	if isErr || !ok || id < 1 {
		t.Fatalf("create: %v", p)
	}
	for _, arg := range []any{id, strconv.FormatFloat(id, 'f', -1, 64)} {
		if g, isErr := call(t, cs, "get_part", map[string]any{"id": arg}); isErr || g["id"] != id {
			t.Errorf("get %v: %v", arg, g)
		}
	}
	if u, isErr := call(t, cs, "update_part", map[string]any{"id": id, "name": "nut"}); isErr || u["name"] != "nut" {
		t.Errorf("update: %v", u)
	}
	if l, isErr := call(t, cs, "list_parts", map[string]any{"id": id}); isErr || len(l["data"].([]any)) != 1 {
		t.Errorf("list: %v", l)
	}
	for _, bad := range []any{true, map[string]any{}, nil} {
		if m, isErr := call(t, cs, "get_part", map[string]any{"id": bad}); !isErr || m["error"] != gatehouse.MsgInvalidFieldValues {
			t.Errorf("id %v: %v", bad, m)
		}
	}
}
