package resource_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/resource"
)

func TestParseListQuery(t *testing.T) {
	t.Parallel()
	tasks := testResources()[3]
	tests := []struct {
		raw    string
		check  func(resource.ListQuery) bool
		errMsg string
	}{
		{"", func(q resource.ListQuery) bool {
			return q.Limit == 50 && q.Offset == 0 && q.Q == "" && len(q.Filters) == 0
		}, ""},
		{"limit=7&offset=3", func(q resource.ListQuery) bool { return q.Limit == 7 && q.Offset == 3 }, ""},
		{"limit=1001", func(q resource.ListQuery) bool { return q.Limit == 1000 }, ""},
		{"q=a+b%25", func(q resource.ListQuery) bool { return q.Q == "a b%" }, ""},
		{"created_after=2026-01-02&created_before=2026-01-03T00:00:00%2B01:00", func(q resource.ListQuery) bool {
			return q.CreatedAfter.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) && q.CreatedBefore.Equal(time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC))
		}, ""},
		{"status=open&points=-3&done=false&lead_id=AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA&id=00000000-0000-0000-0000-000000000000", func(q resource.ListQuery) bool {
			want := []resource.Filter{
				{Field: "done", Value: false}, {Field: "id", Value: "00000000-0000-0000-0000-000000000000"},
				{Field: "lead_id", Value: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}, {Field: "points", Value: int64(-3)}, {Field: "status", Value: "open"},
			}
			return slices.Equal(q.Filters, want)
		}, ""},
		{"due_at=2026-07-20T12:00:00%2B02:00", func(q resource.ListQuery) bool {
			return len(q.Filters) == 1 && q.Filters[0].Value == time.Date(2026, 7, 20, 10, 0, 0, 0, time.UTC)
		}, ""},
		{"limit=0", nil, gatehouse.MsgInvalidQuery},
		{"nope=1&limit=0", nil, gatehouse.MsgUnsupportedFilters},
		{"title=x", nil, gatehouse.MsgUnsupportedFilters},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			q, err := resource.ParseListQuery(tasks, resource.Limits{}, tc.raw)
			if tc.errMsg != "" {
				var ge *gatehouse.Error
				if !errors.As(err, &ge) || ge.Msg != tc.errMsg || ge.Status != 400 {
					t.Fatalf("err = %v, want %q", err, tc.errMsg)
				}
				return
			}
			if err != nil || !tc.check(q) {
				t.Fatalf("ParseListQuery(%q) = %+v, %v", tc.raw, q, err)
			}
		})
	}
	if _, err := resource.ParseListQuery(resource.Resource{Name: "Bad"}, resource.Limits{}, ""); err == nil {
		t.Error("invalid resource accepted")
	}
	q, err := resource.ParseListQuery(tasks, resource.Limits{DefaultLimit: 5, MaxLimit: 10, MaxOffset: 20}, "limit=11&offset=20")
	if err != nil || q.Limit != 10 || q.Offset != 20 {
		t.Errorf("custom limits: %+v %v", q, err)
	}
	if _, err := resource.ParseListQuery(tasks, resource.Limits{MaxOffset: 20}, "offset=21"); err == nil {
		t.Error("offset above custom MaxOffset accepted")
	}
}

// checkListQuery asserts the invariants of any ParseListQuery result.
func checkListQuery(t *testing.T, res resource.Resource, raw string, q resource.ListQuery, err error) {
	t.Helper()
	if err != nil {
		var ge *gatehouse.Error
		if !errors.As(err, &ge) || ge.Status != 400 {
			t.Fatalf("%q: error %v is not a 400 *gatehouse.Error", raw, err)
		}
		if ge.Msg != gatehouse.MsgInvalidQuery && ge.Msg != gatehouse.MsgUnsupportedFilters {
			t.Fatalf("%q: message %q", raw, ge.Msg)
		}
		fields, _ := ge.Extra["fields"].([]string)
		if len(fields) == 0 || !slices.IsSorted(fields) {
			t.Fatalf("%q: fields %v", raw, ge.Extra["fields"])
		}
		return
	}
	if q.Limit < 1 || q.Limit > resource.DefaultMaxLimit || q.Offset < 0 || q.Offset > resource.DefaultMaxOffset {
		t.Fatalf("%q: limit %d offset %d", raw, q.Limit, q.Offset)
	}
	if strings.IndexByte(q.Q, 0) >= 0 {
		t.Fatalf("%q: NUL in q", raw)
	}
	if !slices.IsSortedFunc(q.Filters, func(a, b resource.Filter) int { return strings.Compare(a.Field, b.Field) }) {
		t.Fatalf("%q: filters not sorted", raw)
	}
	for _, f := range q.Filters {
		if !slices.Contains(res.Filters, f.Field) {
			t.Fatalf("%q: filter %q is not declared", raw, f.Field)
		}
		if s, ok := f.Value.(string); ok && strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("%q: NUL in filter %s", raw, f.Field)
		}
	}
}

func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=10&offset=20", "limit=0", "limit=-1", "limit=99999999999999999999", "offset=10001",
		"q=%25_%5C", "q=a%00", "status=a&status=b", "foo=1&bar=2", "%zz=1", "status=%zz", "a;b=1",
		"created_after=2026-02-30", "created_before=2026-01-01T00:00:00Z", "id=not-a-uuid",
		"lead_id=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "points=1e3", "done=true", "due_at=2026-07-20T10:00:00.5-01:30",
		"&&&", "=", "==", "limit", "q=" + strings.Repeat("x", 300),
	} {
		f.Add(s)
	}
	res := testResources()[3]
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := resource.ParseListQuery(res, resource.Limits{}, raw)
		checkListQuery(t, res, raw, q, err)
	})
}

// FuzzFilter drives one parameter through the parser and checks that an
// accepted filter value round-trips.
func FuzzFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"status", "open"}, {"status", ""}, {"status", "a\x00b"}, {"points", "-9223372036854775808"}, {"points", "9223372036854775808"},
		{"done", "true"}, {"done", "TRUE"}, {"id", "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA"}, {"assigned_to_email", "a@b.co"},
		{"assigned_to_email", "A <a@b.co>"}, {"due_at", "2026-07-20T10:00:00Z"}, {"limit", "5"}, {"q", "%"}, {"nope", "1"},
	} {
		f.Add(s[0], s[1])
	}
	res := testResources()[3]
	f.Fuzz(func(t *testing.T, name, value string) {
		raw := url.Values{name: {value}}.Encode()
		q, err := resource.ParseListQuery(res, resource.Limits{}, raw)
		checkListQuery(t, res, raw, q, err)
		if err != nil || !slices.Contains(res.Filters, name) {
			return
		}
		if len(q.Filters) != 1 || q.Filters[0].Field != name {
			t.Fatalf("%q: filters %+v", raw, q.Filters)
		}
		switch v := q.Filters[0].Value.(type) {
		case string:
			if v != value && v != strings.ToLower(value) {
				t.Fatalf("%q: value %q", raw, v)
			}
		case bool:
			if value != "true" && value != "false" {
				t.Fatalf("%q: bool from %q", raw, value)
			}
		case int64:
			if v == 0 && value != "0" && value != "-0" {
				t.Fatalf("%q: int from %q", raw, value)
			}
		case time.Time:
			if v.Location() != time.UTC {
				t.Fatalf("%q: time not UTC", raw)
			}
		default:
			t.Fatalf("%q: value type %T", raw, v)
		}
	})
}
