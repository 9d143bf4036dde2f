package client

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
	"strings"
	"syscall"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"
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

// client returns a generated client that authenticates with key.
func (d demo) client(t *testing.T, key string) *ClientWithResponses {
	t.Helper()
	c, err := NewClientWithResponses(d.base, WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+key)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// TestClientAgainstDemo drives a running example through the generated
// client: whoami, create a lead, list with a filter, patch it, a 403 for a
// missing scope, a 404 across organizations and a typed 400.
func TestClientAgainstDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	d := startDemo(t)
	ctx := context.Background()
	c := d.client(t, d.key)

	who, err := c.GetWhoAmIWithResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if who.JSON200 == nil || who.JSON200.Data.ApiVersion == nil || *who.JSON200.Data.ApiVersion != "v1" {
		t.Fatalf("whoami: %d %s", who.StatusCode(), who.Body)
	}
	d.orgID = who.JSON200.Data.OrganizationId

	// Create a lead, then find it with a filter.
	status := fmt.Sprintf("new-%d", time.Now().UnixNano())
	created, err := c.CreateLeadWithResponse(ctx, &CreateLeadParams{IdempotencyKey: ptr("client-test-" + status)}, CreateLeadJSONRequestBody{
		FirstName: ptr("Ann"), LastName: ptr("Lee"), Email: ptr(openapi_types.Email("ann@example.com")),
		Status: ptr(status), ScheduledAt: ptr(time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.JSON201 == nil || created.JSON201.Data.Id == nil || created.JSON201.Data.LeadNumber == nil {
		t.Fatalf("createLead: %d %s", created.StatusCode(), created.Body)
	}
	lead := created.JSON201.Data
	if loc := created.HTTPResponse.Header.Get("Location"); loc != "/v1/leads/"+lead.Id.String() {
		t.Errorf("Location %q", loc)
	}

	list, err := c.ListLeadsWithResponse(ctx, &ListLeadsParams{Status: &status, Limit: ptr(Limit(10))})
	if err != nil {
		t.Fatal(err)
	}
	if list.JSON200 == nil || len(list.JSON200.Data) != 1 || *list.JSON200.Data[0].Id != *lead.Id || list.JSON200.HasMore {
		t.Fatalf("listLeads status=%s: %d %s", status, list.StatusCode(), list.Body)
	}

	patched, err := c.UpdateLeadWithResponse(ctx, *lead.Id, nil, UpdateLeadJSONRequestBody{Status: ptr("contacted"), Notes: ptr("Called back")})
	if err != nil {
		t.Fatal(err)
	}
	if patched.JSON200 == nil || *patched.JSON200.Data.Status != "contacted" || *patched.JSON200.Data.FirstName != "Ann" ||
		!patched.JSON200.Data.UpdatedAt.After(*lead.UpdatedAt) && !patched.JSON200.Data.UpdatedAt.Equal(*lead.UpdatedAt) {
		t.Fatalf("updateLead: %d %s", patched.StatusCode(), patched.Body)
	}

	// A key without leads:create gets a typed 403 naming the scope.
	reader := d.client(t, d.newKey(t, d.orgID, "leads:read"))
	denied, err := reader.CreateLeadWithResponse(ctx, nil, CreateLeadJSONRequestBody{FirstName: ptr("Eve")})
	if err != nil {
		t.Fatal(err)
	}
	if denied.JSON403 == nil {
		t.Fatalf("createLead without scope: %d %s", denied.StatusCode(), denied.Body)
	}
	missing, err := denied.JSON403.AsErrorMissingScope()
	if err != nil || string(missing.Error) != "Missing scope" || missing.RequiredScope != "leads:create" {
		t.Fatalf("403 body: %+v %v", missing, err)
	}

	// Another organization's key gets a 404 for the lead.
	other := d.admin(t, "POST", "/orgs", `{"name":"Other"}`)["id"].(string)
	d.admin(t, "PATCH", "/orgs/"+other, `{"api_enabled":true}`)
	stranger := d.client(t, d.newKey(t, other, "leads:read", "leads:update"))
	got, err := stranger.GetLeadWithResponse(ctx, *lead.Id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON404 == nil || string(got.JSON404.Error) != "Not found" {
		t.Fatalf("getLead across organizations: %d %s", got.StatusCode(), got.Body)
	}
	if r, err := stranger.UpdateLeadWithResponse(ctx, *lead.Id, nil, UpdateLeadJSONRequestBody{Status: ptr("stolen")}); err != nil || r.StatusCode() != http.StatusNotFound {
		t.Fatalf("updateLead across organizations: %v %d", err, r.StatusCode())
	}

	// A typed 400: invalid field values with details (the generated types
	// refuse a malformed email before sending; a blank title passes them).
	bad, err := c.CreateTaskWithResponse(ctx, nil, CreateTaskJSONRequestBody{Title: "   "})
	if err != nil {
		t.Fatal(err)
	}
	if bad.JSON400 == nil {
		t.Fatalf("createTask with a bad email: %d %s", bad.StatusCode(), bad.Body)
	}
	invalid, err := bad.JSON400.AsErrorInvalidFieldValues()
	if err != nil || len(invalid.Details) != 1 || invalid.Details[0].Field != "title" || invalid.Details[0].Message != "must not be blank" {
		t.Fatalf("400 body: %+v %v", invalid, err)
	}
}
