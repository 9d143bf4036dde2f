package graphql

import (
	"encoding/json"
	"math"
	"strconv"

	"gatehouse.dev/internal/jsonstr"
)

// object is a result object: members in selection order. nonNull marks
// the members whose type is non-null, for null propagation.
type object struct {
	keys    []string
	vals    []any
	nonNull []bool
}

// list is a result list; nonNull marks a list of non-null items.
type list struct {
	items   []any
	nonNull bool
}

// bubbleT marks a null in a non-null position: the error propagates to the
// nearest nullable parent ([settle]).
type bubbleT struct{}

var bubble = bubbleT{}

// settle replaces every bubble by null at the nearest nullable position,
// as the spec's null propagation does, and reports whether v itself
// became a bubble.
func settle(v any) any {
	switch v := v.(type) {
	case *object:
		for i, c := range v.vals {
			if settle(c) == bubble {
				if v.nonNull[i] {
					return bubble
				}
				v.vals[i] = nil
			}
		}
	case *list:
		for i, c := range v.items {
			if settle(c) == bubble {
				if v.nonNull {
					return bubble
				}
				v.items[i] = nil
			}
		}
	case bubbleT:
		return bubble
	}
	return v
}

// MarshalJSON writes the members in order.
func (o *object) MarshalJSON() ([]byte, error) { return appendValue(nil, o) }

// MarshalJSON writes the items.
func (l *list) MarshalJSON() ([]byte, error) { return appendValue(nil, l) }

// MarshalJSON writes null (a bubble that [settle] left is a bug).
func (bubbleT) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// appendValue appends the JSON of a result value to b in one pass (no
// json.Marshal per member, which would compact every nested object again).
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil, bubbleT:
		return append(b, "null"...), nil
	case *object:
		b = append(b, '{')
		for i, k := range v.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, v.vals[i]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case *list:
		b = append(b, '[')
		for i, it := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, it); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, it := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, it); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...), nil
		}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendString appends s as a JSON string, as encoding/json writes it
// (HTML characters escaped, invalid UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte { return jsonstr.Append(b, s, true) }
