package resource

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

// MaxSearchLength caps the q parameter, in characters.
const MaxSearchLength = 255

// ListQuery is a parsed list request.
type ListQuery struct {
	// Limit is the page size, clamped to Limits.MaxLimit.
	Limit int
	// Offset is the number of rows skipped.
	Offset int
	// CreatedAfter, when not zero, keeps rows with created_at >= it.
	CreatedAfter time.Time
	// CreatedBefore, when not zero, keeps rows with created_at < it.
	CreatedBefore time.Time
	// Q is the search text ("" means no search).
	Q string
	// Filters are the exact filters, sorted by field name.
	Filters []Filter
	// Cursor is the cursor= value: the opaque position to continue after,
	// as returned in next_cursor. "" means the first page (an empty
	// cursor= is the first page too). ParseListQuery only checks that it
	// is not combined with offset; the registry verifies it against the
	// caller's organization and the other parameters.
	Cursor string
	// EdgeCursors, set by Go callers of [Registry.List] (GraphQL's
	// edges { cursor }), fills Page.Cursors with the cursor of each record
	// when cursors are on. The query string never sets it.
	EdgeCursors bool
	// EndCursor, set by Go callers (GraphQL's pageInfo { endCursor }),
	// fills Page.EndCursor when cursors are on: one signature instead of
	// one per record.
	EndCursor bool
}

// Filter is one exact filter of a list request.
type Filter struct {
	// Field is the filter's JSON name ("status", "id").
	Field string
	// Value is the parsed value: a string (UUIDs in lower case), int64,
	// float64, bool, or a time.Time in UTC for date-time fields.
	Value any
}

// Detail explains why one field or parameter was refused; it is an element
// of "details" in 400 answers.
type Detail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ParseListQuery parses the raw query string of a list request of res (its
// defaults applied as [New] would) with the limits lim (zero fields mean the
// defaults of [Limits]). It is exported so the parser can be tested and
// fuzzed on its own; the registry's list handler uses the same code.
//
// Errors are *gatehouse.Error values, checked in this order:
//   - 400 "Unsupported filters": parameters that are neither list parameters
//     (limit, offset, cursor, created_after, created_before, q) nor filters
//     of res; "fields" lists all of them, sorted.
//   - 400 "Invalid query parameters": repeated parameters, limit not a
//     positive integer, offset not an integer in 0..MaxOffset, offset and
//     cursor together, dates that are neither YYYY-MM-DD nor RFC 3339, q too
//     long or with U+0000, filter values not of their field's type,
//     undecodable escapes, values that are not valid UTF-8, date-times
//     outside years 0001–9999 in UTC; "fields" lists all of them, sorted,
//     and "details" says why.
//
// The cursor itself is verified by the registry, which answers 400
// "Invalid cursor" when it does not verify.
//
// A limit above MaxLimit is clamped to it. A filter on a string field takes
// any value (an empty one matches empty strings); q="" means no search.
func ParseListQuery(res Resource, lim Limits, rawQuery string) (ListQuery, error) {
	targets := refTargets([]Resource{res})
	r, err := normalize(res.clone(), nil, 0, targets)
	if err != nil {
		return ListQuery{}, err
	}
	return parseList(compile(r, 0, "", targets), lim.withDefaults(), rawQuery)
}

type param struct {
	key, value string
	n          int    // occurrences
	bad        string // why the value is unusable: an invalid escape or invalid UTF-8
}

// splitQuery splits a raw query like url.ParseQuery, but keeps going on
// malformed escapes and values that are not valid UTF-8 (marking them: such
// bytes must never reach the database, which refuses them with an error)
// and treats ';' as an ordinary character.
func splitQuery(raw string) (params []param, unknownRaw []string) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			unknownRaw = append(unknownRaw, k)
			continue
		}
		value, err := url.QueryUnescape(v)
		i := slices.IndexFunc(params, func(p param) bool { return p.key == key })
		if i < 0 {
			p := param{key: key, value: value, n: 1}
			switch {
			case err != nil:
				p.bad = "has an invalid escape"
			case !utf8.ValidString(value):
				p.bad = "must be valid UTF-8"
			}
			params = append(params, p)
			continue
		}
		params[i].n++
	}
	return params, unknownRaw
}

func parseList(s *spec, lim Limits, rawQuery string) (ListQuery, error) {
	q := ListQuery{Limit: lim.DefaultLimit}
	params, unknown := splitQuery(rawQuery)
	for _, p := range params {
		switch p.key {
		case "limit", paramOffset, paramCursor, "q":
		case "created_after", "created_before":
			if s.created == nil {
				unknown = append(unknown, p.key)
			}
		default:
			if _, ok := s.filters[p.key]; !ok {
				unknown = append(unknown, p.key)
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return q, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgUnsupportedFilters).
			With("fields", slices.Compact(unknown))
	}
	var details []Detail
	bad := func(name, msg string) { details = append(details, Detail{Field: name, Message: msg}) }
	hasOffset := slices.ContainsFunc(params, func(p param) bool { return p.key == paramOffset })
	hasCursor := slices.ContainsFunc(params, func(p param) bool { return p.key == paramCursor })
	for _, p := range params {
		switch {
		case p.n > 1:
			bad(p.key, "must not be repeated")
			continue
		case p.bad != "":
			bad(p.key, p.bad)
			continue
		}
		switch p.key {
		case "limit":
			n, ok := parseCount(p.value)
			switch {
			case !ok || n == 0:
				bad(p.key, "must be a positive integer")
			case n > lim.MaxLimit:
				q.Limit = lim.MaxLimit
			default:
				q.Limit = n
			}
		case paramOffset:
			n, ok := parseCount(p.value)
			switch {
			case hasCursor:
				bad(p.key, "must not be combined with cursor")
			case !ok:
				bad(p.key, "must be a non-negative integer")
			case n > lim.MaxOffset:
				bad(p.key, "must be at most "+strconv.Itoa(lim.MaxOffset))
			default:
				q.Offset = n
			}
		case paramCursor:
			if hasOffset {
				bad(p.key, "must not be combined with offset")
				continue
			}
			q.Cursor = p.value
		case "created_after", "created_before":
			t, ok := parseDateParam(p.value)
			if !ok {
				bad(p.key, "must be a date (YYYY-MM-DD) or an RFC 3339 date-time")
				continue
			}
			if p.key == "created_after" {
				q.CreatedAfter = t
			} else {
				q.CreatedBefore = t
			}
		case "q":
			switch {
			case strings.IndexByte(p.value, 0) >= 0:
				bad(p.key, msgNUL)
			case utf8.RuneCountInString(p.value) > MaxSearchLength:
				bad(p.key, "must be at most "+strconv.Itoa(MaxSearchLength)+" characters")
			default:
				q.Q = p.value
			}
		default:
			f := s.filters[p.key]
			v, msg := f.parseFilter(p.value)
			if msg != "" {
				bad(p.key, msg)
				continue
			}
			q.Filters = append(q.Filters, Filter{Field: p.key, Value: v})
		}
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
	slices.SortFunc(q.Filters, func(a, b Filter) int { return strings.Compare(a.Field, b.Field) })
	return q, nil
}

// parseCount parses a non-negative decimal integer of ASCII digits. Values
// too large for an int saturate at 1<<30, which every limit clamps and every
// offset refuses.
func parseCount(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<30 {
			n = n*10 + int(c-'0')
		}
	}
	if n > 1<<30 {
		n = 1 << 30
	}
	return n, true
}

// conds returns the WHERE conditions of q (after the organization predicate
// that tenancy adds).
func (s *spec) conds(q ListQuery) []tenancy.Cond {
	d := s.table.Dialect
	var out []tenancy.Cond
	if c := s.created; c != nil && !q.CreatedAfter.IsZero() {
		out = append(out, tenancy.Gte(c.column, timeBound(c.stamp, q.CreatedAfter)))
	}
	if c := s.created; c != nil && !q.CreatedBefore.IsZero() {
		out = append(out, tenancy.Lt(c.column, timeBound(c.stamp, q.CreatedBefore)))
	}
	for _, f := range q.Filters {
		fs, ok := s.filters[f.Field]
		if !ok {
			continue
		}
		v := f.Value
		if t, ok := v.(time.Time); ok {
			v = d.TimeValue(t)
		}
		out = append(out, tenancy.Eq(fs.column, v))
	}
	if q.Q != "" {
		out = append(out, tenancy.Contains(d, s.search, q.Q))
	}
	return out
}
