package graphqlclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// demo is a running `joby -demo`.
type demo struct {
	base       string // http://127.0.0.1:port
	key        string // the demo organization's full-scope key
	adminToken string
	orgID      string // the demo organization
}

// startDemo builds the example, runs it with -demo on a free loopback port
// and a fresh SQLite file, and reads its address, key and admin token from
// what it prints. The process is stopped (SIGTERM) when the test ends.
func startDemo(t *testing.T) demo {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "joby")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "joby")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../joby: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-demo", "-addr", "127.0.0.1:0", "-db", filepath.Join(dir, "demo.db"))
	cmd.Env = append(os.Environ(), "ADMIN_TOKEN=", "ADDR=", "DATABASE_URL=", "REDIS_URL=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("joby did not stop on SIGTERM")
		}
	})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var d demo
	keyRe := regexp.MustCompile(`^\s+(joby_live_\S+)$`)
	tokenRe := regexp.MustCompile(`^\s+Authorization: Bearer (\S+)$`)
	timeout := time.After(60 * time.Second)
	for d.adminToken == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("joby exited before printing the demo credentials:\n%s", logs.String())
			}
			if rest, ok := strings.CutPrefix(line, "Joby API on "); ok {
				d.base = strings.TrimSuffix(strings.Fields(rest)[0], "/v1")
			}
			if m := keyRe.FindStringSubmatch(line); m != nil && d.key == "" {
				d.key = m[1]
			}
			if m := tokenRe.FindStringSubmatch(line); m != nil {
				d.adminToken = m[1]
			}
		case <-timeout:
			t.Fatalf("no demo credentials after 60 s:\n%s", logs.String())
		}
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	if d.base == "" || d.key == "" {
		t.Fatalf("demo output lacks the address or the key")
	}
	return d
}

// authTransport adds the API key to every request.
type authTransport struct{ key string }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+a.key)
	return http.DefaultTransport.RoundTrip(r)
}

// client returns the generated client's transport on the demo's GraphQL
// endpoint, authenticated with key.
func (d demo) client(key string) graphql.Client {
	return graphql.NewClient(d.base+"/v1/graphql", &http.Client{Transport: authTransport{key: key}, Timeout: 30 * time.Second})
}

// TestClientAgainstDemo drives a running example through the generated
// client: create a client, a lead refused with userErrors, a lead, list
// it with its client nested, fetch it by id and through node, update it
// with a null that clears and a field left alone.
func TestClientAgainstDemo(t *testing.T) {
	d := startDemo(t)
	ctx := context.Background()
	c := d.client(d.key)

	cl, err := CreateClient(ctx, c, Input{"firstName": "Cleo", "lastName": "Client"})
	if err != nil || len(cl.ClientCreate.UserErrors) != 0 || cl.ClientCreate.Client.FirstName != "Cleo" {
		t.Fatalf("clientCreate: %+v %v", cl, err)
	}
	clientID := cl.ClientCreate.Client.Id

	bad, err := CreateLead(ctx, c, Input{"firstName": "Ann", "email": "ann@"})
	if err != nil || bad.LeadCreate.Lead.Id != "" || len(bad.LeadCreate.UserErrors) != 1 ||
		!slices.Equal(bad.LeadCreate.UserErrors[0].Path, []string{"input", "email"}) || bad.LeadCreate.UserErrors[0].Message == "" {
		t.Fatalf("leadCreate with a bad email: %+v %v", bad, err)
	}
	made, err := CreateLead(ctx, c, Input{"firstName": "Ann", "email": "ann@example.com", "clientId": clientID})
	if err != nil || len(made.LeadCreate.UserErrors) != 0 || made.LeadCreate.Lead.Client.FirstName != "Cleo" {
		t.Fatalf("leadCreate: %+v %v", made, err)
	}
	leadID := made.LeadCreate.Lead.Id

	list, err := ListLeads(ctx, c, 20, "")
	if err != nil || len(list.Leads.Nodes) != 1 || list.Leads.Nodes[0].Id != leadID || list.Leads.Nodes[0].Client.Id != clientID ||
		list.Leads.Nodes[0].LeadNumber == "" || list.Leads.PageInfo.HasNextPage {
		t.Fatalf("leads: %+v %v", list, err)
	}
	got, err := GetLead(ctx, c, leadID)
	if err != nil || got.Lead.FirstName != "Ann" || got.Lead.ClientId != clientID {
		t.Fatalf("lead: %+v %v", got, err)
	}
	node, err := GetNode(ctx, c, leadID)
	if lead, ok := node.GetNode().(*GetNodeNodeLead); err != nil || !ok || lead.FirstName != "Ann" {
		t.Fatalf("node: %+v %v", node, err)
	}

	up, err := UpdateLead(ctx, c, leadID, Input{"email": nil, "status": "won"})
	if err != nil || up.LeadUpdate.Lead.FirstName != "Ann" || up.LeadUpdate.Lead.Status != "won" || up.LeadUpdate.Lead.Email != "" {
		t.Fatalf("leadUpdate: %+v %v", up, err)
	}

	// Another key of another organization sees nothing: null and an error.
	org := d.admin(t, "POST", "/orgs", `{"name":"Other"}`)["id"].(string)
	d.admin(t, "PATCH", "/orgs/"+org, `{"api_enabled":true}`)
	other := d.client(d.newKey(t, org, "leads:read"))
	if res, err := GetLead(ctx, other, leadID); err == nil || res.Lead.Id != "" || !strings.Contains(err.Error(), "Not found") {
		t.Fatalf("cross-organization: %+v %v", res, err)
	}
}

// introspectionQuery is graphql-js's getIntrospectionQuery.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`

// introType is a type of the introspection answer.
type introType struct {
	Kind   string
	Name   string
	Fields []struct {
		Name string
		Args []struct {
			Name string
			Type typeRef
		}
		Type typeRef
	}
	InputFields []struct {
		Name string
		Type typeRef
	}
	Interfaces    []typeRef
	PossibleTypes []typeRef
}

type typeRef struct {
	Kind   string
	Name   string
	OfType *typeRef
}

// String prints the reference as SDL does.
func (r typeRef) String() string {
	switch r.Kind {
	case "NON_NULL":
		return r.OfType.String() + "!"
	case "LIST":
		return "[" + r.OfType.String() + "]"
	}
	return r.Name
}

// TestIntrospectionMatchesSDL introspects the running example and checks
// that it describes the committed schema exactly: the same types, kinds,
// fields, arguments, input fields, interfaces and possible types.
func TestIntrospectionMatchesSDL(t *testing.T) {
	d := startDemo(t)
	raw, err := os.ReadFile("../joby/testdata/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	sdl, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(raw)})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Data struct {
			Schema struct {
				QueryType    struct{ Name string }
				MutationType struct{ Name string }
				Types        []introType
			} `json:"__schema"`
		}
		Errors []any
	}
	if err := d.client(d.key).MakeRequest(context.Background(), &graphql.Request{Query: introspectionQuery, OpName: "IntrospectionQuery"}, &graphql.Response{Data: &resp.Data}); err != nil {
		t.Fatal(err)
	}
	s := resp.Data.Schema
	if s.QueryType.Name != "Query" || s.MutationType.Name != "Mutation" {
		t.Fatalf("roots %+v", s)
	}
	seen := map[string]bool{}
	for _, ty := range s.Types {
		seen[ty.Name] = true
		def := sdl.Types[ty.Name]
		if def == nil {
			t.Errorf("introspected type %s is not in the SDL", ty.Name)
			continue
		}
		if ty.Kind != string(def.Kind) {
			t.Errorf("%s: kind %s, SDL %s", ty.Name, ty.Kind, def.Kind)
		}
		var got, want []string
		for _, f := range ty.Fields {
			var args []string
			for _, a := range f.Args {
				args = append(args, a.Name+":"+a.Type.String())
			}
			got = append(got, fmt.Sprintf("%s(%s):%s", f.Name, strings.Join(args, ","), f.Type))
		}
		for _, f := range ty.InputFields {
			got = append(got, f.Name+":"+f.Type.String())
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if def.Kind == ast.InputObject {
				want = append(want, f.Name+":"+f.Type.String())
				continue
			}
			var args []string
			for _, a := range f.Arguments {
				args = append(args, a.Name+":"+a.Type.String())
			}
			want = append(want, fmt.Sprintf("%s(%s):%s", f.Name, strings.Join(args, ","), f.Type))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: introspected %v, SDL %v", ty.Name, got, want)
		}
		var ifaces, possible []string
		for _, i := range ty.Interfaces {
			ifaces = append(ifaces, i.Name)
		}
		for _, p := range ty.PossibleTypes {
			possible = append(possible, p.Name)
		}
		var wantPossible []string
		for _, p := range sdl.GetPossibleTypes(def) {
			if def.Kind == ast.Interface || def.Kind == ast.Union {
				wantPossible = append(wantPossible, p.Name)
			}
		}
		slices.Sort(wantPossible)
		if !slices.Equal(ifaces, def.Interfaces) || !slices.Equal(possible, wantPossible) {
			t.Errorf("%s: interfaces %v / %v, possible types %v / %v", ty.Name, ifaces, def.Interfaces, possible, wantPossible)
		}
	}
	for name := range sdl.Types {
		if !seen[name] {
			t.Errorf("SDL type %s is missing from introspection", name)
		}
	}
}

// TestGeneratedUpToDate regenerates the client from the committed schema
// into a temporary file with the module's own genqlient (its tool
// directive; offline, from the module cache) and fails if generated.go
// differs: run `go generate ./...` after the schema or the operations
// changed.
func TestGeneratedUpToDate(t *testing.T) {
	cfg, err := os.ReadFile("genqlient.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The output goes next to generated.go (a dot file, which the go
	// command ignores) so that genqlient sees the same package.
	out := ".generated-check.go"
	t.Cleanup(func() { _ = os.Remove(out) })
	c := strings.Replace(string(cfg), "generated: generated.go", "generated: "+out, 1)
	if c == string(cfg) {
		t.Fatal("genqlient.yaml has no `generated: generated.go` line")
	}
	cfgPath := ".genqlient-check.yaml"
	t.Cleanup(func() { _ = os.Remove(cfgPath) })
	if err := os.WriteFile(cfgPath, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "genqlient", cfgPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genqlient: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("generated.go is out of date with ../joby/testdata/schema.graphql or operations.graphql: run `go generate ./...` in examples/graphqlclient")
	}
}

// admin calls the admin API (which the document does not describe) and
// decodes data.
func (d demo) admin(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, d.base+"/admin"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data map[string]any `json:"data"`
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("%s /admin%s: %d %s", method, path, res.StatusCode, b)
	}
	return out.Data
}

// newKey issues a key of the organization with the scopes.
func (d demo) newKey(t *testing.T, orgID string, scopes ...string) string {
	t.Helper()
	list, _ := json.Marshal(scopes)
	key, _ := d.admin(t, "POST", "/orgs/"+orgID+"/api-keys", `{"name":"client test","scopes":`+string(list)+`}`)["key"].(string)
	return key
}
