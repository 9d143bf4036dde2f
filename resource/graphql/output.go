package graphql

import (
	"bytes"
	"encoding/json"
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
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalJSON writes the items.
func (l *list) MarshalJSON() ([]byte, error) {
	if l.items == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(l.items)
}

// MarshalJSON writes null (a bubble that [settle] left is a bug).
func (bubbleT) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
