package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpTransport sends each request to the next of urls in turn (one URL: a
// single server; several: pods behind a round-robin balancer) with the key.
type mcpTransport struct {
	urls []string
	key  string
	n    atomic.Int64
	hits []atomic.Int64
}

func (m *mcpTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	i := int(m.n.Add(1)-1) % len(m.urls)
	m.hits[i].Add(1)
	r = r.Clone(r.Context())
	u, err := r.URL.Parse(m.urls[i] + "/mcp")
	if err != nil {
		return nil, err
	}
	r.URL, r.Host = u, u.Host
	r.Header.Set("Authorization", "Bearer "+m.key)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpConnect opens an MCP session with the SDK's client over HTTP.
func mcpConnect(t *testing.T, key string, urls ...string) (*sdk.ClientSession, *mcpTransport) {
	t.Helper()
	tr := &mcpTransport{urls: urls, key: key, hits: make([]atomic.Int64, len(urls))}
	c := sdk.NewClient(&sdk.Implementation{Name: "joby-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint: urls[0] + "/mcp", HTTPClient: &http.Client{Transport: tr},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, tr
}

// tool calls a tool: the decoded structured result or tool error body, and
// whether it is a tool error.
func tool(t *testing.T, cs *sdk.ClientSession, name string, args any) (map[string]any, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	text, _ := res.Content[0].(*sdk.TextContent)
	var out map[string]any
	if text == nil || json.Unmarshal([]byte(text.Text), &out) != nil {
		t.Fatalf("%s: content %v", name, res.Content)
	}
	return out, res.IsError
}

func mcpTools(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// TestMCP drives the example's MCP server with the SDK's own client over
// HTTP, on SQLite and PostgreSQL.
func TestMCP(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		srv := httptest.NewServer(a.h)
		t.Cleanup(srv.Close)
		org, key, keyID := a.tenant()

		t.Run("tools/list per scope set", func(t *testing.T) {
			readLeads, _ := a.newKey(org, `{"name":"r","scopes":["leads:read"]}`)
			tasks, _ := a.newKey(org, `{"name":"t","scopes":["tasks:create","tasks:update"]}`)
			for _, tc := range []struct {
				key  string
				want string
			}{
				{readLeads, "get_lead list_leads whoami"},
				{tasks, "create_task update_task whoami"},
				{key, "create_appointment create_client create_lead create_task get_appointment get_client get_lead get_task " +
					"list_appointments list_clients list_leads list_tasks update_appointment update_client update_lead update_task whoami"},
			} {
				cs, _ := mcpConnect(t, tc.key, srv.URL)
				if got := strings.Join(mcpTools(t, cs), " "); got != tc.want {
					t.Errorf("tools %s, want %s", got, tc.want)
				}
			}
		})

		cs, _ := mcpConnect(t, key, srv.URL)
		client, _ := tool(t, cs, "create_client", map[string]any{"first_name": "Ann", "company_name": "Acme"})
		clientID, _ := client["id"].(string)
		for _, tc := range []struct {
			one, many string
			create    map[string]any
			update    map[string]any
			filter    string
		}{
			{"lead", "leads", map[string]any{"first_name": "Lee", "status": "New", "client_id": clientID}, map[string]any{"status": "Won"}, "status"},
			{"client", "clients", map[string]any{"first_name": "Cy", "email": "cy@example.com"}, map[string]any{"phone": "+15550100"}, "email"},
			{"appointment", "appointments", map[string]any{"appointment_date": "2026-03-02", "appointment_time": "09:30", "phone": "+15550111", "custom_fields": map[string]any{"gate": "B"}},
				map[string]any{"status": "confirmed"}, "phone"},
			{"task", "tasks", map[string]any{"title": "Call back", "priority": "high"}, map[string]any{"status": "done"}, "priority"},
		} {
			t.Run(tc.many, func(t *testing.T) {
				rec, isErr := tool(t, cs, "create_"+tc.one, tc.create)
				if isErr || rec["organization_id"] != org {
					t.Fatalf("create: %v", rec)
				}
				id, _ := rec["id"].(string)
				if got, isErr := tool(t, cs, "get_"+tc.one, map[string]any{"id": id}); isErr || got["id"] != id {
					t.Fatalf("get: %v", got)
				}
				page, isErr := tool(t, cs, "list_"+tc.many, map[string]any{tc.filter: rec[tc.filter], "limit": 5})
				if data, _ := page["data"].([]any); isErr || len(data) != 1 || data[0].(map[string]any)["id"] != id {
					t.Fatalf("list: %v", page)
				}
				args := map[string]any{"id": id}
				for k, v := range tc.update {
					args[k] = v
				}
				up, isErr := tool(t, cs, "update_"+tc.one, args)
				for k, v := range tc.update {
					if isErr || up[k] != v {
						t.Fatalf("update: %v", up)
					}
				}
				// The same record over REST.
				if r := a.key(key, "GET", "/v1/"+tc.many+"/"+id, ""); r.Code != 200 || r.data()["updated_at"] != up["updated_at"] {
					t.Fatalf("REST get: %d %s", r.Code, r.Raw)
				}
			})
		}

		t.Run("errors", func(t *testing.T) {
			m, isErr := tool(t, cs, "create_lead", map[string]any{"email": "not an email", "client_id": "nope"})
			if !isErr || m["error"] != "Invalid field values" || fieldsOf(resp{Body: m}) != "[client_id email]" {
				t.Errorf("validation: %v", m)
			}
			if d, _ := m["details"].([]any); len(d) != 2 || d[1].(map[string]any)["message"] == "" {
				t.Errorf("details: %v", m["details"])
			}
			_, keyB, _ := a.tenant()
			csB, _ := mcpConnect(t, keyB, srv.URL)
			if m, isErr := tool(t, csB, "get_client", map[string]any{"id": clientID}); !isErr || m["error"] != "Not found" {
				t.Errorf("cross-org get: %v", m)
			}
			readOnly, _ := a.newKey(org, `{"name":"ro","scopes":["leads:read"]}`)
			csR, _ := mcpConnect(t, readOnly, srv.URL)
			if m, isErr := tool(t, csR, "create_lead", map[string]any{}); !isErr || m["error"] != "Missing scope" || m["required_scope"] != "leads:create" {
				t.Errorf("missing scope: %v", m)
			}
		})

		t.Run("rate limit", func(t *testing.T) {
			limited, limitedID := a.newKey(org, `{"name":"slow","scopes":["leads:read"],"rate_limit_per_minute":2}`)
			csL, _ := mcpConnect(t, limited, srv.URL)
			mcpTools(t, csL) // not counted
			for range 2 {
				if m, isErr := tool(t, csL, "list_leads", nil); isErr {
					t.Fatalf("list: %v", m)
				}
			}
			m, isErr := tool(t, csL, "list_leads", nil)
			if retry, _ := m["retry_after"].(float64); !isErr || m["error"] != "Rate limit exceeded" || retry < 1 {
				t.Fatalf("third call: %v", m)
			}
			// The tools' calls and REST share the key's limit.
			if r := a.key(limited, "GET", "/v1/leads", ""); r.Code != 429 {
				t.Errorf("REST after the tool calls: %d", r.Code)
			}
			// The two refused calls are counted, not kept among the
			// latest requests (issue 13).
			entries := a.auditOf(org, limitedID, func(l []map[string]any) bool { return len(l) >= 2 })
			var rl map[string]any
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				rl, _ = a.admin("GET", "/orgs/"+org+"/api-keys/"+limitedID+"/audit", "").Body["rate_limited"].(map[string]any)
				if rl["count"] == float64(2) || time.Now().After(deadline) {
					break
				}
			}
			if rl["count"] != float64(2) {
				t.Errorf("rate_limited %v, want count 2 (the tool call and the REST call)", rl)
			}
			var got []string
			for _, e := range entries {
				route, _ := e["route"].(string)
				if !strings.HasPrefix(route, "MCP ") {
					route = "REST" // the REST limiter answers before routing
				}
				got = append(got, route+" "+jsonNumber(e["status"]))
			}
			slices.Sort(got)
			if want := []string{"MCP list_leads 200", "MCP list_leads 200"}; !slices.Equal(got, want) {
				t.Errorf("audit %v, want %v", got, want)
			}
		})

		t.Run("audit", func(t *testing.T) {
			entries := a.auditOf(org, keyID, func(l []map[string]any) bool {
				return slices.ContainsFunc(l, func(e map[string]any) bool { return e["route"] == "MCP create_lead" && e["status"] == float64(400) })
			})
			routes := map[string]bool{}
			for _, e := range entries {
				routes[e["route"].(string)+" "+jsonNumber(e["status"])] = true
			}
			for _, want := range []string{"MCP create_client 201", "MCP create_lead 201", "MCP create_lead 400", "MCP get_task 200", "MCP update_appointment 200", "MCP list_clients 200"} {
				if !routes[want] {
					t.Errorf("no audit entry %q in %v", want, routes)
				}
			}
		})

		t.Run("revoked key", func(t *testing.T) {
			k, id := a.newKey(org, `{"name":"gone","scopes":["leads:read"]}`)
			csK, _ := mcpConnect(t, k, srv.URL)
			if _, isErr := tool(t, csK, "list_leads", nil); isErr {
				t.Fatal("list refused")
			}
			a.admin("POST", "/orgs/"+org+"/api-keys/"+id+"/revoke", "")
			if _, err := csK.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_leads"}); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
				t.Errorf("revoked key: %v", err)
			}
		})

		t.Run("actions document without a key", func(t *testing.T) {
			r := a.do("GET", actionsPath, "")
			servers, _ := r.Body["servers"].([]any)
			if r.Code != 200 || len(servers) != 1 || !strings.HasPrefix(servers[0].(map[string]any)["url"].(string), "https://") {
				t.Fatalf("%d %v", r.Code, servers)
			}
		})
	})
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPodsMCP runs a session across two pods sharing PostgreSQL and Redis:
// it begins on one and continues on the other (the server is stateless),
// and a key revoked on one pod is refused by the other on its next call.
func TestPodsMCP(t *testing.T) {
	t.Parallel()
	p := startPods(t, 2)
	org := p.admin(0, "POST", "/orgs", `{"name":"Pods"}`)["id"].(string)
	p.admin(1, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	k := p.admin(0, "POST", "/orgs/"+org+"/api-keys", `{"name":"agent","scopes":["leads:read","leads:create"]}`)
	key, keyID := k["key"].(string), k["id"].(string)

	cs, tr := mcpConnect(t, key, p.urls...)
	if got := strings.Join(mcpTools(t, cs), " "); got != "create_lead get_lead list_leads whoami" {
		t.Fatalf("tools %s", got)
	}
	lead, isErr := tool(t, cs, "create_lead", map[string]any{"first_name": "Pia"})
	if isErr {
		t.Fatalf("create: %v", lead)
	}
	for range 2 {
		if got, isErr := tool(t, cs, "get_lead", map[string]any{"id": lead["id"]}); isErr || got["first_name"] != "Pia" {
			t.Fatalf("get: %v", got)
		}
	}
	if tr.hits[0].Load() == 0 || tr.hits[1].Load() == 0 {
		t.Fatalf("requests per pod %d, %d", tr.hits[0].Load(), tr.hits[1].Load())
	}

	p.admin(0, "POST", "/orgs/"+org+"/api-keys/"+keyID+"/revoke", "")
	deadline := time.Now().Add(2 * time.Second)
	for {
		// Each attempt goes to the next pod; both must refuse.
		refused := 0
		for range 2 {
			if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_leads"}); err != nil && strings.Contains(err.Error(), "Unauthorized") {
				refused++
			}
		}
		if refused == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still served by a pod after 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
