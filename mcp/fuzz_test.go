package mcp

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"gatehouse.dev"
)

// FuzzArgs feeds tool arguments to the argument parsers: they never panic,
// every refusal is a 400 *gatehouse.Error, and list arguments that pass
// become a query string whose values round-trip.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, ``, `[]`, `"x"`, `{"id":"abc"}`, `{"id":12}`, `{"id":-1.5e3}`, `{"id":true}`, `{"id":null}`,
		`{"status":"new","limit":5,"q":"a&b=c","cursor":"x y"}`, `{"a":{"b":1}}`, `{"a":[1]}`, `{"a":"\u0000"}`, `{"a":1e400}`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		args, err := objectArgs(raw)
		if err != nil {
			want400(t, err)
			return
		}
		copied := make(map[string]json.RawMessage, len(args))
		for k, v := range args {
			copied[k] = v
		}
		if _, err := idArg(copied); err != nil {
			want400(t, err)
		}
		qs, err := listQuery(args)
		if err != nil {
			want400(t, err)
			return
		}
		v, err := url.ParseQuery(qs)
		if err != nil {
			t.Fatalf("query %q: %v", qs, err)
		}
		for k, raw := range args {
			var s string
			if json.Unmarshal(raw, &s) == nil && v.Get(k) != s {
				t.Fatalf("%s: %q became %q", k, s, v.Get(k))
			}
		}
	})
}

func want400(t *testing.T, err error) {
	t.Helper()
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Status != 400 {
		t.Fatalf("refusal %v is not a 400", err)
	}
}
