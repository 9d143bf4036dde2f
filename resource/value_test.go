package resource

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse.dev/tenancy"
)

var allTypes = []Type{String, Text, Email, Date, Time, DateTime, Integer, Number, Boolean, UUID, JSONObject}

func testField(t Type) *field {
	f := Field{Name: "f", Type: t}
	if t.stringy() {
		f.MaxLength = 30
	}
	return &field{Field: f, column: "f"}
}

// roundTrip stores raw as a field of type t would be, reads it back as the
// API writes it, and parses that again: an accepted value must come back
// identical.
func roundTrip(t *testing.T, typ Type, d tenancy.Dialect, raw []byte) {
	t.Helper()
	f := testField(typ)
	v, msg := f.parse(raw, d)
	if msg != "" {
		if v != nil {
			t.Fatalf("%s %q: refused (%s) but returned %v", typ, raw, msg, v)
		}
		return
	}
	if !json.Valid(raw) {
		t.Fatalf("%s: accepted invalid JSON %q", typ, raw)
	}
	out, err := f.output(v)
	if err != nil {
		t.Fatalf("%s %q: output(%#v): %v", typ, raw, v, err)
	}
	b, err := record{keys: []string{"f"}, vals: []any{out}}.MarshalJSON()
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s %q: record JSON %q: %v", typ, raw, b, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	v2, msg := f.parse(m["f"], d)
	if msg != "" || !reflect.DeepEqual(v, v2) {
		t.Fatalf("%s %q: stored %#v, written %s, parsed again %#v (%s)", typ, raw, v, m["f"], v2, msg)
	}
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[Type][]string{
		String:     {`"a"`, `""`, `"a\"b\\c\n\t\u0001\u2028"`, `"€üñ"`, `"` + strings.Repeat("x", 30) + `"`},
		Email:      {`"a@b.co"`, `"first.last+tag@example.com"`},
		Date:       {`"2026-07-20"`, `"2028-02-29"`, `"0001-01-01"`},
		Time:       {`"00:00"`, `"23:59"`},
		DateTime:   {`"2026-07-20T10:00:00Z"`, `"2026-07-20T10:00:00.123456789+05:30"`, `"2026-07-20T10:00:00-00:00"`},
		Integer:    {`0`, `-9223372036854775808`, `9223372036854775807`},
		Number:     {`0`, `-1.5`, `1e300`, `123456789012345678`},
		Boolean:    {`true`, `false`},
		UUID:       {`"AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA"`},
		JSONObject: {`{}`, `{"b":[1,{"c":null}],"a":"<&>","n":1e400000}`, `{"a":1,"a":2}`, `{"s":"\ud800"}`},
	}
	for typ, raws := range cases {
		for _, raw := range raws {
			for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
				t.Run(fmt.Sprint(typ, d, raw), func(t *testing.T) {
					f := testField(typ)
					if _, msg := f.parse([]byte(raw), d); msg != "" && !(typ == JSONObject && strings.Contains(raw, "e400000")) {
						t.Fatalf("refused: %s", msg)
					}
					roundTrip(t, typ, d, []byte(raw))
				})
			}
		}
	}
}

func TestOutputConversions(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 7, 20, 10, 0, 0, 500000000, time.FixedZone("x", 3600))
	tests := []struct {
		typ  Type
		in   any
		want any
	}{
		{String, []byte("b"), "b"},
		{String, int64(5), "5"},
		{UUID, [16]byte{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}, "aa010203-0405-0607-0809-0a0b0c0d0eff"},
		{UUID, "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"},
		{Date, ts, "2026-07-20"},
		{Date, "2026-07-20T00:00:00Z", "2026-07-20"},
		{Time, "10:30:00", "10:30"},
		{Time, "10:30:00.000000", "10:30"},
		{DateTime, ts, "2026-07-20T09:00:00.5Z"},
		{DateTime, "2026-07-20T09:00:00.000000Z", "2026-07-20T09:00:00Z"},
		{DateTime, "2026-07-20 09:00:00", "2026-07-20T09:00:00Z"},
		{Integer, "42", int64(42)},
		{Integer, float64(3), int64(3)},
		{Number, int64(2), float64(2)},
		{Number, "2.5", 2.5},
		{Boolean, int64(0), false},
		{Boolean, "t", true},
		{JSONObject, []byte(`{ "a" : 1 }`), json.RawMessage(`{"a":1}`)},
		{JSONObject, "not json", "not json"},
	}
	for _, tc := range tests {
		got, err := testField(tc.typ).output(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s output(%#v) = %#v, %v; want %#v", tc.typ, tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		typ Type
		in  any
	}{{Integer, "x"}, {Number, "x"}, {Boolean, "maybe"}, {DateTime, "yesterday"}, {String, struct{}{}}} {
		if _, err := testField(tc.typ).output(tc.in); err == nil {
			t.Errorf("%s output(%#v): no error", tc.typ, tc.in)
		}
	}
	if v, err := testField(String).output(nil); v != nil || err != nil {
		t.Errorf("NULL = %v, %v", v, err)
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\n\r\t", "\u2028\u2029", "€", "\xff\xfe", "a\xc3", "<>&"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Errorf("%q → %s → %q", s, b, got)
		}
	}
}

func FuzzFieldValue(f *testing.F) {
	for i, raws := range [][]string{
		{`"x"`, `"` + strings.Repeat("é", 31) + `"`, `"\u0000"`, `5`, `null`},
		{`"a@b.co"`, `"A <a@b.co>"`, `"a@"`, `"@b"`, `"a@b@c"`, `"\"a b\"@c.d"`},
		{`"2026-02-29"`, `"2028-02-29"`, `"2026-1-01"`, `"+2026-01-01"`},
		{`"23:59"`, `"24:00"`, `"1:00"`, `"12:60"`},
		{`"2026-07-20T10:00:00Z"`, `"2026-07-20T10:00:00.1+14:00"`, `"2026-07-20t10:00:00z"`, `"2026-07-20 10:00:00Z"`},
		{`1`, `-0`, `1.0`, `1e2`, `01`, `9223372036854775808`},
		{`1.5`, `-0.0`, `1e308`, `1e309`, `.5`},
		{`true`, `false`, `"true"`, `1`},
		{`"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"`, `"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa"`},
		{`{}`, `{"a":"\u0000"}`, `[]`, `{"a":1}x`, `{"a":{"b":{"c":[1,2,"\\u0000"]}}}`},
	} {
		for _, raw := range raws {
			f.Add(uint8(i), []byte(raw))
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, raw []byte) {
		ty := allTypes[int(typ)%len(allTypes)]
		for _, d := range []tenancy.Dialect{tenancy.SQLite, tenancy.Postgres} {
			roundTrip(t, ty, d, raw)
		}
		// Filters parse the same string values.
		if s, ok := jsonString(raw); ok && utf8.ValidString(s) {
			fl := testField(ty)
			v, msg := fl.parseFilter(s)
			if msg == "" && v == nil {
				t.Fatalf("%s filter %q: nil value", ty, s)
			}
		}
	})
}

func TestIsJSONNumber(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0", "-0", "1", "-1", "1.5", "1e5", "1E+5", "1e-5", "-0.0e0", "", "-", "01", "1.", ".1", "1e", "+1", "1x", "0x1", " 1", "NaN", "Infinity"} {
		if got, want := isJSONNumber([]byte(s)), json.Valid([]byte(s)) && s != "" && s[0] != ' '; got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}
