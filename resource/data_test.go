package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// callerCtx is the context of a caller of org with the scopes.
func callerCtx(org string, scopes []string) context.Context {
	return withCaller(context.Background(), org, scopes)
}

func wantErr(t *testing.T, err error, status int, msg string) *gatehouse.Error {
	t.Helper()
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Status != status || ge.Msg != msg {
		t.Fatalf("err %v (%#v), want %d %q", err, ge, status, msg)
	}
	return ge
}

func input(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDataAPI checks the Go-level data API against the REST answers of the
// same registry: same records, same errors.
func TestDataAPI(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, func(o *resource.Options) {
			o.Keyring = testKeyring(t, "data")
		})
		org, other := uuid.New(), uuid.New()
		ctx := callerCtx(org, e.all)

		// Create returns the record REST then returns.
		rec, err := e.reg.Create(ctx, "leads", input(t, `{"first_name":"Ann","status":"new","email":"ann@example.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := rec.Get("id").(string)
		r := e.do(http.MethodGet, "/v1/leads/"+id, "", org)
		b, _ := json.Marshal(rec)
		got, _ := json.Marshal(r.Body["data"])
		var norm any
		_ = json.Unmarshal(b, &norm)
		want, _ := json.Marshal(norm)
		if r.Code != http.StatusOK || string(got) != string(want) {
			t.Fatalf("REST %d %s, Go %s", r.Code, got, want)
		}
		if names := rec.Names(); names[0] != "id" || names[len(names)-1] != "updated_at" {
			t.Errorf("names %v", names)
		}
		if rec.Get("lead_number") != int64(1) {
			t.Errorf("lead_number %v", rec.Get("lead_number"))
		}

		// Validation errors carry the REST details.
		_, err = e.reg.Create(ctx, "leads", input(t, `{"email":"nope","scheduled_at":"x"}`))
		ge := wantErr(t, err, http.StatusBadRequest, gatehouse.MsgInvalidFieldValues)
		if d, _ := ge.Extra["details"].([]resource.Detail); len(d) != 2 || d[0].Field != "email" || d[0].Message != "must be an email address without a display name" {
			t.Errorf("details %#v", ge.Extra["details"])
		}
		_, err = e.reg.Create(ctx, "leads", input(t, `{"id":"x","lead_number":3}`))
		wantErr(t, err, http.StatusBadRequest, gatehouse.MsgUnsupportedFields)
		_, err = e.reg.Create(ctx, "leads", input(t, `{"client_id":"`+uuid.New()+`"}`))
		wantErr(t, err, http.StatusBadRequest, gatehouse.MsgInvalidForeignKey)
		_, err = e.reg.Create(ctx, "nope", input(t, `{}`))
		wantErr(t, err, http.StatusNotFound, gatehouse.MsgUnsupportedResource)

		// Scopes are checked: the error names the missing scope.
		_, err = e.reg.Create(callerCtx(org, []string{"leads:read"}), "leads", input(t, `{}`))
		if ge := wantErr(t, err, http.StatusForbidden, gatehouse.MsgMissingScope); ge.Extra["required_scope"] != "leads:create" {
			t.Errorf("required_scope %v", ge.Extra["required_scope"])
		}
		_, err = e.reg.Get(callerCtx(org, []string{"leads:create"}), "leads", id)
		wantErr(t, err, http.StatusForbidden, gatehouse.MsgMissingScope)
		// No organization: fails closed.
		if _, err := e.reg.Get(withCaller(context.Background(), "", e.all), "leads", id); !errors.Is(err, tenancy.ErrNoOrganization) {
			t.Errorf("no org: %v", err)
		}

		// Update: absent members stay, null clears; errors as PATCH.
		up, err := e.reg.Update(ctx, "leads", id, input(t, `{"status":"won","email":null}`))
		if err != nil || up.Get("status") != "won" || up.Get("email") != nil || up.Get("first_name") != "Ann" {
			t.Fatalf("update: %v %v", up.Map(), err)
		}
		_, err = e.reg.Update(ctx, "leads", id, map[string]json.RawMessage{})
		wantErr(t, err, http.StatusBadRequest, gatehouse.MsgNoFieldsToUpdate)
		_, err = e.reg.Update(callerCtx(other, e.all), "leads", id, input(t, `{"status":"x"}`))
		wantErr(t, err, http.StatusNotFound, gatehouse.MsgNotFound)
		_, err = e.reg.Update(ctx, "leads", "not-an-id", input(t, `{"status":"x"}`))
		wantErr(t, err, http.StatusNotFound, gatehouse.MsgNotFound)

		// Get: other organizations see nothing.
		if _, err := e.reg.Get(callerCtx(other, e.all), "leads", id); err == nil {
			t.Fatal("cross-org get succeeded")
		}
		if g, err := e.reg.Get(ctx, "leads", id); err != nil || g.Get("status") != "won" {
			t.Fatalf("get: %v %v", g.Map(), err)
		}

		// GetMany: order of ids, missing and foreign ids left out, one query.
		var ids []string
		for _, n := range []string{"b1", "b2", "b3"} {
			rec, err := e.reg.Create(ctx, "leads", input(t, `{"first_name":"`+n+`","status":"batch"}`))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, rec.Get("id").(string))
		}
		foreign, err := e.reg.Create(callerCtx(other, e.all), "leads", input(t, `{"first_name":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		many, err := e.reg.GetMany(ctx, "leads", []string{ids[2], "bogus", foreign.Get("id").(string), ids[0], ids[2], uuid.New()})
		if err != nil {
			t.Fatal(err)
		}
		var names []any
		for _, m := range many {
			names = append(names, m.Get("first_name"))
		}
		if !slices.Equal(names, []any{"b3", "b1"}) {
			t.Errorf("GetMany: %v", names)
		}
		if many, err := e.reg.GetMany(ctx, "leads", nil); err != nil || len(many) != 0 {
			t.Errorf("GetMany(nil): %v %v", many, err)
		}
		_, err = e.reg.GetMany(ctx, "leads", make([]string, resource.DefaultMaxLimit+1))
		wantErr(t, err, http.StatusBadRequest, gatehouse.MsgInvalidQuery)

		// List: typed filters, clamping, cursors that REST accepts.
		p, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: 2, Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 2 || !p.HasMore || p.NextCursor == "" || p.Limit != 2 || p.Records[0].Get("first_name") != "b3" {
			t.Fatalf("page 1: %+v", p)
		}
		if p.Cursors != nil {
			t.Errorf("Cursors without EdgeCursors: %v", p.Cursors)
		}
		// EdgeCursors: one cursor per record, the last one is NextCursor,
		// the first one continues after the first record.
		pc, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: 2, EdgeCursors: true, Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
		if err != nil || len(pc.Cursors) != 2 || pc.Cursors[1] != p.NextCursor || pc.Cursors[0] == "" {
			t.Fatalf("edge cursors: %+v %v", pc, err)
		}
		if pc.EndCursor != p.NextCursor {
			t.Errorf("EndCursor %q with EdgeCursors", pc.EndCursor)
		}
		// EndCursor alone: NextCursor when there is more, the cursor after
		// the last record on the last page, nothing for an empty page.
		for _, tc := range []struct {
			limit int
			q     string
		}{{2, ""}, {10, ""}, {10, "nobody"}} {
			pe, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: tc.limit, Q: tc.q, EndCursor: true, Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
			if err != nil || pe.Cursors != nil || (len(pe.Records) == 0) != (pe.EndCursor == "") || pe.HasMore && pe.EndCursor != pe.NextCursor {
				t.Fatalf("end cursor %+v: %+v %v", tc, pe, err)
			}
			if pe.EndCursor != "" && !pe.HasMore {
				rest, err := e.reg.List(ctx, "leads", resource.ListQuery{Cursor: pe.EndCursor, Q: tc.q, Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
				if err != nil || len(rest.Records) != 0 {
					t.Fatalf("after the last page: %+v %v", rest, err)
				}
			}
		}
		p1, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: 1, Cursor: pc.Cursors[0], Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
		if err != nil || len(p1.Records) != 1 || p1.Records[0].Get("first_name") != "b2" {
			t.Fatalf("after the first edge: %+v %v", p1, err)
		}
		r = e.do(http.MethodGet, "/v1/leads?status=batch&limit=2&cursor="+p.NextCursor, "", org)
		if l := r.list(); r.Code != http.StatusOK || len(l) != 1 || l[0]["first_name"] != "b1" {
			t.Fatalf("REST page 2 from a Go cursor: %d %s", r.Code, r.Raw)
		}
		p2, err := e.reg.List(ctx, "leads", resource.ListQuery{Limit: 2, Cursor: p.NextCursor, Filters: []resource.Filter{{Field: "status", Value: "batch"}}})
		if err != nil || len(p2.Records) != 1 || p2.HasMore || p2.NextCursor != "" {
			t.Fatalf("page 2: %+v %v", p2, err)
		}
		// A cursor is bound to its filters.
		_, err = e.reg.List(ctx, "leads", resource.ListQuery{Cursor: p.NextCursor})
		wantErr(t, err, http.StatusBadRequest, "Invalid cursor")
		p, err = e.reg.List(ctx, "leads", resource.ListQuery{Limit: 1 << 20, Q: "b2", Filters: []resource.Filter{{Field: "lead_number", Value: float64(3)}}})
		if err != nil || p.Limit != resource.DefaultMaxLimit || len(p.Records) != 1 || p.Records[0].Get("first_name") != "b2" {
			t.Fatalf("typed filter: %+v %v", p, err)
		}
		p, err = e.reg.List(ctx, "leads", resource.ListQuery{})
		if err != nil || p.Limit != resource.DefaultLimit || len(p.Records) != 4 {
			t.Fatalf("defaults: %+v %v", p, err)
		}
		_, err = e.reg.List(ctx, "leads", resource.ListQuery{Filters: []resource.Filter{{Field: "first_name", Value: "x"}}})
		if ge := wantErr(t, err, http.StatusBadRequest, gatehouse.MsgUnsupportedFilters); !slices.Equal(ge.Extra["fields"].([]string), []string{"first_name"}) {
			t.Errorf("fields %v", ge.Extra["fields"])
		}
		_, err = e.reg.List(ctx, "leads", resource.ListQuery{Offset: -1, Filters: []resource.Filter{
			{Field: "lead_number", Value: "x"}, {Field: "status", Value: []int{1}}, {Field: "status", Value: "a"},
		}})
		ge = wantErr(t, err, http.StatusBadRequest, gatehouse.MsgInvalidQuery)
		if f := ge.Extra["fields"].([]string); !slices.Equal(f, []string{"lead_number", "offset", "status", "status"}) {
			t.Errorf("fields %v", f)
		}
		_, err = e.reg.List(ctx, "leads", resource.ListQuery{Offset: 1, Cursor: "x"})
		wantErr(t, err, http.StatusBadRequest, gatehouse.MsgInvalidQuery)
		_, err = e.reg.List(callerCtx(org, []string{"clients:read"}), "leads", resource.ListQuery{})
		wantErr(t, err, http.StatusForbidden, gatehouse.MsgMissingScope)
	})
}
