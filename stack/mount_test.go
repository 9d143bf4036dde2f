package stack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/keysui"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// TestHandle: mounted handlers are served before the API (even under its
// prefix), exactly or as a subtree; other paths keep the JSON 404.
func TestHandle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, stack.Options{})
	text := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gatehouse.WriteJSON(w, 200, map[string]string{"at": s}) })
	}
	e.s.Handle("/mcp", text("mcp"))
	e.s.Handle("/settings/", text("settings"))
	e.s.Handle("/v1/graphql", text("graphql"))
	for path, want := range map[string]string{"/mcp": "mcp", "/settings/a/b": "settings", "/v1/graphql": "graphql"} {
		for _, h := range []http.Handler{e.s.Handler(), e.s.Public()} {
			if r := call(t, h, "GET", path, ""); r.code != 200 || r.body["at"] != want {
				t.Errorf("GET %s: %d %s", path, r.code, r.raw)
			}
		}
	}
	for _, path := range []string{"/mcp/x", "/settings", "/elsewhere"} {
		if r := call(t, e.h, "GET", path, ""); r.code != 404 {
			t.Errorf("GET %s: %d %s", path, r.code, r.raw)
		}
	}
	if r := call(t, e.h, "GET", "/v1/notes", ""); r.code != 401 {
		t.Errorf("GET /v1/notes without a key: %d", r.code)
	}
	for _, bad := range []string{"mcp", "/mcp"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", bad)
				}
			}()
			e.s.Handle(bad, text("again"))
		}()
	}
}

// TestActionsAndKeysPage: the Actions document is served without a key;
// the keys page is mounted under its prefix with the stack's admin API.
func TestActionsAndKeysPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}, stack.Options{})
	actions, err := e.s.Actions(openapi.ActionsOptions{BaseURL: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.s.Handle("/actions/openapi.json", actions)
	r := call(t, e.h, "GET", "/actions/openapi.json", "")
	if r.code != 200 || !strings.Contains(r.raw, `"https://api.example.com"`) {
		t.Fatalf("actions: %d %.200s", r.code, r.raw)
	}
	org, _, _ := e.tenant("notes:read")
	page, err := e.s.KeysPage(context.Background(), keysui.Options{Prefix: "/keys", Viewer: func(*http.Request) (string, string, bool) { return org, "tester", true }})
	if err != nil {
		t.Fatal(err)
	}
	if on, err := page.Visible(context.Background(), org); err != nil || !on {
		t.Fatalf("Visible: %v %v", on, err)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", "/keys/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "create-key") {
		t.Fatalf("keys page: %d %.300s", rec.Code, rec.Body)
	}
	if _, err := e.s.KeysPage(context.Background(), keysui.Options{Viewer: func(*http.Request) (string, string, bool) { return "", "", false }}); err == nil {
		t.Error("KeysPage without a prefix")
	}
}

// TestDevelopmentDemo: development mode generates the admin token; Listen
// and PrintDemo show the API, the key, a curl and the admin API; the demo
// key works on the listener.
func TestDevelopmentDemo(t *testing.T) {
	t.Parallel()
	db := dbtest.DB{Name: "sqlite", DB: dbtest.SQLite(t), Dialect: tenancy.SQLite}
	s, err := stack.New(context.Background(), stack.Options{DB: db.DB, Resources: notes, KeyPrefix: "acme", Development: true, CreateTables: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !regexp.MustCompile(`^acme_admin_[A-Za-z0-9_-]{43}$`).MatchString(s.AdminToken()) {
		t.Fatalf("generated admin token %q", s.AdminToken())
	}
	ls, err := s.Listen("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var key auth.RawKey
	notes := func(addr string, k auth.RawKey) []string { key = k; return []string{"More:\n  " + addr} }
	if err := s.PrintDemo(context.Background(), &out, stack.Demo{Name: "Acme", Listeners: ls, Database: "acme.db", OrgID: "00000000-0000-4000-8000-000000000001", Notes: notes}); err != nil {
		t.Fatal(err)
	}
	addr := ls[0].Addr().String()
	for _, want := range []string{
		"Acme API on http://" + addr + "/v1 (database acme.db)\n\n",
		"\n  " + key.Reveal() + "\n",
		`curl -s "http://` + addr + `/v1/notes?limit=10" -H "Authorization: Bearer ` + key.Reveal(),
		"Admin API on http://" + addr + "/admin with:\n  Authorization: Bearer " + s.AdminToken() + "\n\nMore:\n  " + addr + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("PrintDemo lacks %q:\n%s", want, out.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ls...) }()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/notes", nil)
	req.Header.Set("Authorization", "Bearer "+key.Reveal())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET /v1/notes with the demo key: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bad, err := s.Listen("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PrintDemo(context.Background(), io.Discard, stack.Demo{Listeners: bad}); err == nil {
		t.Error("PrintDemo without an organization")
	}
	if _, err := bad[0].Accept(); err == nil {
		t.Error("PrintDemo's error left the listener open")
	}
	if s.MeteredLimiter() == nil || s.MeteredLimiter() == s.Limiter() {
		t.Error("MeteredLimiter is not the instrumented limiter")
	}
}

// TestDevelopmentThrowawayDatabase: development mode without a database
// runs on a temporary SQLite file that Close removes.
func TestDevelopmentThrowawayDatabase(t *testing.T) {
	t.Parallel()
	o := stack.Options{Resources: notes, KeyPrefix: "acme", CreateTables: true, Logger: slog.New(slog.DiscardHandler)}
	if _, err := stack.New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "Options.DB") {
		t.Fatalf("New without a database outside development: %v", err)
	}
	o.Development = true
	s, err := stack.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := s.DB()
	var seq int
	var name, file string
	if err := db.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file); err != nil || file == "" {
		t.Fatalf("database_list: %q %v", file, err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
		t.Errorf("the throwaway database's directory outlived Close: %v", err)
	}
}
