package resource

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/tenancy"
)

// parseID parses an id of type t as it appears in a path, a filter value or
// a cursor, and returns the query argument (a lower-case UUID string, an
// int64, or the text id), or false when s is not an id of that type. Each id
// has one spelling besides UUID case: no sign, leading zeros or spaces on
// integers. It never panics.
func parseID(t IDType, s string) (any, bool) {
	switch t {
	case IDInteger:
		n, ok := parseIntID(s)
		return n, ok
	case IDText:
		return s, validTextID(s)
	}
	if !uuid.Valid(s) {
		return nil, false
	}
	return strings.ToLower(s), true
}

// parseIntID parses a canonical decimal int64: "0" or an optional '-'
// followed by digits without a leading zero.
func parseIntID(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 19 || digits[0] == '0' && (len(digits) > 1 || len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validTextID reports whether s is a text id: 1 to [MaxTextIDLength]
// characters of A–Z a–z 0–9 . _ : -.
func validTextID(s string) bool {
	if s == "" || len(s) > MaxTextIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// idKey is the string form of an id value (a query argument from parseID
// or a record's "id"): the path segment, Change.ID and the cursor position.
func idKey(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// newID makes the id of a new record of a resource with UUID or text ids.
func (s *spec) newID(ctx context.Context) (string, error) {
	if s.res.NewID == nil {
		return uuid.New(), nil
	}
	id, err := s.res.NewID(ctx)
	if err != nil {
		return "", fmt.Errorf("resource: create %s: NewID: %w", s.res.Name, err)
	}
	v, ok := parseID(s.res.IDType, id)
	if !ok {
		return "", fmt.Errorf("resource: create %s: NewID returned %q, not a %s id", s.res.Name, id, s.res.IDType)
	}
	return v.(string), nil
}

// timeArg returns t as a query argument for a timestamp column of format f:
// text in tenancy.TimeLayout, Unix seconds or milliseconds (rounded down),
// or a time.Time in UTC, truncated to microseconds.
func timeArg(f TimeFormat, t time.Time) any {
	t = t.UTC()
	switch f {
	case TimeUnix:
		return t.Unix()
	case TimeUnixMilli:
		return t.UnixMilli()
	case TimeText:
		return t.Truncate(time.Microsecond).Format(tenancy.TimeLayout)
	}
	return t.Truncate(time.Microsecond)
}

// timeBound returns the bound of a created_after (>=) or created_before (<)
// condition on a column of format f. Integer columns hold times rounded
// down to their unit, so the bound is rounded up: "column >= ceil(t)" keeps
// exactly the rows stored at or after t, and "column < ceil(t)" those
// before it.
func timeBound(f TimeFormat, t time.Time) any {
	switch f {
	case TimeUnix:
		if t.Truncate(time.Second).Equal(t) {
			return t.Unix()
		}
		return t.Unix() + 1
	case TimeUnixMilli:
		if t.Truncate(time.Millisecond).Equal(t) {
			return t.UnixMilli()
		}
		return t.UnixMilli() + 1
	}
	return timeArg(f, t)
}

// scanStamp converts a scanned timestamp column of format f to a time in
// UTC.
func scanStamp(f TimeFormat, v any) (time.Time, error) {
	if f == TimeUnix || f == TimeUnixMilli {
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case float64:
			n = int64(x)
		default:
			s, err := asString(v)
			if err != nil {
				return time.Time{}, err
			}
			if n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
				return time.Time{}, fmt.Errorf("resource: %q is not an integer timestamp", s)
			}
		}
		if f == TimeUnix {
			return time.Unix(n, 0).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	var t tenancy.Time
	if err := t.Scan(v); err != nil {
		return time.Time{}, err
	}
	return t.Time, nil
}
