package graphql

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString: strings are written exactly as encoding/json writes
// them.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "<&>", "\x00\x1f\n\r\t", "\u2028\u2029", "é😀", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}

// TestSettle: a null in a non-null position nulls the nearest nullable
// parent.
func TestSettle(t *testing.T) {
	inner := &object{keys: []string{"id", "name"}, vals: []any{bubble, "x"}, nonNull: []bool{true, false}}
	items := &list{items: []any{inner, "y"}, nonNull: true}
	root := &object{keys: []string{"a", "b"}, vals: []any{items, int64(1)}, nonNull: []bool{false, true}}
	if settle(root) == bubble {
		t.Fatal("root bubbled")
	}
	b, err := json.Marshal(root)
	if err != nil || string(b) != `{"a":null,"b":1}` {
		t.Fatalf("%s %v", b, err)
	}
	nullable := &object{keys: []string{"l"}, vals: []any{&list{items: []any{&object{keys: []string{"id"}, vals: []any{bubble}, nonNull: []bool{true}}}}}, nonNull: []bool{true}}
	if settle(nullable) == bubble {
		t.Fatal("a nullable item should stop the bubble")
	}
	if b, _ := json.Marshal(nullable); string(b) != `{"l":[null]}` {
		t.Fatalf("%s", b)
	}
}
