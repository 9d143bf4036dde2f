// Command chi mounts gatehouse on a chi router: the public API under
// /api/v1 with chi's Mount, and a handler of the service behind API keys
// whose audit entries carry chi's route pattern.
//
//	cd examples/chi && GATEHOUSE_SECRET_KEYS=… ADMIN_TOKEN=… go run .
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"

	"gatehouse.dev"
	"gatehouse.dev/resource"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/stack"
	"gatehouse.dev/tenancy"
)

// chiPattern is the route pattern chi matched, for the audit log.
func chiPattern(r *http.Request) string { return chi.RouteContext(r.Context()).RoutePattern() }

// newRouter builds the service's chi router with gatehouse mounted.
func newRouter(ctx context.Context, db *sql.DB, keyring *gatehouse.Keyring, adminToken string) (*stack.Stack, http.Handler, error) {
	api, err := stack.New(ctx, stack.Options{
		DB: db, Keyring: keyring, AdminToken: adminToken, KeyPrefix: "chi", Prefix: "/api/v1",
		Resources: []resource.Resource{{Name: "notes", Fields: []resource.Field{{Name: "title", Type: resource.String, Required: true}}}},
	})
	if err != nil {
		return nil, nil, err
	}
	r := chi.NewRouter()
	r.Mount("/api", api.Public()) // chi keeps the full path: the API lives under /api/v1
	r.Mount("/admin", api.Admin())
	r.Route("/shop", func(r chi.Router) {
		r.Get("/orders/{id}", api.Protect("orders:read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			org, _ := tenancy.FromContext(r.Context())
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"order": chi.URLParam(r, "id"), "organization": org})
		}), stack.ProtectOptions{RoutePattern: chiPattern}).ServeHTTP)
	})
	return api, r, nil
}

func main() {
	ctx := context.Background()
	db, _, err := sqldb.Open("chi.db")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Exec(notesTable); err != nil {
		log.Fatal(err)
	}
	keyring, err := gatehouse.ParseKeyring(os.Getenv("GATEHOUSE_SECRET_KEYS"))
	if err != nil {
		log.Fatal("GATEHOUSE_SECRET_KEYS: ", err)
	}
	api, h, err := newRouter(ctx, db, keyring, os.Getenv("ADMIN_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = api.Run(ctx) }()
	log.Fatal(http.ListenAndServe("127.0.0.1:8083", h))
}

// notesTable is the service's table on SQLite.
const notesTable = `CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,
	title TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`
