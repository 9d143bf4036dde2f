package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev/internal/jsonstr"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/tenancy"
)

// Messages of the "details" of 400 Invalid field values.
const (
	msgRequired = "is required"
	msgNUL      = "must not contain U+0000"
)

// jsonSpace is JSON's insignificant whitespace.
const jsonSpace = " \t\r\n"

// parse validates one JSON input value (never null: the caller handles null)
// and returns the value to store, or a message for the details of
// "Invalid field values". It never panics, whatever raw holds.
func (f *field) parse(raw []byte, d tenancy.Dialect) (any, string) {
	raw = bytes.Trim(raw, jsonSpace)
	switch f.Type {
	case String, Text, Email, Date, Time, DateTime, UUID:
		s, ok := jsonString(raw)
		if !ok {
			return nil, "must be a string"
		}
		return f.parseString(s, d)
	case Integer:
		if !isJSONNumber(raw) || bytes.ContainsAny(raw, ".eE") {
			return nil, "must be an integer"
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, "must be an integer"
		}
		return v, ""
	case Number:
		if !isJSONNumber(raw) {
			return nil, "must be a number"
		}
		v, ok := parseFloat(string(raw))
		if !ok {
			return nil, "must be a number"
		}
		return v, ""
	case Boolean:
		switch string(raw) {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
		return nil, "must be a boolean"
	case JSONObject:
		return parseObject(raw)
	}
	return nil, "has an unsupported type"
}

// parseString validates the string value of a string-typed field. It is
// also how filter values are parsed.
func (f *field) parseString(s string, d tenancy.Dialect) (any, string) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, msgNUL
	}
	if f.idType == IDText {
		if !validTextID(s) {
			return nil, idMessage(IDText)
		}
		return s, ""
	}
	switch f.Type {
	case String, Text, Email:
		if f.MaxLength > 0 && utf8.RuneCountInString(s) > f.MaxLength {
			return nil, fmt.Sprintf("must be at most %d characters", f.MaxLength)
		}
		if f.Type == Email && !validEmail(s) {
			return nil, "must be an email address without a display name"
		}
		return s, ""
	case Date:
		if !validDate(s) {
			return nil, "must be a date (YYYY-MM-DD)"
		}
		return s, ""
	case Time:
		if !validClock(s) {
			return nil, "must be a time (HH:MM)"
		}
		return s, ""
	case DateTime:
		t, msg := parseDateTimeValue(s)
		if msg != "" {
			return nil, msg
		}
		return d.TimeValue(t), ""
	case UUID:
		if !uuid.Valid(s) {
			return nil, "must be a UUID"
		}
		return strings.ToLower(s), ""
	}
	return nil, "has an unsupported type"
}

// parseFilter parses a list filter value of the field's type. Date-times
// are returned as time.Time in UTC.
func (f *field) parseFilter(s string) (any, string) {
	if f.idType != "" {
		v, ok := parseID(f.idType, s)
		if !ok {
			return nil, idMessage(f.idType)
		}
		return v, ""
	}
	switch f.Type {
	case DateTime:
		if strings.IndexByte(s, 0) >= 0 {
			return nil, msgNUL
		}
		t, msg := parseDateTimeValue(s)
		if msg != "" {
			return nil, msg
		}
		return t, ""
	case Integer:
		if !isJSONNumber([]byte(s)) || strings.ContainsAny(s, ".eE") {
			return nil, "must be an integer"
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, "must be an integer"
		}
		return v, ""
	case Number:
		if !isJSONNumber([]byte(s)) {
			return nil, "must be a number"
		}
		v, ok := parseFloat(s)
		if !ok {
			return nil, "must be a number"
		}
		return v, ""
	case Boolean:
		switch s {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
		return nil, "must be true or false"
	case JSONObject:
		return nil, "cannot be filtered"
	}
	return f.parseString(s, 0)
}

// idMessage says what an id of type t looks like, for the details of 400
// answers.
func idMessage(t IDType) string {
	switch t {
	case IDInteger:
		return "must be an integer id"
	case IDText:
		return "must be an id of 1 to 64 characters of A-Z a-z 0-9 . _ : -"
	}
	return "must be a UUID"
}

// jsonString decodes raw when it is a JSON string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// Fast path: no escapes.
	if inner := raw[1 : len(raw)-1]; raw[len(raw)-1] == '"' && bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
		for _, c := range inner {
			if c < 0x20 {
				return "", false
			}
		}
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// isJSONNumber reports whether b is a number in JSON's grammar.
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if '1' <= b[i] && b[i] <= '9' {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(b)
}

// validEmail accepts exactly one bare address: what net/mail parses with no
// display name, and nothing around it (no angle brackets, comments or
// surrounding spaces, no quoted local part).
func validEmail(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n<>()\",;") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1
}

func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range []byte(s) {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Year() >= 1 // PostgreSQL has no year 0
}

func validClock(s string) bool {
	if len(s) != 5 || s[2] != ':' {
		return false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return (s[0]-'0')*10+(s[1]-'0') <= 23 && s[3] <= '5'
}

// Messages of date-time values.
const (
	msgDateTime      = "must be a date-time (RFC 3339)"
	msgDateTimeRange = "must be between years 0001 and 9999 in UTC"
)

// parseDateTime parses an RFC 3339 date-time ('T' separator, seconds, an
// offset or Z) and returns it in UTC. A time whose UTC year is outside
// 0001–9999 is refused: RFC 3339 cannot write it, SQLite's date functions
// cannot read it back and PostgreSQL would answer a five-digit year.
func parseDateTime(s string) (time.Time, bool) {
	t, msg := parseDateTimeValue(s)
	return t, msg == ""
}

// parseDateTimeValue is parseDateTime with the message for the details of a
// 400 answer.
func parseDateTimeValue(s string) (time.Time, string) {
	if len(s) < 20 || len(s) > 35 || s[10] != 'T' {
		return time.Time{}, msgDateTime
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, msgDateTime
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, msgDateTimeRange
	}
	return t, ""
}

// parseDateParam parses created_after/created_before: an ISO date (midnight
// UTC) or an RFC 3339 date-time.
func parseDateParam(s string) (time.Time, bool) {
	if validDate(s) {
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	return parseDateTime(s)
}

// parseObject validates a JSON object and returns its canonical text: keys
// sorted, numbers kept exactly, no HTML escaping. Strings or keys holding
// U+0000 are refused (PostgreSQL's jsonb cannot store them).
func parseObject(raw []byte) (any, string) {
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, "must be a JSON object"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, "must be a JSON object"
	}
	if hasNUL(m, 0) {
		return nil, msgNUL
	}
	if !finiteNumbers(m, 0) {
		return nil, msgFinite
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, "must be a JSON object"
	}
	return strings.TrimSuffix(b.String(), "\n"), ""
}

// parseFloat parses a JSON number that a float64 holds: not infinite
// after rounding (1e400) and not a non-zero number rounded to zero
// (1e-400), which PostgreSQL's numeric may refuse and no client reads back.
func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	if f == 0 {
		mant, _, _ := strings.Cut(strings.ToLower(s), "e")
		if strings.Trim(mant, "-+0.") != "" {
			return 0, false // underflow
		}
	}
	return f, true
}

// msgFinite refuses numbers that are not finite float64 values (such as
// 1e400): PostgreSQL's jsonb refuses some (numeric overflow), and no JSON
// client could read them back as numbers.
const msgFinite = "must hold only numbers that fit a 64-bit float"

// finiteNumbers reports whether every number in v (decoded with UseNumber)
// is a finite float64.
func finiteNumbers(v any, depth int) bool {
	if depth > 10000 {
		return false
	}
	switch x := v.(type) {
	case json.Number:
		_, ok := parseFloat(string(x))
		return ok
	case map[string]any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	}
	return true
}

func hasNUL(v any, depth int) bool {
	if depth > 10000 {
		return true
	}
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e, depth+1) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNUL(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// output converts a scanned column value to its JSON value: nil, string,
// int64, float64, bool or json.RawMessage.
func (f *field) output(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case String, Text, Email:
		if _, ok := v.(string); ok {
			return v, nil // no new allocation
		}
		return asString(v)
	case UUID:
		switch x := v.(type) {
		case string:
			if !hasUpper(x) {
				return v, nil
			}
		case [16]byte:
			return formatUUID(x[:]), nil
		case []byte:
			if len(x) == 16 {
				return formatUUID(x), nil
			}
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return strings.ToLower(s), nil
	case Date:
		if t, ok := v.(time.Time); ok {
			return t.Format(time.DateOnly), nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		if len(s) > 10 && s[10] == 'T' || len(s) > 10 && s[10] == ' ' {
			s = s[:10]
		}
		return s, nil
	case Time:
		if t, ok := v.(time.Time); ok {
			return t.Format("15:04"), nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		if len(s) > 5 && s[2] == ':' && s[5] == ':' {
			s = s[:5] // "HH:MM:SS" from a time column
		}
		return s, nil
	case DateTime:
		if f.stamp != "" {
			t, err := scanStamp(f.stamp, v)
			if err != nil {
				return nil, fmt.Errorf("resource: column %s: %w", f.column, err)
			}
			return formatTime(t), nil
		}
		var t tenancy.Time
		if err := t.Scan(v); err != nil {
			return nil, err
		}
		return formatTime(t.Time), nil
	case Integer:
		switch x := v.(type) {
		case int64:
			return v, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("resource: column %s: %q is not an integer", f.column, s)
		}
		return n, nil
	case Number:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("resource: column %s: %q is not a number", f.column, s)
		}
		return n, nil
	case Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("resource: column %s: %q is not a boolean", f.column, s)
		}
		return b, nil
	case JSONObject:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			m, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("resource: column %s: %w", f.column, err)
			}
			return json.RawMessage(m), nil
		}
		if json.Valid(b) {
			var c bytes.Buffer
			if err := json.Compact(&c, b); err == nil {
				return json.RawMessage(c.Bytes()), nil
			}
		}
		return string(b), nil // not JSON: written as a string
	}
	return nil, fmt.Errorf("resource: column %s: unsupported type %s", f.column, f.Type)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return formatTime(x), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", fmt.Errorf("resource: cannot convert %T to a string", v)
}

func formatUUID(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// formatTime writes a timestamp as RFC 3339 in UTC with up to microseconds.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

// record is one record as the API returns it, in a stable member order:
// id, the fields in declaration order, organization_id, created_at,
// updated_at.
type record struct {
	keys []string
	vals []any
}

func (r record) get(name string) any {
	for i, k := range r.keys {
		if k == name {
			return r.vals[i]
		}
	}
	return nil
}

// Map returns the record as a map (for [Change]).
func (r record) Map() map[string]any {
	m := make(map[string]any, len(r.keys))
	for i, k := range r.keys {
		m[k] = r.vals[i]
	}
	return m
}

// MarshalJSON writes the members in order.
func (r record) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 64*len(r.keys)))
}

// appendJSON appends the record as a JSON object to b.
func (r record) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	for i, k := range r.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		switch v := r.vals[i].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendJSONString(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case json.RawMessage:
			b = append(b, v...)
		default:
			m, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b = append(b, m...)
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// control characters and U+2028/U+2029 are escaped.
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s, false) }
