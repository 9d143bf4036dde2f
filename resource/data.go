package resource

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// This file is the Go-level data API of the registry: list, get, get-many,
// create and update of a named resource, called with the caller's context
// (organization and scopes, as the authentication middleware sets them).
// The REST handlers are built on the same code, so other front ends
// (GraphQL, MCP) answer exactly as REST does without going through HTTP.

// Record is one record as the API returns it: id, the declared fields in
// declaration order, organization_id, created_at and updated_at (when the
// table has them), with the values of the JSON body (strings, int64,
// float64, bool, json.RawMessage for objects, nil for null; integer ids
// are int64). The zero Record has no members.
type Record struct{ r record }

// Get returns the value of the member name, or nil when the record has no
// such member (or it is null).
func (rec Record) Get(name string) any { return rec.r.get(name) }

// Names returns the member names in order.
func (rec Record) Names() []string { return slices.Clone(rec.r.keys) }

// Map returns the record as a map.
func (rec Record) Map() map[string]any { return rec.r.Map() }

// MarshalJSON writes the record as the REST API does, members in order.
func (rec Record) MarshalJSON() ([]byte, error) { return rec.r.MarshalJSON() }

// Page is one page of a list: the records of the list envelope of
// GET /v1/<resource> and its paging members.
type Page struct {
	// Records of the page, newest first.
	Records []Record
	// Limit is the page size applied (after defaults and clamping).
	Limit int
	// Offset is the number of rows skipped.
	Offset int
	// HasMore reports whether more records follow.
	HasMore bool
	// NextCursor continues after the last record; "" when there is no
	// more or cursors are off (no Options.Keyring).
	NextCursor string
	// Cursors holds, when the query asked for EdgeCursors and cursors are
	// on, the cursor that continues after each record (the last one equals
	// NextCursor when HasMore); nil otherwise.
	Cursors []string
	// EndCursor is, when the query asked for EndCursor or EdgeCursors and
	// cursors are on, the cursor after the last record even when there is
	// no more (it then continues to an empty page); "" for an empty page.
	EndCursor string
}

// page is the result of a list before encoding.
type page struct {
	recs []record
	more bool
	next string
}

var errTooManyIDs = gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidQuery)

// lookup returns the spec of the resource name; 404 "Unsupported resource"
// when none.
func (rg *Registry) lookup(name string) (*spec, error) {
	for _, s := range rg.specs {
		if s.res.Name == name {
			return s, nil
		}
	}
	return nil, errUnsupported
}

// parseID returns the record id as a query argument of the resource's id
// type (see the package function parseID), or false when id cannot be an
// id of the resource (which callers answer 404).
func (s *spec) parseID(id string) (any, bool) { return parseID(s.res.IDType, id) }

// List returns one page of the resource name for the caller's organization,
// as GET /v1/<name> does. The caller needs the resource's read scope (403
// "Missing scope" with required_scope otherwise). q is checked as the REST
// query string is: a Limit of zero or less means Limits.DefaultLimit, one
// above Limits.MaxLimit is clamped; unknown filters are 400 "Unsupported
// filters"; filter values of the wrong type, an Offset out of range, an
// Offset with a Cursor, a Q too long or repeated filters are 400 "Invalid
// query parameters" with details; a Cursor that does not verify is 400
// "Invalid cursor". A filter Value may be a string (parsed as in a query
// string), an int, int64, float64, bool or time.Time.
func (rg *Registry) List(ctx context.Context, name string, q ListQuery) (Page, error) {
	s, err := rg.lookup(name)
	if err != nil {
		return Page{}, err
	}
	if err := scope.Check(ctx, s.read); err != nil {
		return Page{}, err
	}
	if q, err = s.checkQuery(rg.limits, q); err != nil {
		return Page{}, err
	}
	p, err := rg.list1(ctx, s, q)
	if err != nil {
		return Page{}, err
	}
	out := Page{Records: make([]Record, len(p.recs)), Limit: q.Limit, Offset: q.Offset, HasMore: p.more, NextCursor: p.next}
	for i, r := range p.recs {
		out.Records[i] = Record{r}
	}
	if rg.keyring == nil || len(p.recs) == 0 {
		return out, nil
	}
	switch {
	case q.EdgeCursors:
		scope := s.cursorScope(q)
		out.Cursors = make([]string, len(p.recs))
		for i, r := range p.recs {
			if out.Cursors[i], err = rg.nextCursor(ctx, s, scope, r); err != nil {
				return Page{}, err
			}
		}
		out.EndCursor = out.Cursors[len(out.Cursors)-1]
	case q.EndCursor && p.next != "":
		out.EndCursor = p.next
	case q.EndCursor:
		if out.EndCursor, err = rg.nextCursor(ctx, s, s.cursorScope(q), p.recs[len(p.recs)-1]); err != nil {
			return Page{}, err
		}
	}
	return out, nil
}

// checkQuery checks a ListQuery built in Go and returns it with defaults
// applied and filter values in the parsed form of [Filter].
func (s *spec) checkQuery(lim Limits, q ListQuery) (ListQuery, error) {
	var unknown []string
	for _, f := range q.Filters {
		if _, ok := s.filters[f.Field]; !ok {
			unknown = append(unknown, f.Field)
		}
	}
	if s.created == nil && !q.CreatedAfter.IsZero() {
		unknown = append(unknown, "created_after")
	}
	if s.created == nil && !q.CreatedBefore.IsZero() {
		unknown = append(unknown, "created_before")
	}
	if len(unknown) > 0 {
		return q, gatehouse.FieldsError(gatehouse.MsgUnsupportedFilters, unknown...)
	}
	var details []Detail
	bad := func(name, msg string) { details = append(details, Detail{Field: name, Message: msg}) }
	switch {
	case q.Limit <= 0:
		q.Limit = lim.DefaultLimit
	case q.Limit > lim.MaxLimit:
		q.Limit = lim.MaxLimit
	}
	switch {
	case q.Offset != 0 && q.Cursor != "":
		bad(paramOffset, "must not be combined with cursor")
	case q.Offset < 0:
		bad(paramOffset, "must be a non-negative integer")
	case q.Offset > lim.MaxOffset:
		bad(paramOffset, "must be at most "+strconv.Itoa(lim.MaxOffset))
	}
	switch {
	case strings.IndexByte(q.Q, 0) >= 0:
		bad("q", msgNUL)
	case utf8.RuneCountInString(q.Q) > MaxSearchLength:
		bad("q", "must be at most "+strconv.Itoa(MaxSearchLength)+" characters")
	}
	q.CreatedAfter, q.CreatedBefore = utcOrZero(q.CreatedAfter), utcOrZero(q.CreatedBefore)
	filters := make([]Filter, 0, len(q.Filters))
	seen := make(map[string]bool, len(q.Filters))
	for _, f := range q.Filters {
		if seen[f.Field] {
			bad(f.Field, "must not be repeated")
			continue
		}
		seen[f.Field] = true
		str, ok := filterString(f.Value)
		if !ok {
			bad(f.Field, "has an unsupported type")
			continue
		}
		v, msg := s.filters[f.Field].parseFilter(str)
		if msg != "" {
			bad(f.Field, msg)
			continue
		}
		filters = append(filters, Filter{Field: f.Field, Value: v})
	}
	if len(details) > 0 {
		slices.SortFunc(details, func(a, b Detail) int { return strings.Compare(a.Field, b.Field) })
		fields := make([]string, len(details))
		for i, d := range details {
			fields[i] = d.Field
		}
		return q, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidQuery).
			With("fields", fields).With("details", details)
	}
	slices.SortFunc(filters, func(a, b Filter) int { return strings.Compare(a.Field, b.Field) })
	q.Filters = filters
	return q, nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// filterString formats a filter value of a Go-built ListQuery as it would
// appear in a query string.
func filterString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// list1 runs a checked list query: it verifies the cursor, reads the page
// and signs the cursor that continues after it.
func (rg *Registry) list1(ctx context.Context, s *spec, q ListQuery) (page, error) {
	var after *position
	var scope []byte
	if q.Cursor != "" || rg.keyring != nil {
		scope = s.cursorScope(q)
	}
	if q.Cursor != "" {
		p, err := rg.cursorPosition(ctx, s, q.Cursor, scope)
		if err != nil {
			return page{}, err
		}
		after = &p
	}
	recs, more, err := rg.page(ctx, s, q, after)
	if err != nil {
		return page{}, err
	}
	var next string
	if more && rg.keyring != nil {
		if next, err = rg.nextCursor(ctx, s, scope, recs[len(recs)-1]); err != nil {
			return page{}, err
		}
	}
	return page{recs: recs, more: more, next: next}, nil
}

// Get returns the record id of the resource name in the caller's
// organization, as GET /v1/<name>/{id} does: 404 "Not found" when there is
// none (or id is malformed, or the record belongs to another organization).
// The caller needs the read scope.
func (rg *Registry) Get(ctx context.Context, name, id string) (Record, error) {
	s, err := rg.lookup(name)
	if err != nil {
		return Record{}, err
	}
	if err := scope.Check(ctx, s.read); err != nil {
		return Record{}, err
	}
	rec, err := rg.get1(ctx, s, id)
	return Record{rec}, err
}

func (rg *Registry) get1(ctx context.Context, s *spec, id string) (record, error) {
	arg, ok := s.parseID(id)
	if !ok {
		return record{}, errNotFound
	}
	rec, err := s.fetch(ctx, rg.db, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return record{}, errNotFound
	}
	if err != nil {
		return record{}, fmt.Errorf("resource: get %s: %w", s.res.Name, err)
	}
	return rec, nil
}

// GetMany returns the records of the resource name with the given ids in
// the caller's organization, in one query, in the order of ids; ids with no
// record (malformed, unknown, of another organization) are left out and
// repeated ids give one record. More than Limits.MaxLimit ids is 400
// "Invalid query parameters". The caller needs the read scope.
func (rg *Registry) GetMany(ctx context.Context, name string, ids []string) ([]Record, error) {
	s, err := rg.lookup(name)
	if err != nil {
		return nil, err
	}
	if err := scope.Check(ctx, s.read); err != nil {
		return nil, err
	}
	if len(ids) > rg.limits.MaxLimit {
		return nil, errTooManyIDs.With("fields", []string{"ids"}).
			With("details", []Detail{{Field: "ids", Message: "must be at most " + strconv.Itoa(rg.limits.MaxLimit) + " ids"}})
	}
	want := make([]string, 0, len(ids)) // idKey of each id
	args := make([]any, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if arg, ok := s.parseID(id); ok && !seen[idKey(arg)] {
			seen[idKey(arg)] = true
			want = append(want, idKey(arg))
			args = append(args, arg)
		}
	}
	if len(want) == 0 {
		return []Record{}, nil
	}
	in := tenancy.Cond{
		SQL:  tenancy.QuoteIdent(s.res.IDColumn) + " IN (?" + strings.Repeat(", ?", len(want)-1) + ")",
		Args: args,
	}
	rows, err := s.table.Select(ctx, rg.db, tenancy.Query{Columns: s.columns, Where: []tenancy.Cond{in}})
	if err != nil {
		return nil, fmt.Errorf("resource: get %s: %w", s.res.Name, err)
	}
	defer rows.Close()
	byID := make(map[string]record, len(want))
	vals := make([]any, len(s.columns))
	ptrs := make([]any, len(s.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("resource: get %s: scan: %w", s.res.Name, err)
		}
		rec, err := s.record(vals)
		if err != nil {
			return nil, fmt.Errorf("resource: get %s: %w", s.res.Name, err)
		}
		byID[idKey(rec.vals[0])] = rec
		clear(vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resource: get %s: %w", s.res.Name, err)
	}
	out := make([]Record, 0, len(byID))
	for _, id := range want {
		if rec, ok := byID[id]; ok {
			out = append(out, Record{rec})
		}
	}
	return out, nil
}

// Create creates a record of the resource name in the caller's organization
// from input (the members of a POST body), as POST /v1/<name> does, and
// returns it as read back. The caller needs the create scope. Errors are
// those of the REST API: 400 "Unsupported or protected fields", 400
// "Invalid field values" (details: one [gatehouse.FieldError]-shaped
// [Detail] per field), 400 "Invalid foreign key"; a failed write leaves
// nothing behind. Options.OnWrite and the context's commit hooks run as for
// REST.
func (rg *Registry) Create(ctx context.Context, name string, input map[string]json.RawMessage) (Record, error) {
	s, err := rg.lookup(name)
	if err != nil {
		return Record{}, err
	}
	if err := scope.Check(ctx, s.create); err != nil {
		return Record{}, err
	}
	vals, err := s.decode(input, true)
	if err != nil {
		return Record{}, err
	}
	rec, _, err := rg.insert(ctx, s, vals)
	return Record{rec}, err
}

// Update changes the members of input (as in a PATCH body: absent members
// are left alone, null clears) of the record id of the resource name in the
// caller's organization, as PATCH /v1/<name>/{id} does, and returns the
// record as read back. The caller needs the update scope. An empty input is
// 400 "No fields to update"; a record that does not exist in the
// organization is 404 "Not found"; other errors are those of [Registry.Create].
func (rg *Registry) Update(ctx context.Context, name, id string, input map[string]json.RawMessage) (Record, error) {
	s, err := rg.lookup(name)
	if err != nil {
		return Record{}, err
	}
	if err := scope.Check(ctx, s.update); err != nil {
		return Record{}, err
	}
	rec, _, err := rg.update1(ctx, s, id, input)
	return Record{rec}, err
}

func (rg *Registry) update1(ctx context.Context, s *spec, id string, input map[string]json.RawMessage) (record, Response, error) {
	arg, ok := s.parseID(id)
	if !ok {
		return record{}, Response{}, errNotFound
	}
	if len(input) == 0 {
		return record{}, Response{}, errNoFields
	}
	vals, err := s.decode(input, false)
	if err != nil {
		return record{}, Response{}, err
	}
	return rg.modify(ctx, s, arg, vals)
}
