package resource_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

func testKeyring(t testing.TB, ids ...string) *gatehouse.Keyring {
	t.Helper()
	var secrets []gatehouse.Secret
	for _, id := range ids {
		secrets = append(secrets, gatehouse.GenerateSecret(id))
	}
	k, err := gatehouse.NewKeyring(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leadRow is a lead for bulkLeads.
type leadRow struct {
	id, first, status string
	at                time.Time
}

// bulkLeads inserts leads of org in one transaction, 100 rows per
// statement (larger statements are slower with modernc.org/sqlite): fast
// enough for 100,000 rows.
func bulkLeads(t testing.TB, db dbtest.DB, org string, rows []leadRow) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	const chunk = 100
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		var b strings.Builder
		b.WriteString("INSERT INTO leads (id, organization_id, lead_number, first_name, status, created_at, updated_at) VALUES ")
		args := make([]any, 0, 7*len(part))
		for i, r := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			ts := db.Dialect.TimeValue(r.at)
			args = append(args, r.id, org, start+i+1, r.first, r.status, ts, ts)
		}
		if _, err := tx.ExecContext(ctx, db.Dialect.Rebind(b.String()), args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// listPage is one decoded list response.
type listPage struct {
	resp
	ids  []string
	next string
}

func (e *env) listPage(t testing.TB, target, org string) listPage {
	t.Helper()
	r := e.do("GET", target, "", org)
	if r.Code != 200 {
		t.Fatalf("GET %s: %d %s", target, r.Code, r.Raw)
	}
	p := listPage{resp: r}
	for _, m := range r.list() {
		p.ids = append(p.ids, m["id"].(string))
	}
	p.next, _ = r.Body["next_cursor"].(string)
	if r.Body["offset"] != float64(0) && strings.Contains(target, "cursor=") {
		t.Errorf("GET %s: offset %v in cursor mode", target, r.Body["offset"])
	}
	more, _ := r.Body["has_more"].(bool)
	if more != (p.next != "") {
		t.Errorf("GET %s: has_more %v with next_cursor %q", target, r.Body["has_more"], p.next)
	}
	wantLink := ""
	if p.next != "" {
		u, _ := url.Parse(target)
		q := u.Query()
		q.Del("offset")
		q.Set("cursor", p.next)
		got := r.Header.Get("Link")
		lu, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(got, "<"), `>; rel="next"`))
		if err != nil || !strings.HasSuffix(got, `>; rel="next"`) || lu.Path != u.Path || lu.Query().Encode() != q.Encode() {
			t.Errorf("GET %s: Link %q", target, got)
		}
		return p
	}
	if got := r.Header.Get("Link"); got != wantLink {
		t.Errorf("GET %s: Link %q on the last page", target, got)
	}
	return p
}

func TestCursor(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		old := testKeyring(t, "old")
		rotated, err := gatehouse.NewKeyring(gatehouse.GenerateSecret("new"), gatehouse.Secret{ID: "old", Key: secretOf(t, old)})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, db, func(o *resource.Options) { o.Keyring = old })
		orgA, orgB := uuid.New(), uuid.New()
		// 23 leads in 5 groups sharing created_at (ties break on id), 12
		// of them "won".
		base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		var rows []leadRow
		for i := range 23 {
			st := "new"
			if i%2 == 0 {
				st = "won"
			}
			rows = append(rows, leadRow{id: uuid.New(), first: fmt.Sprintf("Lead%02d", i), status: st, at: base.Add(time.Duration(i/5) * time.Second)})
		}
		bulkLeads(t, db, orgA, rows)
		slices.SortFunc(rows, func(a, b leadRow) int {
			if c := b.at.Compare(a.at); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		})
		var all, won []string
		for _, r := range rows {
			all = append(all, r.id)
			if r.status == "won" {
				won = append(won, r.id)
			}
		}

		walk := func(t *testing.T, e *env, first string) ([]string, []string) {
			t.Helper()
			var got, cursors []string
			target := first
			for range 100 {
				p := e.listPage(t, target, orgA)
				got = append(got, p.ids...)
				if p.next == "" {
					return got, cursors
				}
				cursors = append(cursors, p.next)
				link := p.Header.Get("Link")
				target = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			}
			t.Fatal("no last page after 100 pages")
			return nil, nil
		}

		t.Run("walk", func(t *testing.T) {
			got, cursors := walk(t, e, "/v1/leads?limit=5")
			if !slices.Equal(got, all) || len(cursors) != 4 {
				t.Errorf("walk: %d ids, %d cursors\n got %v\nwant %v", len(got), len(cursors), got, all)
			}
			got, _ = walk(t, e, "/v1/leads?status=won&limit=4")
			if !slices.Equal(got, won) {
				t.Errorf("status=won walk %v, want %v", got, won)
			}
			// Exactly full last page: has_more false, no cursor.
			p := e.listPage(t, "/v1/leads?limit=23", orgA)
			if len(p.ids) != 23 || p.next != "" || p.Body["has_more"] != false {
				t.Errorf("limit=23 of 23: %s", p.Raw)
			}
			// An offset page also hands out a cursor that continues after it.
			p = e.listPage(t, "/v1/leads?limit=5&offset=5", orgA)
			if p.next == "" {
				t.Fatal("offset page without next_cursor")
			}
			q := e.listPage(t, "/v1/leads?limit=5&cursor="+p.next, orgA)
			if !slices.Equal(q.ids, all[10:15]) {
				t.Errorf("after offset page: %v, want %v", q.ids, all[10:15])
			}
			// The page size may change between pages.
			first := e.listPage(t, "/v1/leads?limit=3", orgA)
			q = e.listPage(t, "/v1/leads?limit=10&cursor="+first.next, orgA)
			if !slices.Equal(q.ids, all[3:13]) {
				t.Errorf("limit change: %v", q.ids)
			}
			// Parameters in another order and spelling: same filters.
			w := e.listPage(t, "/v1/leads?status=won&q=lead&limit=2", orgA)
			if p := e.listPage(t, "/v1/leads?cursor="+w.next+"&limit=2&q=LEAD&status=won", orgA); !slices.Equal(p.ids, won[2:4]) {
				t.Errorf("reordered parameters: %v", p.ids)
			}
		})

		t.Run("invalid cursors", func(t *testing.T) {
			p := e.listPage(t, "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01", orgA)
			c := p.next
			ok := "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + c
			if r := e.do("GET", ok, "", orgA); r.Code != 200 {
				t.Fatalf("same filters: %d %s", r.Code, r.Raw)
			}
			raw, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil {
				t.Fatal(err)
			}
			flip := func(i int) string {
				b := slices.Clone(raw)
				b[i] ^= 1
				return base64.RawURLEncoding.EncodeToString(b)
			}
			bad := map[string]string{
				"other status":      "/v1/leads?limit=5&status=new&q=lead&created_after=2026-01-01&cursor=" + c,
				"no status":         "/v1/leads?limit=5&q=lead&created_after=2026-01-01&cursor=" + c,
				"other q":           "/v1/leads?limit=5&status=won&q=lea&created_after=2026-01-01&cursor=" + c,
				"other date":        "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-02&cursor=" + c,
				"extra filter":      "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&phone=1&cursor=" + c,
				"created_before":    "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&created_before=2027-01-01&cursor=" + c,
				"other resource":    "/v1/clients?limit=5&q=lead&created_after=2026-01-01&cursor=" + c,
				"garbage":           "/v1/leads?cursor=abc",
				"padding":           "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + c + "=",
				"truncated":         "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + c[:len(c)-2],
				"flipped version":   "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + flip(0),
				"flipped position":  "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + flip(len(raw)-40),
				"flipped mac":       "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + flip(len(raw)-1),
				"flipped secret id": "/v1/leads?limit=5&status=won&q=lead&created_after=2026-01-01&cursor=" + flip(2),
				"long":              "/v1/leads?cursor=" + strings.Repeat("A", 5000),
				"standard base64":   "/v1/leads?cursor=" + url.QueryEscape("ab+/cd=="),
			}
			for name, target := range bad {
				t.Run(name, func(t *testing.T) {
					wantError(t, e.do("GET", target, "", orgA), 400, "Invalid cursor")
				})
			}
			// Another organization cannot use it, whatever its rows.
			wantError(t, e.do("GET", ok, "", orgB), 400, "Invalid cursor")
			// Combined with offset: the parameters are invalid first.
			r := e.do("GET", ok+"&offset=0", "", orgA)
			wantError(t, r, 400, "Invalid query parameters")
			if f := r.strs("fields"); !slices.Equal(f, []string{"cursor", "offset"}) {
				t.Errorf("fields %v", f)
			}
		})

		t.Run("rotation", func(t *testing.T) {
			c := e.listPage(t, "/v1/leads?limit=5", orgA).next
			re := newEnvOn(t, e, func(o *resource.Options) { o.Keyring = rotated })
			p := re.listPage(t, "/v1/leads?limit=5&cursor="+c, orgA)
			if !slices.Equal(p.ids, all[5:10]) {
				t.Errorf("old cursor after rotation: %v", p.ids)
			}
			// New cursors are signed by the new secret: the old keyring
			// alone refuses them, the rotated one takes them.
			wantError(t, e.do("GET", "/v1/leads?limit=5&cursor="+p.next, "", orgA), 400, "Invalid cursor")
			if q := re.listPage(t, "/v1/leads?limit=5&cursor="+p.next, orgA); !slices.Equal(q.ids, all[10:15]) {
				t.Errorf("new cursor: %v", q.ids)
			}
			// A retired secret no longer verifies.
			retired := newEnvOn(t, e, func(o *resource.Options) { o.Keyring = testKeyring(t, "new") })
			wantError(t, retired.do("GET", "/v1/leads?limit=5&cursor="+c, "", orgA), 400, "Invalid cursor")
			// Without a keyring every cursor is invalid.
			off := newEnvOn(t, e, nil)
			wantError(t, off.do("GET", "/v1/leads?limit=5&cursor="+c, "", orgA), 400, "Invalid cursor")
		})

		t.Run("schema", func(t *testing.T) {
			d := e.do("GET", "/v1/schema", "", orgA).data()
			if fmt.Sprint(d["list_parameters"]) != "[limit offset cursor created_after created_before q]" {
				t.Errorf("list_parameters %v", d["list_parameters"])
			}
			if !e.reg.CursorsEnabled() || !slices.Contains(e.reg.ListParameters(), "cursor") {
				t.Error("CursorsEnabled/ListParameters")
			}
		})
	})
}

// secretOf digs the key of a one-secret keyring out of its Format.
func secretOf(t testing.TB, k *gatehouse.Keyring) []byte {
	t.Helper()
	_, b64, _ := strings.Cut(k.Format(), ":")
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCursorWalkWhileInserting walks 2,537 matching leads (among others
// that do not match) in pages of 100 with a filter and q while leads are
// inserted concurrently, both through the API (newest, so before the walk's
// position) and straight into the table at random times inside the walked
// range. Every pre-existing lead appears exactly once, in order; no lead
// appears twice; new leads may or may not appear.
func TestCursorWalkWhileInserting(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, func(o *resource.Options) { o.Keyring = testKeyring(t, "k1") })
		org := uuid.New()
		const matching = 2537
		base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		var rows []leadRow
		want := map[string]bool{}
		for i := range matching + 400 {
			// Three leads per timestamp, so ties on created_at are common.
			r := leadRow{id: uuid.NewV7(base.Add(time.Duration(i/3) * time.Minute)), at: base.Add(time.Duration(i/3) * time.Minute), status: "won", first: fmt.Sprintf("Match %d", i)}
			switch {
			case i >= matching && i%2 == 0:
				r.status = "lost" // filtered out by status
			case i >= matching:
				r.first = fmt.Sprintf("Other %d", i) // filtered out by q
			default:
				want[r.id] = true
			}
			rows = append(rows, r)
		}
		bulkLeads(t, db, org, rows)
		end := base.Add(time.Duration(len(rows)/3) * time.Minute)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var inserted atomic.Int64
		tbl := tenancy.Table{Name: "leads", Dialect: db.Dialect}
		wg.Go(func() { // through the API: new leads, newest first
			for i := 0; ctx.Err() == nil && i < 60; i++ {
				r := e.do("POST", "/v1/leads", fmt.Sprintf(`{"first_name":"Match new %d","status":"won"}`, i), org)
				if r.Code != 201 {
					t.Errorf("concurrent create: %d %s", r.Code, r.Raw)
					return
				}
				inserted.Add(1)
			}
		})
		wg.Go(func() { // straight into the table, inside the walked range
			octx := gatehouse.NewCallerContext(ctx, gatehouse.Caller{OrgID: org})
			for i := 0; ctx.Err() == nil && i < 150; i++ {
				at := base.Add(time.Duration(i*7919%int(end.Sub(base)/time.Second)) * time.Second)
				ts := db.Dialect.TimeValue(at)
				err := tbl.Insert(octx, db.DB, []tenancy.Assign{
					{Column: "id", Value: uuid.New()}, {Column: "lead_number", Value: 1_000_000 + i},
					{Column: "first_name", Value: fmt.Sprintf("Match mid %d", i)}, {Column: "status", Value: "won"},
					{Column: "created_at", Value: ts}, {Column: "updated_at", Value: ts},
				})
				if err != nil && ctx.Err() == nil {
					t.Errorf("concurrent insert: %v", err)
					return
				}
				inserted.Add(1)
			}
		})

		seen := map[string]bool{}
		var prevAt time.Time
		prevID := ""
		pages := 0
		target := "/v1/leads?status=won&q=match&limit=100"
		for {
			r := e.do("GET", target, "", org)
			if r.Code != 200 {
				t.Fatalf("page %d: %d %s", pages, r.Code, r.Raw)
			}
			pages++
			for _, m := range r.list() {
				id := m["id"].(string)
				at, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if seen[id] {
					t.Fatalf("page %d: %s repeated", pages, id)
				}
				seen[id] = true
				if prevID != "" && (at.After(prevAt) || at.Equal(prevAt) && id >= prevID) {
					t.Fatalf("page %d: %s at %s after %s at %s: out of order", pages, id, at, prevID, prevAt)
				}
				if m["status"] != "won" || !strings.HasPrefix(m["first_name"].(string), "Match") {
					t.Fatalf("row not matching the filters: %v", m)
				}
				prevAt, prevID = at, id
			}
			next, _ := r.Body["next_cursor"].(string)
			if next == "" {
				break
			}
			target = "/v1/leads?status=won&q=match&limit=100&cursor=" + next
		}
		cancel()
		wg.Wait()
		missing := 0
		for id := range want {
			if !seen[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d pre-existing leads skipped", missing, matching)
		}
		if pages < matching/100+1 {
			t.Errorf("%d pages", pages)
		}
		t.Logf("%s: %d pages, %d rows seen (%d pre-existing), %d inserted concurrently", db.Name, pages, len(seen), matching, inserted.Load())
	})
}
