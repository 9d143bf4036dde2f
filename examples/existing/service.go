// Command existing is a shop service that existed before gatehouse: its own
// tables (bigserial ids, a bigint tenant column, inserted_at/modified_at, a
// global categories table), its own session-authenticated pages. adopt.go,
// one file, is everything it took to give it a public developer API.
//
//	go run ./examples/existing   # SQLite file shop.db on 127.0.0.1:8082
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"sync"

	"gatehouse.dev"
	"gatehouse.dev/sqldb"
	"gatehouse.dev/tenancy"
)

// Service is the shop as it was: a database, a router, sessions.
type Service struct {
	DB       *sql.DB
	Dialect  tenancy.Dialect
	Mux      *http.ServeMux
	mu       sync.Mutex
	sessions map[string]string // session cookie → tenant id (decimal)
}

// schema is the shop's own tables, as its migrations made them.
func schema(d tenancy.Dialect) []string {
	serial, ts := "INTEGER PRIMARY KEY", "TEXT"
	if d == tenancy.Postgres {
		serial, ts = "bigserial PRIMARY KEY", "timestamptz"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS categories (category_id ` + serial + `, name TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS products (product_id ` + serial + `, tenant_id BIGINT NOT NULL, name TEXT NOT NULL,
			price_cents BIGINT, category_id BIGINT REFERENCES categories (category_id),
			inserted_at ` + ts + ` NOT NULL, modified_at ` + ts + ` NOT NULL)`,
		`INSERT INTO categories (name) SELECT 'Tools' WHERE NOT EXISTS (SELECT 1 FROM categories)`,
	}
}

// NewService opens the shop on db and mounts its own pages.
func NewService(ctx context.Context, db *sql.DB, d tenancy.Dialect) (*Service, error) {
	if err := tenancy.Migrate(ctx, db, d, "shop-schema", schema(d)); err != nil {
		return nil, err
	}
	s := &Service{DB: db, Dialect: d, Mux: http.NewServeMux(), sessions: map[string]string{}}
	s.Mux.Handle("GET /app/reports/products/{id}", s.ProductReport(s.tenant))
	return s, nil
}

// Login opens a session for tenant (the shop's real login is elsewhere).
func (s *Service) Login(session, tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[session] = tenant
}

// tenant is the session's tenant.
func (s *Service) tenant(r *http.Request) (string, bool) {
	c, err := r.Cookie("session")
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.sessions[c.Value]
	return t, ok
}

// ProductReport is one of the shop's own handlers: a product of the
// caller's tenant with its category name. tenantOf says who is calling.
func (s *Service) ProductReport(tenantOf func(*http.Request) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(r)
		if !ok {
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgUnauthorized))
			return
		}
		var name, category string
		err := s.DB.QueryRowContext(r.Context(), s.Dialect.Rebind(`SELECT p.name, COALESCE(c.name, '') FROM products p
			LEFT JOIN categories c ON c.category_id = p.category_id WHERE p.tenant_id = ? AND CAST(p.product_id AS TEXT) = ?`),
			tenant, r.PathValue("id")).Scan(&name, &category)
		if errors.Is(err, sql.ErrNoRows) {
			gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound))
			return
		} else if err != nil {
			gatehouse.WriteError(w, r, nil, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"product": name, "category": category})
	})
}

func main() {
	ctx := context.Background()
	db, d, err := sqldb.Open("shop.db")
	if err != nil {
		log.Fatal(err)
	}
	svc, err := NewService(ctx, db, d)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := gatehouse.ParseKeyring(os.Getenv("GATEHOUSE_SECRET_KEYS"))
	if err != nil {
		log.Fatal("GATEHOUSE_SECRET_KEYS: ", err)
	}
	api, err := adopt(ctx, svc, keyring, os.Getenv("ADMIN_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = api.Run(ctx) }()
	log.Fatal(http.ListenAndServe("127.0.0.1:8082", svc.Mux))
}
