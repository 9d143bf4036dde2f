package redisfeed

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func msgs(ids ...string) []redis.XMessage {
	out := make([]redis.XMessage, len(ids))
	for i, id := range ids {
		out[i] = redis.XMessage{ID: id}
	}
	return out
}

func TestMissed(t *testing.T) {
	t.Parallel()
	redis7 := func(last string, added int64, first string) *redis.XInfoStream {
		return &redis.XInfoStream{LastGeneratedID: last, EntriesAdded: added, MaxDeletedEntryID: "0-0", FirstEntry: redis.XMessage{ID: first}}
	}
	redis6 := func(last, first string) *redis.XInfoStream {
		return &redis.XInfoStream{LastGeneratedID: last, FirstEntry: redis.XMessage{ID: first}}
	}
	for _, tc := range []struct {
		name    string
		pos     position // before the read
		read    []redis.XMessage
		info    *redis.XInfoStream
		want    bool
		wantPos position
	}{
		{"read everything added", position{last: "5-0", added: 5}, msgs("6-0", "7-0"), redis7("7-0", 7, "1-0"), false, position{last: "7-0", added: 7}},
		{"one trimmed before the read", position{last: "5-0", added: 5}, msgs("7-0"), redis7("7-0", 7, "7-0"), true, position{last: "7-0", added: 7}},
		{"trimmed after the read", position{last: "5-0", added: 5}, msgs("6-0", "7-0"), redis7("7-0", 7, "7-0"), false, position{last: "7-0", added: 7}},
		{"more added since the read: checked later", position{last: "5-0", added: 5}, msgs("6-0"), redis7("8-0", 8, "1-0"), false, position{last: "6-0", added: 5, seen: 1}},
		{"checked later, nothing missed", position{last: "6-0", added: 5, seen: 1}, msgs("7-0", "8-0"), redis7("8-0", 8, "1-0"), false, position{last: "8-0", added: 8}},
		{"checked later, one missed", position{last: "6-0", added: 5, seen: 1}, msgs("8-0"), redis7("8-0", 8, "1-0"), true, position{last: "8-0", added: 8}},
		{"stream created again", position{last: "5-0", added: 5}, msgs("9-0"), redis7("9-0", 1, "9-0"), true, position{last: "9-0", added: 1}},
		{"from a missing stream", position{last: "0-0"}, msgs("1-0", "1-1"), redis7("1-1", 2, "1-0"), false, position{last: "1-1", added: 2}},
		{"woken with nothing: removed", position{last: "5-0", added: 5}, nil, redis7("7-0", 7, ""), true, position{last: "7-0", added: 7}},
		{"redis 6: position still there", position{last: "5-0"}, msgs("6-0"), redis6("6-0", "2-0"), false, position{last: "6-0"}},
		{"redis 6: position trimmed", position{last: "5-0"}, msgs("9-0"), redis6("9-0", "8-0"), true, position{last: "9-0"}},
		{"redis 6: from a missing stream", position{last: "0-0"}, msgs("1-0"), redis6("1-0", "1-0"), false, position{last: "1-0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pos := tc.pos
			prev := pos.last
			for _, m := range tc.read {
				pos.last = m.ID
			}
			if got := missed(&pos, prev, len(tc.read), tc.info); got != tc.want {
				t.Errorf("missed = %v, want %v", got, tc.want)
			}
			if pos != tc.wantPos {
				t.Errorf("position = %+v, want %+v", pos, tc.wantPos)
			}
		})
	}
}

func TestCompareID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0},
		{"1-0", "1-1", -1},
		{"2-0", "1-9", 1},
		{"10-0", "9-0", 1}, // numeric, not lexical
		{"1700000000000-5", "1700000000000-12", -1},
		{"0-0", "garbage", 0},
	} {
		if got := compareID(tc.a, tc.b); got != tc.want {
			t.Errorf("compareID(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
