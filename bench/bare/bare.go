// Package bare is the baseline of the end-to-end benchmark: the list, get
// and create of the reference API's leads written by hand with net/http,
// database/sql and encoding/json, the way a team would write them without
// gatehouse. It runs the same queries on the same schema and drivers
// (sqldb's settings), allocates lead_number from the same counter table, and
// answers the same JSON shapes, but has no authentication, rate limit,
// audit log, outbox, idempotency or cursor signing: the organization comes
// from the X-Organization-Id header.
//
// The gap between this server and examples/joby is what the library costs.
package bare

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gatehouse.dev/tenancy"
)

// OrgHeader carries the organization of a request.
const OrgHeader = "X-Organization-Id"

// Columns are the leads columns the server reads and writes, in the
// example's schema order.
var Columns = []string{
	"id", "organization_id", "lead_number", "first_name", "last_name", "phone", "email",
	"address", "city", "state", "postal_code", "status", "sub_status", "job_type", "ad_source",
	"scheduled_at", "client_id", "notes", "created_at", "updated_at",
}

// writable are the fields a create accepts.
var writable = map[string]bool{
	"first_name": true, "last_name": true, "phone": true, "email": true, "address": true,
	"city": true, "state": true, "postal_code": true, "status": true, "sub_status": true,
	"job_type": true, "ad_source": true, "notes": true,
}

// Schema is the DDL of the leads table and of gatehouse_sequences, as the
// example creates them (without the tables leads does not need here).
func Schema(d tenancy.Dialect) []string {
	id, ts := "TEXT", "TEXT"
	if d == tenancy.Postgres {
		id, ts = "uuid", "timestamptz"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS gatehouse_sequences (organization_id TEXT NOT NULL, name TEXT NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (organization_id, name))`,
		`CREATE TABLE IF NOT EXISTS leads (
	id ` + id + ` PRIMARY KEY, organization_id ` + id + ` NOT NULL, lead_number BIGINT NOT NULL,
	first_name TEXT, last_name TEXT, phone TEXT, email TEXT, address TEXT, city TEXT, state TEXT, postal_code TEXT,
	status TEXT, sub_status TEXT, job_type TEXT, ad_source TEXT, scheduled_at ` + ts + `, client_id ` + id + `, notes TEXT,
	created_at ` + ts + ` NOT NULL, updated_at ` + ts + ` NOT NULL, UNIQUE (organization_id, lead_number))`,
		`CREATE INDEX IF NOT EXISTS leads_org_created ON leads (organization_id, created_at DESC, id DESC)`,
	}
}

// Server serves /v1/leads.
type Server struct {
	db      *sql.DB
	d       tenancy.Dialect
	list    string
	filter  string
	get     string
	insert  string
	nextSeq string
	mux     *http.ServeMux
}

// New returns the server on db.
func New(db *sql.DB, d tenancy.Dialect) *Server {
	cols := strings.Join(Columns, ", ")
	s := &Server{
		db:     db,
		d:      d,
		list:   d.Rebind("SELECT " + cols + " FROM leads WHERE organization_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"),
		filter: d.Rebind("SELECT " + cols + " FROM leads WHERE organization_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ?"),
		get:    d.Rebind("SELECT " + cols + " FROM leads WHERE organization_id = ? AND id = ?"),
		nextSeq: d.Rebind("INSERT INTO gatehouse_sequences (organization_id, name, value) VALUES (?, 'leads.lead_number', 1)" +
			" ON CONFLICT (organization_id, name) DO UPDATE SET value = gatehouse_sequences.value + 1 RETURNING value"),
		mux: http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /v1/leads", s.handleList)
	s.mux.HandleFunc("GET /v1/leads/{id}", s.handleGet)
	s.mux.HandleFunc("POST /v1/leads", s.handleCreate)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func org(w http.ResponseWriter, r *http.Request) (string, bool) {
	o := r.Header.Get(OrgHeader)
	if o == "" {
		fail(w, http.StatusUnauthorized, "Missing organization")
		return "", false
	}
	return o, true
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	o, ok := org(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(w, http.StatusBadRequest, "Invalid limit")
			return
		}
		limit = n
	}
	var rows *sql.Rows
	var err error
	if st := r.URL.Query().Get("status"); st != "" {
		rows, err = s.db.QueryContext(r.Context(), s.filter, o, st, limit+1)
	} else {
		rows, err = s.db.QueryContext(r.Context(), s.list, o, limit+1)
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	defer rows.Close()
	out := make([]map[string]any, 0, limit)
	for rows.Next() {
		rec, err := s.scan(rows)
		if err != nil {
			fail(w, http.StatusInternalServerError, "internal error")
			return
		}
		out = append(out, rec)
	}
	if rows.Err() != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "has_more": more})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	o, ok := org(w, r)
	if !ok {
		return
	}
	rows, err := s.db.QueryContext(r.Context(), s.get, o, r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusNotFound, "Not found") // a malformed uuid on PostgreSQL
		return
	}
	defer rows.Close()
	if !rows.Next() {
		fail(w, http.StatusNotFound, "Not found")
		return
	}
	rec, err := s.scan(rows)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": rec})
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	o, ok := org(w, r)
	if !ok {
		return
	}
	var in map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "Invalid JSON body")
		return
	}
	names := make([]string, 0, len(in))
	for k, v := range in {
		if !writable[k] {
			fail(w, http.StatusBadRequest, "Unsupported field "+k)
			return
		}
		if _, isStr := v.(string); !isStr && v != nil {
			fail(w, http.StatusBadRequest, "Invalid field "+k)
			return
		}
		names = append(names, k)
	}
	rec, err := s.create(r.Context(), o, in, names)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Location", "/v1/leads/"+rec["id"].(string))
	writeJSON(w, http.StatusCreated, map[string]any{"data": rec})
}

func (s *Server) create(ctx context.Context, o string, in map[string]any, names []string) (map[string]any, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var n int64
	if err := tx.QueryRowContext(ctx, s.nextSeq, o).Scan(&n); err != nil {
		return nil, err
	}
	id := newUUID()
	now := s.d.TimeValue(time.Now())
	cols := append([]string{"id", "organization_id", "lead_number", "created_at", "updated_at"}, names...)
	args := []any{id, o, n, now, now}
	for _, k := range names {
		args = append(args, in[k])
	}
	q := "INSERT INTO leads (" + strings.Join(cols, ", ") + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	if _, err := tx.ExecContext(ctx, s.d.Rebind(q), args...); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, s.get, o, id)
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		_ = rows.Close()
		return nil, errors.New("bare: created lead not found")
	}
	rec, err := s.scan(rows)
	_ = rows.Close()
	if err != nil {
		return nil, err
	}
	return rec, tx.Commit()
}

// scan reads one row into a record: text as strings, timestamps in RFC 3339
// UTC, NULL as null.
func (s *Server) scan(rows *sql.Rows) (map[string]any, error) {
	vals := make([]any, len(Columns))
	ptrs := make([]any, len(Columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	rec := make(map[string]any, len(Columns))
	for i, c := range Columns {
		switch v := vals[i].(type) {
		case []byte:
			rec[c] = string(v)
		case time.Time:
			rec[c] = v.UTC().Format(time.RFC3339Nano)
		case [16]byte: // pgx uuid
			rec[c] = formatUUID(v)
		default:
			rec[c] = v
		}
	}
	return rec, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}
