package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/stack"
)

// A service with a notes table puts a public API in front of it, protects
// one of its own handlers, and serves both.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "stack-example-")
	defer os.RemoveAll(dir)
	db, _, _ := sqldb.Open(filepath.Join(dir, "notes.db"))
	defer db.Close()
	_, _ = db.Exec(`CREATE TABLE notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, title TEXT NOT NULL,
		created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`)

	keyring, _ := gatehouse.ParseKeyring("k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY") // from GATEHOUSE_SECRET_KEYS
	s, err := stack.New(ctx, stack.Options{
		DB:         db,
		Resources:  []resource.Resource{{Name: "notes", Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}}}},
		KeyPrefix:  "acme",
		Keyring:    keyring,
		AdminToken: "an-admin-token-of-at-least-32-characters",
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(runCtx) }()
	defer func() { stop(); <-done }()

	mux := http.NewServeMux()
	mux.Handle("/", s.Handler()) // /v1, /admin, /healthz
	mux.Handle("GET /reports/{id}", s.Protect("reports:read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "report %s\n", r.PathValue("id"))
	})))

	key, _ := s.DemoKey(ctx, "00000000-0000-4000-8000-000000000001", "Acme", "example")
	for _, path := range []string{"/v1/notes", "/reports/7", "/healthz"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(path, rec.Code)
	}
	fmt.Println(s.Scopes())
	// Output:
	// /v1/notes 200
	// /reports/7 200
	// /healthz 200
	// [notes:create notes:read notes:update reports:read]
}
