// Package audittest is the behaviour suite every [audit.Log] backend must
// pass, in the manner of testing/slogtest: memory, SQL and Redis backends
// call [Run] from their tests.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// Log is what the suite tests: a capped audit log that can be written and
// read. It is [audit.Log].
type Log = audit.Log

// capper is implemented by logs that report their cap; others are expected
// to keep [audit.DefaultCap].
type capper interface{ Cap() int }

// Run runs the behaviour suite. newLog must return an empty log, isolated
// from every other call (its own schema, table or key prefix); when the log
// has a Cap() int method the suite expects that cap, otherwise
// [audit.DefaultCap]. Subtests run in parallel.
//
// Covered: empty reads (an empty non-nil slice), field round trip with the
// time in UTC at millisecond precision, the exact cap, newest first,
// out-of-order batches keeping the newest by (time, request_id), ties on
// time broken by request id, organization isolation, several keys in one
// batch, idempotent rewrites, cleaning of NUL and invalid UTF-8, entries
// without ids ignored, concurrent writers, and several [audit.Recorder]s
// writing one key out of time order; requests refused by the rate limit
// (429) counted in [audit.Refused] instead of kept among the latest;
// [audit.Entry.Operations] round trip (in order, nil when none, invalid
// names and repeats dropped as [audit.Entry.Normalized] does).
func Run(t *testing.T, newLog func(t *testing.T) Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, l Log, cap int)
	}{
		{"EmptyReads", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"CapExactNewestFirst", testCap},
		{"OutOfOrderBatches", testOutOfOrder},
		{"TimeTiesByRequestID", testTies},
		{"OrganizationIsolation", testOrgIsolation},
		{"ManyKeysOneBatch", testManyKeys},
		{"Idempotent", testIdempotent},
		{"CleansStrings", testClean},
		{"IgnoresEntriesWithoutIDs", testNoIDs},
		{"ConcurrentWriters", testConcurrent},
		{"Recorders", testRecorders},
		{"RateLimitedNotKept", testRateLimited},
		{"Operations", testOperations},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLog(t)
			c := audit.DefaultCap
			if cp, ok := l.(capper); ok {
				c = cp.Cap()
			}
			tc.fn(t, l, c)
		})
	}
}

// base is an arbitrary fixed instant; entries are offsets from it.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func entry(org, key string, ms int, rid string) audit.Entry {
	return audit.Entry{
		Time:           base.Add(time.Duration(ms) * time.Millisecond),
		RequestID:      rid,
		KeyID:          key,
		OrganizationID: org,
		Method:         "GET",
		Route:          "/v1/leads/{id}",
		Path:           "/v1/leads/" + rid,
		Status:         200,
		DurationMS:     int64(ms % 97),
		IP:             "203.0.113.7",
		UserAgent:      "suite/1.0",
	}
}

// rid returns a request id that sorts like i.
func rid(i int) string { return fmt.Sprintf("req-%08d", i) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func write(t *testing.T, l Log, es ...audit.Entry) {
	t.Helper()
	if err := l.Write(ctx(t), es); err != nil {
		t.Fatalf("Write(%d entries): %v", len(es), err)
	}
}

func latest(t *testing.T, l Log, org, key string) []audit.Entry {
	t.Helper()
	got, err := l.Latest(ctx(t), org, key)
	if err != nil {
		t.Fatalf("Latest(%q, %q): %v", org, key, err)
	}
	if got == nil {
		t.Fatalf("Latest(%q, %q) = nil; want a non-nil slice", org, key)
	}
	return got
}

// newest returns the newest n of es, newest first, normalized.
func newest(es []audit.Entry, n int) []audit.Entry {
	s := make([]audit.Entry, len(es))
	for i, e := range es {
		s[i] = e.Normalized()
	}
	slices.SortFunc(s, func(a, b audit.Entry) int {
		switch {
		case audit.Less(b, a):
			return -1
		case audit.Less(a, b):
			return 1
		}
		return 0
	})
	s = slices.CompactFunc(s, func(a, b audit.Entry) bool { return !audit.Less(a, b) && !audit.Less(b, a) })
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func same(t *testing.T, got, want []audit.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d\n got: %v\nwant: %v", len(got), len(want), ids(got), ids(want))
	}
	for i := range want {
		if !equal(got[i], want[i]) {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func equal(a, b audit.Entry) bool {
	return a.Time.Equal(b.Time) && a.Time.Location() == b.Time.Location() && a.RequestID == b.RequestID &&
		a.KeyID == b.KeyID && a.OrganizationID == b.OrganizationID && a.Method == b.Method &&
		a.Route == b.Route && a.Path == b.Path && a.Status == b.Status && a.DurationMS == b.DurationMS &&
		a.IP == b.IP && a.UserAgent == b.UserAgent && slices.Equal(a.Operations, b.Operations) &&
		(a.Operations == nil) == (b.Operations == nil)
}

func ids(es []audit.Entry) []string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = fmt.Sprintf("%d/%s", e.Time.Sub(base).Milliseconds(), e.RequestID)
	}
	return s
}

func testEmpty(t *testing.T, l Log, _ int) {
	if got := latest(t, l, "org-a", "key-1"); len(got) != 0 {
		t.Fatalf("fresh log: got %d entries", len(got))
	}
	if err := l.Write(ctx(t), nil); err != nil {
		t.Fatalf("Write(nil): %v", err)
	}
	write(t, l, entry("org-a", "key-1", 1, rid(1)))
	for _, k := range [][2]string{{"org-a", "key-2"}, {"org-b", "key-1"}, {"", "key-1"}, {"org-a", ""}, {"", ""}} {
		if got := latest(t, l, k[0], k[1]); len(got) != 0 {
			t.Errorf("Latest(%q, %q): got %d entries, want none", k[0], k[1], len(got))
		}
	}
}

func testRoundTrip(t *testing.T, l Log, _ int) {
	e := audit.Entry{
		Time:           time.Date(2025, 1, 2, 4, 5, 6, 789_654_321, time.FixedZone("X", 3600)),
		RequestID:      "0b8f1a52-7a53-4f0e-9d6c-2b1f3f0c2e11",
		KeyID:          "8a0e3d8c-4f1b-4c39-9d7a-6c6f1f6b1e22",
		OrganizationID: "3f1d2c4b-5a69-4788-9abc-def012345678",
		Method:         "PATCH",
		Route:          "/v1/leads/{id}",
		Path:           "/v1/leads/5b1c6d1e-0000-4000-8000-000000000001",
		Status:         422,
		DurationMS:     1234,
		IP:             "2001:db8::1",
		UserAgent:      "Zapier/2.0 (+héllo ✓)",
	}
	write(t, l, e)
	got := latest(t, l, e.OrganizationID, e.KeyID)
	want := e
	want.Time = time.Date(2025, 1, 2, 3, 5, 6, 789_000_000, time.UTC)
	same(t, got, []audit.Entry{want})
}

func testCap(t *testing.T, l Log, c int) {
	var all []audit.Entry
	for i := 0; i < c+c/2+3; i++ {
		all = append(all, entry("org-a", "key-1", i*10, rid(i)))
	}
	// In order, in batches of 7.
	for i := 0; i < len(all); i += 7 {
		write(t, l, all[i:min(i+7, len(all))]...)
		n := min(i+7, len(all))
		same(t, latest(t, l, "org-a", "key-1"), newest(all[:n], c))
	}
	got := latest(t, l, "org-a", "key-1")
	if len(got) != c {
		t.Fatalf("got %d entries, want exactly the cap %d", len(got), c)
	}
	for i := 1; i < len(got); i++ {
		if !audit.Less(got[i], got[i-1]) {
			t.Fatalf("not newest first at %d: %v", i, ids(got))
		}
	}
}

func testOutOfOrder(t *testing.T, l Log, c int) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []audit.Entry
	for i := 0; i < 3*c; i++ {
		all = append(all, entry("org-a", "key-1", i, rid(i)))
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i := 0; i < len(all); {
		n := 1 + rng.IntN(2*c/3+1)
		n = min(n, len(all)-i)
		write(t, l, all[i:i+n]...)
		i += n
		same(t, latest(t, l, "org-a", "key-1"), newest(all[:i], c))
	}
	// A late batch older than everything held changes nothing.
	var old []audit.Entry
	for i := 0; i < 5; i++ {
		old = append(old, entry("org-a", "key-1", -1000-i, rid(100000+i)))
	}
	write(t, l, old...)
	same(t, latest(t, l, "org-a", "key-1"), newest(all, c))
}

func testTies(t *testing.T, l Log, c int) {
	var all []audit.Entry
	// Everything in the same millisecond (sub-millisecond parts differ):
	// only the request id orders them.
	for i := 0; i < c+5; i++ {
		e := entry("org-a", "key-1", 500, fmt.Sprintf("%c%03d", 'a'+(i*7)%26, i))
		e.Time = e.Time.Add(time.Duration(i) * time.Microsecond)
		all = append(all, e)
	}
	write(t, l, all[c/2:]...)
	write(t, l, all[:c/2]...)
	got := latest(t, l, "org-a", "key-1")
	same(t, got, newest(all, c))
	for i := 1; i < len(got); i++ {
		if got[i].RequestID >= got[i-1].RequestID {
			t.Fatalf("ties not ordered by request id descending: %v", ids(got))
		}
	}
}

func testOrgIsolation(t *testing.T, l Log, c int) {
	var a, b []audit.Entry
	for i := 0; i < c; i++ {
		a = append(a, entry("org-a", "key-1", i, rid(i)))
		b = append(b, entry("org-b", "key-1", 1000+i, rid(1000+i)))
	}
	write(t, l, append(slices.Clone(a), b...)...)
	same(t, latest(t, l, "org-a", "key-1"), newest(a, c))
	same(t, latest(t, l, "org-b", "key-1"), newest(b, c))
	if got := latest(t, l, "org-c", "key-1"); len(got) != 0 {
		t.Fatalf("another organization reads %d entries of the key", len(got))
	}
	// Ids that would collide if org and key were joined naively.
	write(t, l, entry("x:y", "z", 1, rid(1)), entry("x", "y:z", 2, rid(2)))
	if got := latest(t, l, "x:y", "z"); len(got) != 1 || got[0].RequestID != rid(1) {
		t.Fatalf(`Latest("x:y", "z") = %v`, ids(got))
	}
	if got := latest(t, l, "x", "y:z"); len(got) != 1 || got[0].RequestID != rid(2) {
		t.Fatalf(`Latest("x", "y:z") = %v`, ids(got))
	}
}

func testManyKeys(t *testing.T, l Log, c int) {
	keys := []string{"key-1", "key-2", "key-3", "key-4"}
	var batch []audit.Entry
	per := map[string][]audit.Entry{}
	for i := 0; i < c+10; i++ {
		for j, k := range keys {
			if j == 3 && i >= 3 {
				continue // one key below the cap
			}
			e := entry("org-a", k, i*4+j, rid(i*4+j))
			batch = append(batch, e)
			per[k] = append(per[k], e)
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	write(t, l, batch...)
	for _, k := range keys {
		same(t, latest(t, l, "org-a", k), newest(per[k], c))
	}
}

func testIdempotent(t *testing.T, l Log, c int) {
	var all []audit.Entry
	for i := 0; i < 10; i++ {
		all = append(all, entry("org-a", "key-1", i, rid(i)))
	}
	write(t, l, all...)
	write(t, l, all...)
	write(t, l, all[3], all[3])
	same(t, latest(t, l, "org-a", "key-1"), newest(all, c))
}

func testClean(t *testing.T, l Log, c int) {
	e := entry("org-a", "key-1", 1, rid(1))
	e.Path = "/v1/leads/a\x00b\xffc"
	e.UserAgent = "agent\x00/\xc3"
	write(t, l, e)
	got := latest(t, l, "org-a", "key-1")
	if len(got) != 1 {
		t.Fatalf("got %d entries", len(got))
	}
	if got[0].Path != "/v1/leads/a\uFFFDb\uFFFDc" || got[0].UserAgent != "agent\uFFFD/\uFFFD" {
		t.Fatalf("stored path %q, user agent %q; want NUL and invalid UTF-8 replaced by U+FFFD", got[0].Path, got[0].UserAgent)
	}
}

func testNoIDs(t *testing.T, l Log, c int) {
	write(t, l, entry("", "key-1", 1, rid(1)), entry("org-a", "", 2, rid(2)), entry("org-a", "key-1", 3, rid(3)))
	if got := latest(t, l, "org-a", "key-1"); len(got) != 1 || got[0].RequestID != rid(3) {
		t.Fatalf("got %v; want only %s", ids(got), rid(3))
	}
}

func testConcurrent(t *testing.T, l Log, c int) {
	const writers, per = 4, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var all []audit.Entry
	batches := make([][]audit.Entry, writers)
	for w := 0; w < writers; w++ {
		for i := 0; i < per; i++ {
			n := i*writers + w
			e := entry("org-a", "key-1", n, rid(n))
			all = append(all, e)
			batches[w] = append(batches[w], e)
		}
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := batches[w]
			for i := 0; i < len(b); i += 5 {
				if err := l.Write(ctx(t), b[i:min(i+5, len(b))]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Write: %v", err)
	}
	same(t, latest(t, l, "org-a", "key-1"), newest(all, c))
}

// testRecorders is the exactness test of the issue: 8 writers × 1,000
// entries on one key through several Recorders (as several pods), each
// flushing out of time order.
func testRecorders(t *testing.T, l Log, c int) {
	const writers, per, recorders = 8, 1000, 4
	recs := make([]*audit.Recorder, recorders)
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErrs := make(chan error, recorders)
	for i := range recs {
		r, err := audit.NewRecorder(audit.RecorderOptions{Writer: l, BatchSize: []int{16, 32, 64, 128}[i], Buffer: 2048, FlushInterval: 5 * time.Millisecond, WriteTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
		go func() { runErrs <- r.Run(runCtx) }()
	}
	all := make([]audit.Entry, 0, writers*per)
	for n := 0; n < writers*per; n++ {
		all = append(all, entry("org-a", "key-1", n, rid(n)))
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			// Writer w records entries w, w+8, … in a locally shuffled order
			// through a recorder chosen per entry.
			mine := make([]audit.Entry, 0, per)
			for i := 0; i < per; i++ {
				mine = append(mine, all[i*writers+w])
			}
			for i := 0; i+32 <= len(mine); i += 32 {
				rng.Shuffle(32, func(a, b int) { mine[i+a], mine[i+b] = mine[i+b], mine[i+a] })
			}
			for _, e := range mine {
				recs[rng.IntN(recorders)].Record(e)
			}
		}()
	}
	wg.Wait()
	var written uint64
	for _, r := range recs {
		if err := r.Close(ctx(t)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-runErrs; err != nil {
			t.Fatalf("Run: %v", err)
		}
		st := r.Stats()
		if st.Dropped != 0 || st.Errors != 0 || st.Queued != 0 {
			t.Fatalf("recorder stats %+v; want no drops, errors or queue", st)
		}
		written += st.Written
	}
	if written != writers*per {
		t.Fatalf("recorders wrote %d entries, want %d", written, writers*per)
	}
	same(t, latest(t, l, "org-a", "key-1"), newest(all, c))
}

// testRateLimited: requests refused by the rate limit (429) never push a
// key's real requests out; they are counted, with the time of the last one.
func testRateLimited(t *testing.T, l Log, c int) {
	r0, err := l.Refused(ctx(t), "org-a", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if r0.Count != 0 || r0.LastAt != nil {
		t.Fatalf("Refused of an unknown key = %+v, want zero", r0)
	}
	var valid []audit.Entry
	for i := 0; i < c; i++ {
		valid = append(valid, entry("org-a", "key-1", i, rid(i)))
	}
	write(t, l, valid...)
	// A flood of refused requests after them, in two batches, out of order,
	// mixed with one more valid request and with another key's refusals.
	var flood []audit.Entry
	for i := 0; i < 3*c; i++ {
		e := entry("org-a", "key-1", 1000+i, rid(1000+i))
		e.Status = 429
		flood = append(flood, e)
	}
	slices.Reverse(flood)
	late := entry("org-a", "key-1", 500, rid(500))
	other := entry("org-a", "key-2", 5000, rid(5000))
	other.Status = 429
	otherOrg := entry("org-b", "key-1", 6000, rid(6000))
	otherOrg.Status = 429
	write(t, l, append(flood[:c:c], late, other, otherOrg)...)
	write(t, l, flood[c:]...)

	same(t, latest(t, l, "org-a", "key-1"), newest(append(valid, late), c))
	got, err := l.Refused(ctx(t), "org-a", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	wantLast := base.Add(time.Duration(1000+3*c-1) * time.Millisecond)
	if got.Count != int64(3*c) || got.LastAt == nil || !got.LastAt.Equal(wantLast) || got.LastAt.Location() != time.UTC {
		t.Fatalf("Refused = {%d %v}, want {%d %v UTC}", got.Count, got.LastAt, 3*c, wantLast)
	}
	for _, k := range [][2]string{{"org-a", "key-2"}, {"org-b", "key-1"}} {
		r, err := l.Refused(ctx(t), k[0], k[1])
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 1 {
			t.Errorf("Refused(%s, %s) = %+v, want 1", k[0], k[1], r)
		}
		if n := len(latest(t, l, k[0], k[1])); n != 0 {
			t.Errorf("Latest(%s, %s) holds %d refused entries", k[0], k[1], n)
		}
	}
}

func testOperations(t *testing.T, l Log, _ int) {
	gql := entry("org-a", "key-1", 1, rid(1))
	gql.Method, gql.Route, gql.Path = "POST", "/v1/graphql", "/v1/graphql"
	gql.Operations = []string{"leads", "leadCreate", "__schema", "_x9"}
	rest := entry("org-a", "key-2", 2, rid(2))
	empty := entry("org-a", "key-3", 3, rid(3))
	empty.Operations = []string{}
	dirty := entry("org-a", "key-4", 4, rid(4))
	// Only schema names are kept: never text with spaces, separators,
	// NUL or invalid UTF-8, each name once, at most MaxOperations.
	dirty.Operations = []string{"leads", "a b", "leads", "x\x00", "\xff", "9lives", "", "clients", strings.Repeat("n", 65)}
	many := entry("org-a", "key-5", 5, rid(5))
	for i := range gatehouse.MaxOperations + 5 {
		many.Operations = append(many.Operations, fmt.Sprintf("f%d", i))
	}
	write(t, l, gql, rest, empty, dirty, many)
	for _, tc := range []struct {
		e    audit.Entry
		want []string
	}{
		{gql, []string{"leads", "leadCreate", "__schema", "_x9"}}, {rest, nil}, {empty, nil},
		{dirty, []string{"leads", "clients"}}, {many, many.Operations[:gatehouse.MaxOperations]},
	} {
		got := latest(t, l, "org-a", tc.e.KeyID)
		if len(got) != 1 {
			t.Fatalf("%s: got %d entries", tc.e.KeyID, len(got))
		}
		if !slices.Equal(got[0].Operations, tc.want) || (tc.want == nil) != (got[0].Operations == nil) {
			t.Errorf("%s: operations %q, want %q", tc.e.KeyID, got[0].Operations, tc.want)
		}
		same(t, got, []audit.Entry{tc.e.Normalized()})
		b, err := json.Marshal(got[0])
		switch {
		case err != nil:
			t.Error(err)
		case tc.want == nil && strings.Contains(string(b), "operations"):
			t.Errorf("an entry without operations: %s", b)
		case tc.want != nil && !strings.Contains(string(b), `"operations":["`+strings.Join(tc.want, `","`)+`"]`):
			t.Errorf("an entry with operations: %s", b)
		}
	}
}
