package resource

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

var (
	errNotFound = gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound)
	errNoFields = gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgNoFieldsToUpdate)
	errNoCaller = gatehouse.NewError(http.StatusForbidden, gatehouse.MsgMissingScope)
	orgField    = &field{Field: Field{Name: fieldOrg, Type: String}}
)

func (rg *Registry) fail(w http.ResponseWriter, r *http.Request, err error) {
	gatehouse.WriteError(w, r, rg.logger, err)
}

// writeRaw writes an encoded JSON body with the headers of
// gatehouse.WriteJSON. Records are encoded by hand (record.appendJSON), so
// they skip encoding/json's second validation pass.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// recordBody encodes the single-record envelope
// {"data":…,"request_id":…} with its trailing newline.
func recordBody(ctx context.Context, rec record) ([]byte, error) {
	b, err := rec.appendJSON(append(make([]byte, 0, 512), `{"data":`...))
	if err != nil {
		return nil, fmt.Errorf("resource: encode: %w", err)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, gatehouse.RequestIDFromContext(ctx))
	return append(b, '}', '\n'), nil
}

// writeRecord writes the single-record envelope {"data":…,"request_id":…}.
func (rg *Registry) writeRecord(w http.ResponseWriter, r *http.Request, status int, rec record) {
	b, err := recordBody(r.Context(), rec)
	if err != nil {
		rg.fail(w, r, err)
		return
	}
	writeResponse(w, Response{Status: status, Header: jsonHeader(), Body: b})
}

// jsonHeader is the header of every JSON answer of a write.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// writeResponse writes a response built by a create or update (see
// [Response]).
func writeResponse(w http.ResponseWriter, resp Response) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// writeList writes the list envelope
// {"data":[…],"limit":N,"offset":M,"has_more":B,"next_cursor":C,"request_id":…}
// where C is a string or null.
func (rg *Registry) writeList(w http.ResponseWriter, r *http.Request, q ListQuery, recs []record, more bool, next string) {
	b := make([]byte, 0, 256+512*len(recs))
	b = append(b, `{"data":[`...)
	var err error
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = rec.appendJSON(b); err != nil {
			rg.fail(w, r, fmt.Errorf("resource: encode: %w", err))
			return
		}
	}
	b = append(b, `],"limit":`...)
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"next_cursor":`...)
	if next == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, next)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, gatehouse.RequestIDFromContext(r.Context()))
	writeRaw(w, http.StatusOK, append(b, '}'))
}

func (rg *Registry) list(s *spec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseList(s, rg.limits, r.URL.RawQuery)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		p, err := rg.list1(r.Context(), s, q)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		if p.next != "" {
			w.Header().Set("Link", "<"+rg.publicURL+nextLink(r.URL, p.next)+`>; rel="next"`)
		}
		rg.writeList(w, r, q, p.recs, p.more, p.next)
	})
}

// cursorPosition verifies a cursor= value for the caller's organization and
// the request's filters.
func (rg *Registry) cursorPosition(ctx context.Context, s *spec, cursor string, scope []byte) (position, error) {
	orgID, ok := tenancy.FromContext(ctx)
	if !ok {
		return position{}, fmt.Errorf("resource: list: %w", tenancy.ErrNoOrganization)
	}
	c, ok := decodeCursor(cursor)
	if !ok {
		return position{}, errInvalidCursor.Wrap(errors.New("resource: malformed cursor"))
	}
	p, ok := verifyCursor(rg.keyring, orgID, scope, c)
	if !ok {
		return position{}, errInvalidCursor.Wrap(errors.New("resource: cursor does not verify"))
	}
	if p.idArg, ok = parseID(s.res.IDType, p.id); !ok {
		return position{}, errInvalidCursor.Wrap(errors.New("resource: cursor holds no id of the resource's type"))
	}
	return p, nil
}

// nextCursor returns the cursor that continues after rec.
func (rg *Registry) nextCursor(ctx context.Context, s *spec, scope []byte, rec record) (string, error) {
	orgID, ok := tenancy.FromContext(ctx)
	if !ok {
		return "", fmt.Errorf("resource: list: %w", tenancy.ErrNoOrganization)
	}
	p, err := s.positionOf(rec)
	if err != nil {
		return "", err
	}
	return encodeCursor(rg.keyring, orgID, scope, p)
}

// page runs a list query in the list order ([spec.order]), after
// the position when one is given, one row more than the limit to tell
// whether there are more.
func (rg *Registry) page(ctx context.Context, s *spec, q ListQuery, after *position) ([]record, bool, error) {
	rows, err := s.table.Select(ctx, rg.db, s.listQuery(q, after))
	if err != nil {
		return nil, false, fmt.Errorf("resource: list %s: %w", s.res.Name, err)
	}
	defer rows.Close()
	out := make([]record, 0, min(q.Limit+1, 64))
	vals := make([]any, len(s.columns))
	ptrs := make([]any, len(s.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, false, fmt.Errorf("resource: list %s: scan: %w", s.res.Name, err)
		}
		rec, err := s.record(vals)
		if err != nil {
			return nil, false, fmt.Errorf("resource: list %s: %w", s.res.Name, err)
		}
		out = append(out, rec)
		clear(vals)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("resource: list %s: %w", s.res.Name, err)
	}
	if len(out) > q.Limit {
		return out[:q.Limit], true, nil
	}
	return out, false, nil
}

// listQuery is the statement of a list page: the filters of q, after the
// position when one is given, in the list order, one row more than the
// limit to tell whether there are more.
func (s *spec) listQuery(q ListQuery, after *position) tenancy.Query {
	where := s.conds(q)
	if after != nil {
		where = append(where, s.keysetCond(*after))
	}
	return tenancy.Query{
		Columns: s.columns,
		Where:   where,
		OrderBy: s.order(),
		Limit:   q.Limit + 1,
		Offset:  q.Offset,
	}
}

// record converts the scanned values of s.columns to a record.
func (s *spec) record(vals []any) (record, error) {
	rec := record{keys: s.keys, vals: make([]any, len(s.keys))}
	conv := func(i int, f *field, v any) error {
		out, err := f.output(v)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		rec.vals[i] = out
		return nil
	}
	n := len(s.fields)
	if err := conv(0, s.idField, vals[0]); err != nil {
		return record{}, err
	}
	if err := conv(n+1, orgField, vals[1]); err != nil {
		return record{}, err
	}
	k, c := n+2, 2
	for _, f := range []*field{s.created, s.updated} {
		if f == nil {
			continue
		}
		if err := conv(k, f, vals[c]); err != nil {
			return record{}, err
		}
		k, c = k+1, c+1
	}
	for i, f := range s.fields {
		if err := conv(i+1, f, vals[s.implicit+i]); err != nil {
			return record{}, err
		}
	}
	return rec, nil
}

// fetch reads one record of the caller's organization (id is a query
// argument from parseID); sql.ErrNoRows when there is none.
func (s *spec) fetch(ctx context.Context, db tenancy.Querier, id any) (record, error) {
	vals := make([]any, len(s.columns))
	ptrs := make([]any, len(s.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := s.table.Get(ctx, db, id, s.columns, ptrs...); err != nil {
		return record{}, err
	}
	return s.record(vals)
}

func (rg *Registry) get(s *spec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, err := rg.get1(r.Context(), s, r.PathValue("id"))
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		rg.writeRecord(w, r, http.StatusOK, rec)
	})
}

// value is one validated input value.
type value struct {
	f *field
	v any
}

// decode checks a create (create=true) or update body: unknown or protected
// members first (400 Unsupported or protected fields), then every value
// (400 Invalid field values with details). It never panics.
func (s *spec) decode(body map[string]json.RawMessage, create bool) ([]value, error) {
	var refused []string
	for k := range body {
		if _, ok := s.writable[k]; !ok {
			refused = append(refused, k)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return nil, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgUnsupportedFields).With("fields", refused)
	}
	var details []Detail
	out := make([]value, 0, len(body))
	for _, f := range s.fields {
		if f.ReadOnly {
			continue
		}
		raw, present := body[f.Name]
		if !present {
			if create && f.Required {
				details = append(details, Detail{Field: f.Name, Message: msgRequired})
			}
			continue
		}
		if bytes.Equal(bytes.Trim(raw, jsonSpace), []byte("null")) {
			if f.Required {
				details = append(details, Detail{Field: f.Name, Message: msgRequired})
				continue
			}
			out = append(out, value{f: f})
			continue
		}
		v, msg := f.parse(raw, s.table.Dialect)
		if msg == "" && f.Required && (f.Type == String || f.Type == Text) {
			if str, ok := v.(string); ok && strings.TrimSpace(str) == "" {
				msg = "must not be blank"
			}
		}
		if msg != "" {
			details = append(details, Detail{Field: f.Name, Message: msg})
			continue
		}
		out = append(out, value{f: f, v: v})
	}
	if len(details) > 0 {
		slices.SortFunc(details, func(a, b Detail) int { return strings.Compare(a.Field, b.Field) })
		fields := make([]string, len(details))
		for i, d := range details {
			fields[i] = d.Field
		}
		return nil, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidFieldValues).
			With("fields", fields).With("details", details)
	}
	return out, nil
}

// checkRefs verifies, inside tx, that every non-null reference names a row
// of the caller's organization (any row, for a global reference).
func (s *spec) checkRefs(ctx context.Context, tx *sql.Tx, vals []value) error {
	var bad []string
	for _, v := range vals {
		if v.f.ref == nil || v.v == nil {
			continue
		}
		ok, err := v.f.ref.exists(ctx, tx, v.v)
		if err != nil {
			return fmt.Errorf("resource: check %s: %w", v.f.Name, err)
		}
		if !ok {
			bad = append(bad, v.f.Name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidForeignKey).With("fields", bad)
	}
	return nil
}

func (rg *Registry) create(s *spec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		body, err := gatehouse.ReadObject(w, r, rg.maxBody)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		vals, err := s.decode(body, true)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		_, resp, err := rg.insert(ctx, s, vals)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		writeResponse(w, resp)
	})
}

// insert creates a record in one transaction: reference checks, sequence
// numbers, the insert, the read-back, OnWrite and the commit hooks. It
// returns the record and the 201 response to write.
func (rg *Registry) insert(ctx context.Context, s *spec, vals []value) (record, Response, error) {
	orgID, ok := tenancy.FromContext(ctx)
	if !ok {
		return record{}, Response{}, fmt.Errorf("resource: create %s: %w", s.res.Name, tenancy.ErrNoOrganization)
	}
	// Numbers that may have gaps are taken before the transaction, each in
	// a statement of its own, so that the counter's row lock ends with the
	// statement (and, on SQLite, so that no write waits inside the write
	// transaction for the pool's write queue).
	var early []tenancy.Assign
	for _, f := range s.seqs {
		if f.SequenceGaps {
			n, err := tenancy.NextSequence(ctx, rg.db, rg.dialect, f.seq)
			if err != nil {
				return record{}, Response{}, fmt.Errorf("resource: create %s: %w", s.res.Name, err)
			}
			early = append(early, tenancy.Assign{Column: f.column, Value: n})
		}
	}
	tx, err := rg.db.BeginTx(ctx, nil)
	if err != nil {
		return record{}, Response{}, fmt.Errorf("resource: create %s: begin: %w", s.res.Name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.checkRefs(ctx, tx, vals); err != nil {
		return record{}, Response{}, err
	}
	now := rg.now()
	assigns := make([]tenancy.Assign, 0, 3+len(s.seqs)+len(vals))
	var id any
	if s.res.IDType != IDInteger {
		key, err := s.newID(ctx)
		if err != nil {
			return record{}, Response{}, err
		}
		id = key
		assigns = append(assigns, tenancy.Assign{Column: s.res.IDColumn, Value: key})
	}
	for _, f := range []*field{s.created, s.updated} {
		if f != nil {
			assigns = append(assigns, tenancy.Assign{Column: f.column, Value: timeArg(f.stamp, now)})
		}
	}
	assigns = append(assigns, early...)
	for _, f := range s.seqs {
		if f.SequenceGaps {
			continue
		}
		n, err := tenancy.NextSequence(ctx, tx, rg.dialect, f.seq)
		if err != nil {
			return record{}, Response{}, fmt.Errorf("resource: create %s: %w", s.res.Name, err)
		}
		assigns = append(assigns, tenancy.Assign{Column: f.column, Value: n})
	}
	for _, v := range vals {
		assigns = append(assigns, tenancy.Assign{Column: v.f.column, Value: v.v})
	}
	if s.res.IDType == IDInteger {
		var n int64
		if err := s.table.InsertReturning(ctx, tx, assigns, s.res.IDColumn, &n); err != nil {
			return record{}, Response{}, fmt.Errorf("resource: create %s: %w", s.res.Name, err)
		}
		id = n
	} else if err := s.table.Insert(ctx, tx, assigns); err != nil {
		return record{}, Response{}, fmt.Errorf("resource: create %s: %w", s.res.Name, err)
	}
	rec, err := s.fetch(ctx, tx, id)
	if err != nil {
		return record{}, Response{}, fmt.Errorf("resource: create %s: read back: %w", s.res.Name, err)
	}
	return rg.commit(ctx, tx, s, change{op: OpCreated, id: idKey(id), orgID: orgID, rec: rec, status: http.StatusCreated})
}

// change is a write about to be committed.
type change struct {
	op, id, orgID string
	rec           record
	status        int
}

// commit calls OnWrite, builds the response, calls the commit hooks of the
// context with it and commits. The response is built before the commit so
// that the hooks see exactly the bytes the client will get.
func (rg *Registry) commit(ctx context.Context, tx *sql.Tx, s *spec, c change) (record, Response, error) {
	var after *afterCommit
	if rg.onWrite != nil {
		after = &afterCommit{}
		err := rg.onWrite(context.WithValue(ctx, afterCommitKey{}, after), tx, Change{
			Resource:       s.res.Name,
			Singular:       s.res.Singular,
			Op:             c.op,
			ID:             c.id,
			OrganizationID: c.orgID,
			Record:         c.rec.Map(),
		})
		if err != nil {
			return record{}, Response{}, fmt.Errorf("resource: %s %s: OnWrite: %w", c.op, s.res.Singular, err)
		}
	}
	body, err := recordBody(ctx, c.rec)
	if err != nil {
		return record{}, Response{}, err
	}
	resp := Response{Status: c.status, Header: jsonHeader(), Body: body}
	if c.op == OpCreated {
		resp.Header.Set("Location", rg.publicURL+s.path+"/"+c.id)
	}
	for _, h := range commitHooks(ctx) {
		hc := resp
		hc.Header = resp.Header.Clone()
		if err := h(ctx, tx, hc); err != nil {
			return record{}, Response{}, fmt.Errorf("resource: %s %s: commit hook: %w", c.op, s.res.Singular, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return record{}, Response{}, fmt.Errorf("resource: %s %s: commit: %w", c.op, s.res.Singular, err)
	}
	if after != nil {
		for _, fn := range after.fns {
			fn()
		}
	}
	return c.rec, resp, nil
}

func (rg *Registry) update(s *spec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.parseID(r.PathValue("id")); !ok {
			rg.fail(w, r, errNotFound)
			return
		}
		body, err := gatehouse.ReadObject(w, r, rg.maxBody)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		_, resp, err := rg.update1(r.Context(), s, r.PathValue("id"), body)
		if err != nil {
			rg.fail(w, r, err)
			return
		}
		writeResponse(w, resp)
	})
}

// modify updates a record in one transaction: reference checks, the update
// (404 when the organization has no such record, also before a reference
// error), the read-back and OnWrite and the commit hooks. It returns the
// record and the 200 response to write.
func (rg *Registry) modify(ctx context.Context, s *spec, id any, vals []value) (record, Response, error) {
	orgID, ok := tenancy.FromContext(ctx)
	if !ok {
		return record{}, Response{}, fmt.Errorf("resource: update %s: %w", s.res.Name, tenancy.ErrNoOrganization)
	}
	tx, err := rg.db.BeginTx(ctx, nil)
	if err != nil {
		return record{}, Response{}, fmt.Errorf("resource: update %s: begin: %w", s.res.Name, err)
	}
	defer func() { _ = tx.Rollback() }()
	// References are checked before the update, so that a table with
	// FOREIGN KEY constraints never sees a dangling one (which would fail
	// the statement); a missing record still answers 404 first.
	if err := s.checkRefs(ctx, tx, vals); err != nil {
		if found, ferr := s.table.Exists(ctx, tx, id); ferr != nil {
			return record{}, Response{}, fmt.Errorf("resource: update %s: %w", s.res.Name, ferr)
		} else if !found {
			return record{}, Response{}, errNotFound
		}
		return record{}, Response{}, err
	}
	assigns := make([]tenancy.Assign, 0, 1+len(vals))
	for _, v := range vals {
		assigns = append(assigns, tenancy.Assign{Column: v.f.column, Value: v.v})
	}
	if f := s.updated; f != nil {
		assigns = append(assigns, tenancy.Assign{Column: f.column, Value: timeArg(f.stamp, rg.now())})
	}
	found, err := s.table.Update(ctx, tx, id, assigns)
	if err != nil {
		return record{}, Response{}, fmt.Errorf("resource: update %s: %w", s.res.Name, err)
	}
	if !found {
		return record{}, Response{}, errNotFound
	}
	rec, err := s.fetch(ctx, tx, id)
	if err != nil {
		return record{}, Response{}, fmt.Errorf("resource: update %s: read back: %w", s.res.Name, err)
	}
	return rg.commit(ctx, tx, s, change{op: OpUpdated, id: idKey(id), orgID: orgID, rec: rec, status: http.StatusOK})
}

// exists reports whether the referenced row exists: in the caller's
// organization, or anywhere for a global reference.
func (ref *reference) exists(ctx context.Context, db tenancy.Querier, id any) (bool, error) {
	if !ref.global {
		return ref.table.Exists(ctx, db, id)
	}
	t := ref.table
	q := "SELECT 1 FROM " + quoteTable(t.Name) + " WHERE " + tenancy.QuoteIdent(t.IDColumn) + " = ?"
	var one int
	err := db.QueryRowContext(ctx, t.Dialect.Rebind(q), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resource: exists in %s: %w", t.Name, err)
	}
	return true, nil
}

// quoteTable quotes a valid table name, optionally "schema.table".
func quoteTable(name string) string {
	if sch, t, ok := strings.Cut(name, "."); ok {
		return tenancy.QuoteIdent(sch) + "." + tenancy.QuoteIdent(t)
	}
	return tenancy.QuoteIdent(name)
}
