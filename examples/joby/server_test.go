package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemoServer runs the command as `-demo` on a free port, uses the key it
// prints over real HTTP, and stops it with a cancelled context (as SIGTERM).
func TestDemoServer(t *testing.T) {
	t.Parallel()
	out := runDemo(t, nil)
	if strings.Contains(out.String(), `"Name":"SELECT"`) {
		t.Error("telemetry exported without -otel")
	}
	// The MCP client configuration it prints is JSON with the URL and the
	// key's header; the Action document's URL is printed too.
	var cfg struct {
		MCPServers map[string]struct {
			Type, URL string
			Headers   map[string]string
		} `json:"mcpServers"`
	}
	m := regexp.MustCompile(`(?m)^\s+(\{"mcpServers".*\})$`).FindStringSubmatch(out.String())
	if m == nil || json.Unmarshal([]byte(m[1]), &cfg) != nil {
		t.Fatalf("no MCP client configuration in:\n%s", out)
	}
	j := cfg.MCPServers["joby"]
	if j.Type != "http" || !strings.HasSuffix(j.URL, "/mcp") || !strings.HasPrefix(j.Headers["Authorization"], "Bearer joby_live_") {
		t.Errorf("MCP configuration %+v", j)
	}
	if !regexp.MustCompile(`ChatGPT Action: import https://127\.0\.0\.1:0/actions/openapi\.json`).MatchString(out.String()) {
		t.Errorf("no Action document URL in:\n%s", out)
	}
}

// TestDemoServerStdoutTelemetry runs the demo with -otel stdout: the spans
// of the request (SQL, key lookup) and the request metrics are printed.
func TestDemoServerStdoutTelemetry(t *testing.T) {
	t.Parallel()
	out := runDemo(t, []string{"-otel", "stdout"}).String()
	for _, want := range []string{`"Name":"gatehouse.auth.lookup_key"`, `"Name":"SELECT"`, `"Name":"gatehouse.requests"`, `"gatehouse.outcome"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %s", want)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runDemo runs the command with -demo (and extra flags) on a free port,
// lists leads with the key it prints over real HTTP, stops it with a
// cancelled context (as SIGTERM) and returns everything it printed.
func runDemo(t *testing.T, extra []string) *lockedBuffer {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	db := filepath.Join(t.TempDir(), "demo.db")
	done := make(chan error, 1)
	all := &lockedBuffer{}
	go func() {
		args := append([]string{"-demo", "-addr", "127.0.0.1:0", "-db", db}, extra...)
		done <- run(ctx, args, func(string) string { return "" }, io.MultiWriter(pw, all), io.Discard)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var base, key string
	keyRe := regexp.MustCompile(`^\s+(joby_live_\S+)$`)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Joby API on http://") {
			base = strings.Fields(strings.TrimPrefix(line, "Joby API on "))[0]
		}
		if m := keyRe.FindStringSubmatch(line); m != nil && key == "" {
			key = m[1]
		}
		if strings.HasPrefix(line, "Admin API") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" || key == "" {
		t.Fatalf("demo output lacks address or key (base %q)", base)
	}
	req, _ := http.NewRequest("GET", base+"/leads?limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || body["request_id"] == nil {
		t.Fatalf("GET leads: %d %v", res.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	return all
}
