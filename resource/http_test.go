package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
)

// TestHTTP runs the registry's behaviour over hand-written tables and over
// tables created by Registry.DDL, on both databases.
func TestHTTP(t *testing.T) {
	t.Parallel()
	for _, fromDDL := range []bool{false, true} {
		name := "hand-written tables"
		if fromDDL {
			name = "tables from DDL"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testHTTP(t, fromDDL)
		})
	}
}

func testHTTP(t *testing.T, fromDDL bool) {
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnvFrom(t, db, fromDDL, nil)
		if err := e.reg.Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		orgA, orgB := uuid.New(), uuid.New()

		t.Run("create and get", func(t *testing.T) { testCreateGet(t, e, orgA, orgB) })
		t.Run("types round-trip", func(t *testing.T) { testTypes(t, e, orgA) })
		t.Run("update", func(t *testing.T) { testUpdate(t, e, orgA, orgB) })
		t.Run("validation", func(t *testing.T) { testValidation(t, e, orgA) })
		t.Run("bodies", func(t *testing.T) { testBodies(t, e, orgA) })
		t.Run("foreign keys", func(t *testing.T) { testForeignKeys(t, e, orgA, orgB) })
		t.Run("list", func(t *testing.T) { testList(t, e, uuid.New(), uuid.New()) })
		t.Run("search", func(t *testing.T) { testSearch(t, e, uuid.New()) })
		t.Run("routing", func(t *testing.T) { testRouting(t, e, orgA) })
		t.Run("scopes", func(t *testing.T) { testScopes(t, e, orgA) })
		t.Run("on write", func(t *testing.T) { testOnWrite(t, e, uuid.New()) })
		t.Run("concurrent creates", func(t *testing.T) { testConcurrentCreates(t, e, uuid.New()) })
		t.Run("schema", func(t *testing.T) { testSchema(t, e, orgA) })
	})
}

func testCreateGet(t *testing.T, e *env, orgA, orgB string) {
	r := e.do("POST", "/v1/leads", `{"first_name":"API","last_name":"Lead","phone":"+15555550123","email":"api.lead@example.com","status":"New"}`, orgA)
	if r.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	lead := r.data()
	id, _ := lead["id"].(string)
	if !uuid.Valid(id) {
		t.Fatalf("id %v", lead["id"])
	}
	if loc := r.Header.Get("Location"); loc != "/v1/leads/"+id {
		t.Errorf("Location %q", loc)
	}
	if r.Route != "/v1/leads" {
		t.Errorf("route %q", r.Route)
	}
	want := map[string]any{
		"first_name": "API", "last_name": "Lead", "phone": "+15555550123", "email": "api.lead@example.com",
		"status": "New", "lead_number": float64(1), "organization_id": orgA,
		"scheduled_at": nil, "client_id": nil, "notes": nil,
	}
	for k, v := range want {
		if lead[k] != v {
			t.Errorf("%s = %#v, want %#v", k, lead[k], v)
		}
	}
	if len(lead) != 13 {
		t.Errorf("record has %d members: %v", len(lead), lead)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := lead[k].(string)
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil || ts.Location() != time.UTC || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %q (%v)", k, s, err)
		}
	}
	if !strings.HasPrefix(r.Raw, `{"data":{"id":"`+id+`","lead_number":1,"first_name":"API"`) {
		t.Errorf("member order: %s", r.Raw)
	}

	g := e.do("GET", "/v1/leads/"+id, "", orgA)
	if g.Code != 200 || fmt.Sprint(g.data()) != fmt.Sprint(lead) {
		t.Errorf("get: %d %s", g.Code, g.Raw)
	}
	if g.Route != "/v1/leads/{id}" {
		t.Errorf("route %q", g.Route)
	}
	// Upper-case ids are the same id.
	if g := e.do("GET", "/v1/leads/"+strings.ToUpper(id), "", orgA); g.Code != 200 {
		t.Errorf("upper-case id: %d", g.Code)
	}
	wantError(t, e.do("GET", "/v1/leads/"+id, "", orgB), 404, "Not found")
	wantError(t, e.do("GET", "/v1/leads/"+uuid.New(), "", orgA), 404, "Not found")
	for _, bad := range []string{"not-a-uuid", "1", id + "0", "%27%20OR%201=1", url.PathEscape("x/../y")} {
		wantError(t, e.do("GET", "/v1/leads/"+bad, "", orgA), 404, "Not found")
	}

	// Numbers are per organization.
	if n := e.mustCreate("leads", `{"first_name":"B"}`, orgB)["lead_number"]; n != float64(1) {
		t.Errorf("org B's first lead_number = %v", n)
	}
	if n := e.mustCreate("leads", `{"first_name":"A2"}`, orgA)["lead_number"]; n != float64(2) {
		t.Errorf("org A's second lead_number = %v", n)
	}
}

func testTypes(t *testing.T, e *env, org string) {
	jt := e.jobType(org, "Locksmith")
	lead := e.mustCreate("leads", `{"first_name":"For appointment"}`, org)
	a := e.mustCreate("appointments", `{"first_name":"Ann","appointment_date":"2026-07-20","appointment_time":"10:00","end_time":"23:59",
		"status":"scheduled","lead_id":"`+lead["id"].(string)+`","job_type_id":"`+strings.ToUpper(jt)+`",
		"custom_fields":{"z":1,"a":{"b":[1,2.5,"<x>"]},"big":12345678901234567890}}`, org)
	want := map[string]any{
		"appointment_date": "2026-07-20", "appointment_time": "10:00", "end_time": "23:59",
		"lead_id": lead["id"], "job_type_id": jt, "organization_id": org,
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %#v, want %#v", k, a[k], v)
		}
	}
	cf, _ := a["custom_fields"].(map[string]any)
	if cf["z"] != float64(1) || fmt.Sprint(cf["a"]) != "map[b:[1 2.5 <x>]]" {
		t.Errorf("custom_fields = %#v", a["custom_fields"])
	}
	g := e.do("GET", "/v1/appointments/"+a["id"].(string), "", org)
	if !strings.Contains(g.Raw, `"big":12345678901234567890`) {
		t.Errorf("custom_fields not kept exactly: %s", g.Raw)
	}

	task := e.mustCreate("tasks", `{"title":"Call","due_at":"2026-07-20T12:00:00+02:00","done":true,"points":-7,"estimate":1.5,
		"assigned_to_email":"ops@example.com","description":"`+strings.Repeat("ü", 10000)+`"}`, org)
	if task["due_at"] != "2026-07-20T10:00:00Z" || task["done"] != true || task["points"] != float64(-7) || task["estimate"] != 1.5 {
		t.Errorf("task = %v", task)
	}
	if task["source"] != "api" && !e.fromDDL { // DDL adds no column defaults
		t.Errorf("read-only field with a column default: source = %#v", task["source"])
	}
	frac := e.mustCreate("tasks", `{"title":"Frac","due_at":"2026-07-20T10:00:00.123456789Z","done":false}`, org)
	if frac["due_at"] != "2026-07-20T10:00:00.123456Z" || frac["done"] != false {
		t.Errorf("fractional date-time = %v, done = %v", frac["due_at"], frac["done"])
	}
}

func testUpdate(t *testing.T, e *env, orgA, orgB string) {
	client := e.mustCreate("clients", `{"first_name":"C"}`, orgA)
	lead := e.mustCreate("leads", `{"first_name":"Old","status":"New","notes":"n"}`, orgA)
	id := lead["id"].(string)
	r := e.do("PATCH", "/v1/leads/"+id, `{"status":"Booked","notes":null,"client_id":"`+client["id"].(string)+`"}`, orgA)
	if r.Code != 200 {
		t.Fatalf("patch: %d %s", r.Code, r.Raw)
	}
	got := r.data()
	if got["status"] != "Booked" || got["notes"] != nil || got["first_name"] != "Old" || got["client_id"] != client["id"] {
		t.Errorf("patched = %v", got)
	}
	if got["lead_number"] != lead["lead_number"] || got["created_at"] != lead["created_at"] {
		t.Errorf("patch changed lead_number or created_at: %v", got)
	}
	if got["updated_at"] == lead["updated_at"] {
		t.Errorf("updated_at not bumped: %v", got["updated_at"])
	}
	if r.Route != "/v1/leads/{id}" {
		t.Errorf("route %q", r.Route)
	}
	if g := e.do("GET", "/v1/leads/"+id, "", orgA); fmt.Sprint(g.data()) != fmt.Sprint(got) {
		t.Errorf("get after patch: %s", g.Raw)
	}

	wantError(t, e.do("PATCH", "/v1/leads/"+id, `{"status":"Hijacked"}`, orgB), 404, "Not found")
	if g := e.do("GET", "/v1/leads/"+id, "", orgA); g.data()["status"] != "Booked" {
		t.Errorf("another organization's patch changed the record: %s", g.Raw)
	}
	wantError(t, e.do("PATCH", "/v1/leads/"+uuid.New(), `{"status":"x"}`, orgA), 404, "Not found")
	wantError(t, e.do("PATCH", "/v1/leads/nope", `{"status":"x"}`, orgA), 404, "Not found")
	wantError(t, e.do("PATCH", "/v1/leads/"+id, `{}`, orgA), 400, "No fields to update")
	wantError(t, e.do("PATCH", "/v1/leads/"+id, ` { } `, orgA), 400, "No fields to update")

	r = e.do("PATCH", "/v1/leads/"+id, `{"lead_number":9,"organization_id":"x","status":"ok","zzz":1}`, orgA)
	wantError(t, r, 400, "Unsupported or protected fields")
	if f := r.strs("fields"); !slices.Equal(f, []string{"lead_number", "organization_id", "zzz"}) {
		t.Errorf("fields %v", f)
	}

	task := e.mustCreate("tasks", `{"title":"T"}`, orgA)
	r = e.do("PATCH", "/v1/tasks/"+task["id"].(string), `{"title":null}`, orgA)
	wantError(t, r, 400, "Invalid field values")
	if fmt.Sprint(r.Body["details"]) != "[map[field:title message:is required]]" {
		t.Errorf("details %v", r.Body["details"])
	}
	// Absent required fields are fine in a PATCH.
	if r := e.do("PATCH", "/v1/tasks/"+task["id"].(string), `{"status":"done"}`, orgA); r.Code != 200 {
		t.Errorf("patch without required field: %d %s", r.Code, r.Raw)
	}
}

func testValidation(t *testing.T, e *env, org string) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name     string
		resource string
		body     string
		details  string // fmt of the details, or "" for 201
	}{
		{"missing required", "tasks", `{"status":"x"}`, "[map[field:title message:is required]]"},
		{"null required", "tasks", `{"title":null}`, "[map[field:title message:is required]]"},
		{"blank required", "tasks", `{"title":"  "}`, "[map[field:title message:must not be blank]]"},
		{"missing required date", "appointments", `{}`, "[map[field:appointment_date message:is required]]"},
		{"string type", "leads", `{"first_name":5}`, "[map[field:first_name message:must be a string]]"},
		{"string object", "leads", `{"first_name":{"a":1}}`, "[map[field:first_name message:must be a string]]"},
		{"256 characters", "leads", `{"first_name":"` + long + `"}`, "[map[field:first_name message:must be at most 255 characters]]"},
		{"255 multibyte characters", "leads", `{"first_name":"` + strings.Repeat("€", 255) + `"}`, ""},
		{"notes 10001", "leads", `{"notes":"` + strings.Repeat("a", 10001) + `"}`, "[map[field:notes message:must be at most 10000 characters]]"},
		{"NUL", "leads", `{"first_name":"a\u0000b"}`, "[map[field:first_name message:must not contain U+0000]]"},
		{"email display name", "leads", `{"email":"Ann <ann@example.com>"}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email angle", "leads", `{"email":"<ann@example.com>"}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email two", "leads", `{"email":"a@example.com, b@example.com"}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email no at", "leads", `{"email":"example.com"}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email spaces", "leads", `{"email":" a@example.com"}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email empty", "leads", `{"email":""}`, "[map[field:email message:must be an email address without a display name]]"},
		{"email ok", "leads", `{"email":"first.last+tag@sub.example.co"}`, ""},
		{"date Feb 30", "appointments", `{"appointment_date":"2026-02-30"}`, "[map[field:appointment_date message:must be a date (YYYY-MM-DD)]]"},
		{"date format", "appointments", `{"appointment_date":"20/07/2026"}`, "[map[field:appointment_date message:must be a date (YYYY-MM-DD)]]"},
		{"date with time", "appointments", `{"appointment_date":"2026-07-20T10:00:00Z"}`, "[map[field:appointment_date message:must be a date (YYYY-MM-DD)]]"},
		{"leap day", "appointments", `{"appointment_date":"2028-02-29"}`, ""},
		{"time 24:00", "appointments", `{"appointment_date":"2026-07-20","appointment_time":"24:00"}`, "[map[field:appointment_time message:must be a time (HH:MM)]]"},
		{"time seconds", "appointments", `{"appointment_date":"2026-07-20","end_time":"10:00:00"}`, "[map[field:end_time message:must be a time (HH:MM)]]"},
		{"time 9:00", "appointments", `{"appointment_date":"2026-07-20","end_time":"9:00"}`, "[map[field:end_time message:must be a time (HH:MM)]]"},
		{"date-time no zone", "tasks", `{"title":"t","due_at":"2026-07-20T10:00:00"}`, "[map[field:due_at message:must be a date-time (RFC 3339)]]"},
		{"date-time date only", "tasks", `{"title":"t","due_at":"2026-07-20"}`, "[map[field:due_at message:must be a date-time (RFC 3339)]]"},
		{"date-time Feb 30", "tasks", `{"title":"t","due_at":"2026-02-30T10:00:00Z"}`, "[map[field:due_at message:must be a date-time (RFC 3339)]]"},
		{"integer fraction", "tasks", `{"title":"t","points":1.5}`, "[map[field:points message:must be an integer]]"},
		{"integer string", "tasks", `{"title":"t","points":"1"}`, "[map[field:points message:must be an integer]]"},
		{"integer overflow", "tasks", `{"title":"t","points":9223372036854775808}`, "[map[field:points message:must be an integer]]"},
		{"number string", "tasks", `{"title":"t","estimate":"1"}`, "[map[field:estimate message:must be a number]]"},
		{"number overflow", "tasks", `{"title":"t","estimate":1e999}`, "[map[field:estimate message:must be a number]]"},
		{"boolean string", "tasks", `{"title":"t","done":"true"}`, "[map[field:done message:must be a boolean]]"},
		{"boolean number", "tasks", `{"title":"t","done":1}`, "[map[field:done message:must be a boolean]]"},
		{"uuid", "leads", `{"client_id":"123"}`, "[map[field:client_id message:must be a UUID]]"},
		{"uuid number", "leads", `{"client_id":123}`, "[map[field:client_id message:must be a string]]"},
		{"object array", "appointments", `{"appointment_date":"2026-07-20","custom_fields":[1]}`, "[map[field:custom_fields message:must be a JSON object]]"},
		{"object string", "appointments", `{"appointment_date":"2026-07-20","custom_fields":"{}"}`, "[map[field:custom_fields message:must be a JSON object]]"},
		{"object NUL", "appointments", `{"appointment_date":"2026-07-20","custom_fields":{"a":"\u0000"}}`, "[map[field:custom_fields message:must not contain U+0000]]"},
		{"object NUL key", "appointments", `{"appointment_date":"2026-07-20","custom_fields":{"\u0000":1}}`, "[map[field:custom_fields message:must not contain U+0000]]"},
		{"object escaped backslash u0000 is text", "appointments", `{"appointment_date":"2026-07-20","custom_fields":{"a":"\\u0000"}}`, ""},
		{"null optional", "leads", `{"first_name":null,"client_id":null,"scheduled_at":null}`, ""},
		{"free-form workflow value", "leads", `{"status":"Brand new status ✨"}`, ""},
		{"several, sorted", "tasks", `{"points":"x","done":"y","due_at":"z"}`,
			"[map[field:done message:must be a boolean] map[field:due_at message:must be a date-time (RFC 3339)] map[field:points message:must be an integer] map[field:title message:is required]]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/"+tc.resource, tc.body, org)
			if tc.details == "" {
				if r.Code != 201 {
					t.Fatalf("%d %s", r.Code, r.Raw)
				}
				return
			}
			wantError(t, r, 400, "Invalid field values")
			if got := fmt.Sprint(r.Body["details"]); got != tc.details {
				t.Errorf("details\n got %s\nwant %s", got, tc.details)
			}
			var fields []string
			for _, d := range r.Body["details"].([]any) {
				fields = append(fields, d.(map[string]any)["field"].(string))
			}
			if !slices.Equal(r.strs("fields"), fields) {
				t.Errorf("fields %v, details %v", r.strs("fields"), fields)
			}
		})
	}

	// Protected and unknown fields come first and are listed sorted.
	r := e.do("POST", "/v1/leads", `{"id":"x","first_name":5,"auth_secret":"s","created_at":"x","Unknown":1,"lead_number":3}`, org)
	wantError(t, r, 400, "Unsupported or protected fields")
	if f := r.strs("fields"); !slices.Equal(f, []string{"Unknown", "auth_secret", "created_at", "id", "lead_number"}) {
		t.Errorf("fields %v", f)
	}
	wantError(t, e.do("POST", "/v1/tasks", `{"title":"t","source":"x"}`, org), 400, "Unsupported or protected fields")
}

func testBodies(t *testing.T, e *env, org string) {
	for name, body := range map[string]string{
		"malformed": `{"first_name":`,
		"array":     `[{"first_name":"x"}]`,
		"string":    `"x"`,
		"null":      `null`,
		"trailing":  `{"first_name":"x"} {}`,
		"garbage":   `{"first_name":"x"}x`,
		"empty":     ``,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do("POST", "/v1/leads", body, org), 400, "Invalid JSON body")
		})
	}
	t.Run("PATCH not an object", func(t *testing.T) {
		lead := e.mustCreate("leads", `{}`, org)
		wantError(t, e.do("PATCH", "/v1/leads/"+lead["id"].(string), `[]`, org), 400, "Invalid JSON body")
	})
	t.Run("413 by Content-Length", func(t *testing.T) {
		big := `{"notes":"` + strings.Repeat("a", 1<<20) + `"}`
		wantError(t, e.do("POST", "/v1/leads", big, org), 413, "Request body too large")
	})
	t.Run("413 while reading", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/v1/leads", strings.NewReader(`{"notes":"`+strings.Repeat("a", 1<<20)+`"}`))
		req.ContentLength = -1 // chunked: only MaxBytesReader can stop it
		ctx := withCaller(gatehouse.NewRequestContext(req.Context(), "r"), org, e.all)
		rec := httptest.NewRecorder()
		e.reg.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "Request body too large") {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("limit is configurable", func(t *testing.T) {
		small := newEnvOn(t, e, func(o *resource.Options) { o.MaxBodyBytes = 64 })
		wantError(t, small.do("POST", "/v1/leads", `{"notes":"`+strings.Repeat("a", 64)+`"}`, org), 413, "Request body too large")
		if r := small.do("POST", "/v1/leads", `{"notes":"a"}`, org); r.Code != 201 {
			t.Errorf("small body: %d %s", r.Code, r.Raw)
		}
	})
}

func testForeignKeys(t *testing.T, e *env, orgA, orgB string) {
	mine := e.mustCreate("clients", `{"first_name":"Mine"}`, orgA)["id"].(string)
	theirs := e.mustCreate("clients", `{"first_name":"Theirs"}`, orgB)["id"].(string)
	theirLead := e.mustCreate("leads", `{}`, orgB)["id"].(string)
	myJobType, theirJobType := e.jobType(orgA, "Mine"), e.jobType(orgB, "Theirs")

	if r := e.do("POST", "/v1/leads", `{"client_id":"`+mine+`"}`, orgA); r.Code != 201 {
		t.Errorf("own client: %d %s", r.Code, r.Raw)
	}
	before := e.do("GET", "/v1/leads?limit=1000", "", orgA)
	for name, body := range map[string]string{
		"other organization's client": `{"client_id":"` + theirs + `"}`,
		"missing client":              `{"client_id":"` + uuid.New() + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/v1/leads", body, orgA)
			wantError(t, r, 400, "Invalid foreign key")
			if f := r.strs("fields"); !slices.Equal(f, []string{"client_id"}) {
				t.Errorf("fields %v", f)
			}
		})
	}
	r := e.do("POST", "/v1/appointments", `{"appointment_date":"2026-01-01","lead_id":"`+theirLead+`","job_type_id":"`+theirJobType+`"}`, orgA)
	wantError(t, r, 400, "Invalid foreign key")
	if f := r.strs("fields"); !slices.Equal(f, []string{"job_type_id", "lead_id"}) {
		t.Errorf("fields %v", f)
	}
	if r := e.do("POST", "/v1/appointments", `{"appointment_date":"2026-01-01","job_type_id":"`+myJobType+`"}`, orgA); r.Code != 201 {
		t.Errorf("own job type: %d %s", r.Code, r.Raw)
	}
	// Nothing was left behind by the failed creates (and no number used).
	after := e.do("GET", "/v1/leads?limit=1000", "", orgA)
	if len(after.list()) != len(before.list()) {
		t.Errorf("failed creates left rows: %d → %d", len(before.list()), len(after.list()))
	}
	next := e.mustCreate("leads", `{}`, orgA)["lead_number"].(float64)
	if prev := before.list()[0]["lead_number"].(float64); next != prev+1 {
		var nums []any
		for _, m := range before.list() {
			nums = append(nums, m["lead_number"])
		}
		t.Errorf("lead_number %v after %v: failed creates used numbers; before: %v", next, prev, nums)
	}

	task := e.mustCreate("tasks", `{"title":"t"}`, orgA)["id"].(string)
	r = e.do("PATCH", "/v1/tasks/"+task, `{"client_id":"`+theirs+`","status":"changed"}`, orgA)
	wantError(t, r, 400, "Invalid foreign key")
	if g := e.do("GET", "/v1/tasks/"+task, "", orgA); g.data()["status"] != nil || g.data()["client_id"] != nil {
		t.Errorf("failed patch was applied: %s", g.Raw)
	}
	if r := e.do("PATCH", "/v1/tasks/"+task, `{"client_id":"`+mine+`"}`, orgA); r.Code != 200 {
		t.Errorf("patch own client: %d %s", r.Code, r.Raw)
	}
}

func testList(t *testing.T, e *env, org, other string) {
	client := e.mustCreate("clients", `{"first_name":"C"}`, org)["id"].(string)
	otherClient := e.mustCreate("clients", `{"first_name":"X"}`, other)["id"].(string)
	var ids []string
	for i := range 7 {
		body := fmt.Sprintf(`{"first_name":"L%d","status":"%s","phone":"+1555%d"}`, i, []string{"new", "won"}[i%2], i)
		if i == 3 {
			body = `{"first_name":"L3","status":"won","client_id":"` + client + `"}`
		}
		ids = append(ids, e.mustCreate("leads", body, org)["id"].(string))
	}
	e.mustCreate("leads", `{"first_name":"other","status":"new","client_id":"`+otherClient+`"}`, other)
	slices.Reverse(ids) // newest first

	listIDs := func(t *testing.T, query string) []string {
		t.Helper()
		r := e.do("GET", "/v1/leads"+query, "", org)
		if r.Code != 200 {
			t.Fatalf("%s: %d %s", query, r.Code, r.Raw)
		}
		var out []string
		for _, m := range r.list() {
			out = append(out, m["id"].(string))
		}
		return out
	}

	r := e.do("GET", "/v1/leads", "", org)
	if r.Code != 200 || r.Body["limit"] != float64(50) || r.Body["offset"] != float64(0) || len(r.list()) != 7 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if r.Route != "/v1/leads" {
		t.Errorf("route %q", r.Route)
	}
	if v, ok := r.Body["next_cursor"]; r.Body["has_more"] != false || !ok || v != nil || r.Header.Get("Link") != "" {
		t.Errorf("last page: has_more %v next_cursor %v Link %q", r.Body["has_more"], v, r.Header.Get("Link"))
	}
	// Without a Keyring there are no cursors, but has_more still tells.
	if r := e.do("GET", "/v1/leads?limit=6", "", org); r.Body["has_more"] != true || r.Body["next_cursor"] != nil || r.Header.Get("Link") != "" {
		t.Errorf("limit 6 of 7: %s (Link %q)", r.Raw, r.Header.Get("Link"))
	}
	if r := e.do("GET", "/v1/leads?limit=7", "", org); r.Body["has_more"] != false {
		t.Errorf("limit 7 of 7: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/leads?limit=2&offset=5", "", org); r.Body["has_more"] != false || len(r.list()) != 2 {
		t.Errorf("offset 5 limit 2 of 7: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/leads?limit=2&offset=4", "", org); r.Body["has_more"] != true {
		t.Errorf("offset 4 limit 2 of 7: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/leads?cursor=", "", org); r.Code != 200 || len(r.list()) != 7 {
		t.Errorf("empty cursor is the first page: %d %s", r.Code, r.Raw)
	}
	if got := listIDs(t, ""); !slices.Equal(got, ids) {
		t.Errorf("order: %v, want %v", got, ids)
	}
	if got := listIDs(t, "?limit=2&offset=1"); !slices.Equal(got, ids[1:3]) {
		t.Errorf("page: %v", got)
	}
	if got := listIDs(t, "?limit=2&offset=10000"); len(got) != 0 {
		t.Errorf("offset 10000: %v", got)
	}
	if r := e.do("GET", "/v1/leads?limit=5000", "", org); r.Body["limit"] != float64(1000) {
		t.Errorf("clamp: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/leads?limit=99999999999999999999999", "", org); r.Body["limit"] != float64(1000) {
		t.Errorf("clamp huge: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/leads?limit=1000&offset=0", "", org); r.Code != 200 || r.Body["limit"] != float64(1000) {
		t.Errorf("limit 1000: %s", r.Raw)
	}
	// An empty page is [] not null.
	if r := e.do("GET", "/v1/leads", "", uuid.New()); !strings.HasPrefix(r.Raw, `{"data":[],`) {
		t.Errorf("empty list: %s", r.Raw)
	}

	won := listIDs(t, "?status=won")
	if len(won) != 3 || !slices.Contains(won, ids[3]) {
		t.Errorf("status=won: %v", won)
	}
	if got := listIDs(t, "?status=won&client_id="+client); !slices.Equal(got, []string{ids[3]}) {
		t.Errorf("status+client_id: %v", got)
	}
	if got := listIDs(t, "?client_id="+strings.ToUpper(client)); !slices.Equal(got, []string{ids[3]}) {
		t.Errorf("upper-case client_id: %v", got)
	}
	if got := listIDs(t, "?id="+ids[2]); !slices.Equal(got, []string{ids[2]}) {
		t.Errorf("id filter: %v", got)
	}
	if got := listIDs(t, "?lead_number=1"); !slices.Equal(got, []string{ids[6]}) {
		t.Errorf("lead_number filter: %v", got)
	}
	if got := listIDs(t, "?phone=%2B15552"); !slices.Equal(got, []string{ids[4]}) {
		t.Errorf("phone filter with escaped +: %v", got)
	}
	if got := listIDs(t, "?status="); len(got) != 0 {
		t.Errorf("empty status: %v", got)
	}
	// Other organization's ids filter to an empty list, never to its rows.
	if got := listIDs(t, "?client_id="+otherClient); len(got) != 0 {
		t.Errorf("other org's client: %v", got)
	}
	if got := listIDs(t, "?id="+e.do("GET", "/v1/leads", "", other).list()[0]["id"].(string)); len(got) != 0 {
		t.Errorf("other org's id: %v", got)
	}

	// created_after / created_before (the clock advances 1 ms per write).
	all := e.do("GET", "/v1/leads", "", org).list()
	mid := all[3]["created_at"].(string)
	after := listIDs(t, "?created_after="+url.QueryEscape(mid))
	if !slices.Equal(after, ids[:4]) {
		t.Errorf("created_after %s: %v, want %v", mid, after, ids[:4])
	}
	before := listIDs(t, "?created_before="+url.QueryEscape(mid))
	if !slices.Equal(before, ids[4:]) {
		t.Errorf("created_before %s: %v, want %v", mid, before, ids[4:])
	}
	if got := listIDs(t, "?created_after=2026-03-01&created_before=2026-03-02"); len(got) != 7 {
		t.Errorf("date range: %v", got)
	}
	if got := listIDs(t, "?created_after=2026-03-02"); len(got) != 0 {
		t.Errorf("created_after next day: %v", got)
	}
	if got := listIDs(t, "?created_before=2026-03-01T12:00:00%2B00:00"); len(got) != 0 {
		t.Errorf("created_before start: %v", got)
	}
	if got := listIDs(t, "?created_after=2026-03-01T13:00:00%2B01:00"); len(got) != 7 {
		t.Errorf("created_after with offset: %v", got)
	}

	// Errors.
	errs := []struct {
		query, msg string
		fields     []string
	}{
		{"?limit=0", "Invalid query parameters", []string{"limit"}},
		{"?limit=-1", "Invalid query parameters", []string{"limit"}},
		{"?limit=abc", "Invalid query parameters", []string{"limit"}},
		{"?limit=", "Invalid query parameters", []string{"limit"}},
		{"?limit=1.5", "Invalid query parameters", []string{"limit"}},
		{"?offset=10001", "Invalid query parameters", []string{"offset"}},
		{"?offset=-1", "Invalid query parameters", []string{"offset"}},
		{"?offset=99999999999999999999", "Invalid query parameters", []string{"offset"}},
		{"?created_after=yesterday", "Invalid query parameters", []string{"created_after"}},
		{"?created_before=2026-02-30", "Invalid query parameters", []string{"created_before"}},
		{"?lead_number=abc", "Invalid query parameters", []string{"lead_number"}},
		{"?client_id=not-a-uuid", "Invalid query parameters", []string{"client_id"}},
		{"?id=1", "Invalid query parameters", []string{"id"}},
		{"?email=nope", "Invalid query parameters", []string{"email"}},
		{"?status=a&status=b", "Invalid query parameters", []string{"status"}},
		{"?limit=1&limit=1", "Invalid query parameters", []string{"limit"}},
		{"?q=" + strings.Repeat("a", 256), "Invalid query parameters", []string{"q"}},
		{"?q=a%00b", "Invalid query parameters", []string{"q"}},
		{"?status=%zz", "Invalid query parameters", []string{"status"}},
		{"?limit=0&offset=x&created_after=bad&lead_number=1", "Invalid query parameters", []string{"created_after", "limit", "offset"}},
		{"?foo=1", "Unsupported filters", []string{"foo"}},
		{"?limit=0&foo=1&bar=2&status=x&bar=3", "Unsupported filters", []string{"bar", "foo"}},
		{"?first_name=x", "Unsupported filters", []string{"first_name"}},
		{"?organization_id=" + org, "Unsupported filters", []string{"organization_id"}},
		{"?cursor=abc&offset=0", "Invalid query parameters", []string{"cursor", "offset"}},
		{"?offset=5&cursor=", "Invalid query parameters", []string{"cursor", "offset"}},
		{"?cursor=a&cursor=b", "Invalid query parameters", []string{"cursor"}},
		{"?cursor=abc", "Invalid cursor", nil},
		{"?Status=won", "Unsupported filters", []string{"Status"}},
		{"?%zz=1", "Unsupported filters", []string{"%zz"}},
		{"?a;b=1", "Unsupported filters", []string{"a;b"}},
	}
	for _, tc := range errs {
		t.Run(tc.query, func(t *testing.T) {
			r := e.do("GET", "/v1/leads"+tc.query, "", org)
			wantError(t, r, 400, tc.msg)
			if f := r.strs("fields"); !slices.Equal(f, tc.fields) && (len(f) > 0 || tc.fields != nil) {
				t.Errorf("fields %v, want %v", f, tc.fields)
			}
		})
	}
	// Tolerated: empty pairs.
	if got := listIDs(t, "?&&limit=2&"); len(got) != 2 {
		t.Errorf("empty pairs: %v", got)
	}

	// Typed filters on other resources.
	e.mustCreate("tasks", `{"title":"a","done":true,"points":5,"due_at":"2026-07-20T10:00:00Z"}`, org)
	e.mustCreate("tasks", `{"title":"b","done":false,"points":6}`, org)
	for q, n := range map[string]int{
		"?done=true": 1, "?done=false": 1, "?points=5": 1, "?points=7": 0,
		"?due_at=2026-07-20T12:00:00%2B02:00": 1, "?due_at=2026-07-20T10:00:00.000001Z": 0,
	} {
		r := e.do("GET", "/v1/tasks"+q, "", org)
		if r.Code != 200 || len(r.list()) != n {
			t.Errorf("tasks%s: %d rows (%d %s)", q, len(r.list()), r.Code, r.Raw)
		}
	}
	for _, q := range []string{"?done=yes", "?points=5.5", "?due_at=2026-07-20", "?assigned_to_email=x"} {
		wantError(t, e.do("GET", "/v1/tasks"+q, "", org), 400, "Invalid query parameters")
	}
	e.mustCreate("appointments", `{"appointment_date":"2026-07-20"}`, org)
	if r := e.do("GET", "/v1/appointments?appointment_date=2026-07-20", "", org); len(r.list()) != 1 {
		t.Errorf("date filter: %s", r.Raw)
	}
	wantError(t, e.do("GET", "/v1/appointments?appointment_date=2026-13-01", "", org), 400, "Invalid query parameters")
}

func testSearch(t *testing.T, e *env, org string) {
	names := []string{"Müller", "MÜLLER", "ab%cd", "abXcd", "a_b", "axb", `back\slash`, "backXslash", "Ann"}
	byName := map[string]string{}
	for _, n := range names {
		body := fmt.Sprintf(`{"first_name":%q}`, n)
		byName[n] = e.mustCreate("clients", body, org)["id"].(string)
	}
	e.mustCreate("clients", `{"company_name":"ANNEX corp","email":"x@annex.example"}`, org)
	e.mustCreate("clients", `{"first_name":"Ann"}`, uuid.New())
	search := func(q string) []string {
		r := e.do("GET", "/v1/clients?q="+url.QueryEscape(q), "", org)
		if r.Code != 200 {
			t.Fatalf("q=%s: %d %s", q, r.Code, r.Raw)
		}
		var out []string
		for _, m := range r.list() {
			if s, ok := m["first_name"].(string); ok {
				out = append(out, s)
			} else {
				out = append(out, m["company_name"].(string))
			}
		}
		slices.Sort(out)
		return out
	}
	for q, want := range map[string][]string{
		"mül":        {"Müller"},
		"MÜL":        {"MÜLLER"},
		"LLER":       {"MÜLLER", "Müller"},
		"%":          {"ab%cd"},
		"b%C":        {"ab%cd"},
		"_":          {"a_b"},
		"A_B":        {"a_b"},
		`\`:          {`back\slash`},
		`k\s`:        {`back\slash`},
		"ann":        {"ANNEX corp", "Ann"},
		"@ANNEX.":    {"ANNEX corp"},
		"nobody":     nil,
		"":           {"ANNEX corp", "Ann", "MÜLLER", "Müller", "a_b", "ab%cd", "abXcd", "axb", "backXslash", `back\slash`},
		"' OR 1=1--": nil,
	} {
		if got := search(q); !slices.Equal(got, want) {
			t.Errorf("q=%q: %q, want %q", q, got, want)
		}
	}
	// q combines with filters (AND).
	r := e.do("GET", "/v1/clients?q=ann&email=x%40annex.example", "", org)
	if len(r.list()) != 1 {
		t.Errorf("q + filter: %s", r.Raw)
	}
}

func testRouting(t *testing.T, e *env, org string) {
	lead := e.mustCreate("leads", `{}`, org)["id"].(string)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/leads/" + lead, "GET, HEAD, PATCH"},
		{"PUT", "/v1/leads/" + lead, "GET, HEAD, PATCH"},
		{"POST", "/v1/leads/" + lead, "GET, HEAD, PATCH"},
		{"DELETE", "/v1/leads", "GET, HEAD, POST"},
		{"PATCH", "/v1/leads", "GET, HEAD, POST"},
		{"OPTIONS", "/v1/leads", "GET, HEAD, POST"},
		{"POST", "/v1/schema", "GET, HEAD"},
		{"DELETE", "/v1/leads/not-a-uuid", "GET, HEAD, PATCH"},
	} {
		r := e.do(tc.method, tc.path, "", org)
		wantError(t, r, 405, "Method not allowed")
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	if r := e.do("DELETE", "/v1/leads/"+lead, "", org); r.Route != "/v1/leads/{id}" {
		t.Errorf("405 route %q", r.Route)
	}
	for _, p := range []string{"/v1/unknown", "/v1/unknown/" + lead, "/v1", "/v1/", "/v1/leads/", "/v1/leads/" + lead + "/x",
		"/v1//leads", "/v1/./leads", "/v1/x/../leads", "/other", "/", "/v1/Leads", "/v1/schema/x", "/v1/whoami", "/v1/webhooks"} {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			wantError(t, e.do(m, p, "", org), 404, "Unsupported resource")
		}
	}
	// The catch-all 404 records a route for the audit log.
	for _, p := range []string{"/v1/unknown", "/v1//leads", "/other"} {
		if r := e.do("GET", p, "", org); r.Route != "/v1/" {
			t.Errorf("GET %s: route %q, want /v1/", p, r.Route)
		}
	}
	if r := e.do("HEAD", "/v1/leads", "", org); r.Code != 200 {
		t.Errorf("HEAD: %d", r.Code)
	}
	// No organization in the context: fail closed with a 500, never unscoped.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/leads", ""}, {"GET", "/v1/leads/" + lead, ""}, {"POST", "/v1/leads", `{}`}, {"PATCH", "/v1/leads/" + lead, `{"status":"x"}`},
	} {
		r := e.call(tc.method, tc.path, tc.body, "", e.all)
		wantError(t, r, 500, "Internal server error")
		if strings.Contains(r.Raw, "tenancy") {
			t.Errorf("cause leaked: %s", r.Raw)
		}
	}
	if !strings.Contains(e.logs.String(), "no organization in context") {
		t.Errorf("cause not logged: %s", e.logs.String())
	}
}

func testScopes(t *testing.T, e *env, org string) {
	lead := e.mustCreate("leads", `{}`, org)["id"].(string)
	for _, tc := range []struct {
		method, path, body string
		want               string
	}{
		{"GET", "/v1/leads", "", "leads:read"},
		{"GET", "/v1/leads/" + lead, "", "leads:read"},
		{"GET", "/v1/leads/not-a-uuid", "", "leads:read"},
		{"POST", "/v1/leads", `{}`, "leads:create"},
		{"POST", "/v1/leads", `not json`, "leads:create"},
		{"PATCH", "/v1/leads/" + lead, `{"status":"x"}`, "leads:update"},
		{"GET", "/v1/tasks?bogus=1", "", "tasks:read"},
	} {
		r := e.call(tc.method, tc.path, tc.body, org, []string{"clients:read", "leads:read"})
		if tc.want == "leads:read" {
			r = e.call(tc.method, tc.path, tc.body, org, []string{"leads:create", "leads:update"})
		}
		wantError(t, r, 403, "Missing scope")
		if r.Body["required_scope"] != tc.want {
			t.Errorf("%s %s: required_scope %v", tc.method, tc.path, r.Body["required_scope"])
		}
		// No scopes in the context at all: refused the same way.
		wantError(t, e.call(tc.method, tc.path, tc.body, org, nil), 403, "Missing scope")
	}
	if r := e.call("GET", "/v1/leads", "", org, []string{"leads:read"}); r.Code != 200 {
		t.Errorf("leads:read alone: %d", r.Code)
	}
	if r := e.call("GET", "/v1/schema", "", org, []string{"tasks:read"}); r.Code != 200 {
		t.Errorf("schema with any scope: %d", r.Code)
	}
	if r := e.call("GET", "/v1/schema", "", org, []string{}); r.Code != 200 {
		t.Errorf("schema with an empty scope set: %d", r.Code)
	}
	wantError(t, e.call("GET", "/v1/schema", "", org, nil), 403, "Missing scope")
}

func testOnWrite(t *testing.T, e *env, org string) {
	e.mu.Lock()
	e.writes = nil
	e.mu.Unlock()
	lead := e.mustCreate("leads", `{"first_name":"Hook"}`, org)
	id := lead["id"].(string)
	if r := e.do("PATCH", "/v1/leads/"+id, `{"status":"won"}`, org); r.Code != 200 {
		t.Fatal(r.Raw)
	}
	e.mu.Lock()
	writes := slices.Clone(e.writes)
	e.mu.Unlock()
	if len(writes) != 2 {
		t.Fatalf("writes %v", writes)
	}
	c, u := writes[0], writes[1]
	if c.Resource != "leads" || c.Singular != "lead" || c.Op != "created" || c.ID != id || c.OrganizationID != org || c.Record["first_name"] != "Hook" || c.Record["lead_number"] != int64(1) {
		t.Errorf("create change %+v", c)
	}
	if u.Op != "updated" || u.ID != id || u.Record["status"] != "won" || u.Record["first_name"] != "Hook" {
		t.Errorf("update change %+v", u)
	}

	// A failing hook rolls everything back, sequence number included.
	e.mu.Lock()
	e.failWrite = errors.New("outbox down")
	e.mu.Unlock()
	wantError(t, e.do("POST", "/v1/leads", `{"first_name":"Lost"}`, org), 500, "Internal server error")
	wantError(t, e.do("PATCH", "/v1/leads/"+id, `{"status":"lost"}`, org), 500, "Internal server error")
	e.mu.Lock()
	e.failWrite = gatehouse.NewError(409, "Conflict from hook")
	e.mu.Unlock()
	wantError(t, e.do("POST", "/v1/leads", `{"first_name":"Lost"}`, org), 409, "Conflict from hook")
	e.mu.Lock()
	e.failWrite = nil
	e.mu.Unlock()
	list := e.do("GET", "/v1/leads", "", org).list()
	if len(list) != 1 || list[0]["status"] != "won" {
		t.Errorf("after failed hooks: %v", list)
	}
	if n := e.mustCreate("leads", `{}`, org)["lead_number"]; n != float64(2) {
		t.Errorf("lead_number after rolled-back creates = %v, want 2", n)
	}
}

func testConcurrentCreates(t *testing.T, e *env, org string) {
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			r := e.do("POST", "/v1/leads", fmt.Sprintf(`{"first_name":"c%d"}`, i), org)
			codes[i] = r.Code
			if r.Code != 201 {
				t.Errorf("create %d: %d %s", i, r.Code, r.Raw)
			}
		})
	}
	wg.Wait()
	var nums []int
	for _, m := range e.do("GET", "/v1/leads?limit=100", "", org).list() {
		nums = append(nums, int(m["lead_number"].(float64)))
	}
	slices.Sort(nums)
	for i, v := range nums {
		if v != i+1 {
			t.Fatalf("lead numbers %v are not 1..%d", nums, n)
		}
	}
	if len(nums) != n {
		t.Fatalf("%d leads", len(nums))
	}
}

func testSchema(t *testing.T, e *env, org string) {
	r := e.do("GET", "/v1/schema", "", org)
	if r.Code != 200 || r.Route != "/v1/schema" {
		t.Fatalf("%d %q %s", r.Code, r.Route, r.Raw)
	}
	d := r.data()
	if d["version"] != "v1" {
		t.Errorf("version %v", d["version"])
	}
	if fmt.Sprint(d["list_parameters"]) != "[limit offset created_after created_before q]" {
		t.Errorf("list_parameters without a keyring: %v", d["list_parameters"])
	}
	// The version serving the request (gatehouse.Versioner) is reported.
	for _, v := range []string{"v1", "2026-07-01"} {
		req := httptest.NewRequest("GET", "/v1/schema", nil)
		ctx := gatehouse.NewVersionContext(gatehouse.NewRequestContext(req.Context(), "r"), v)
		rec := httptest.NewRecorder()
		e.reg.ServeHTTP(rec, req.WithContext(withCaller(ctx, org, e.all)))
		var body struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Data["version"] != v || len(body.Data["resources"].([]any)) != 4 {
			t.Errorf("pinned %s: %s", v, rec.Body)
		}
	}
	// The key and audit figures are reported only when given (the admin
	// API and the audit log own them).
	if fmt.Sprint(d["limits"]) != "map[default_limit:50 max_limit:1000 max_offset:10000]" {
		t.Errorf("limits %v", d["limits"])
	}
	if fmt.Sprint(d["protected_fields"]) != "[id organization_id created_at updated_at]" {
		t.Errorf("protected %v", d["protected_fields"])
	}
	res := d["resources"].([]any)
	if len(res) != 4 {
		t.Fatalf("resources %v", res)
	}
	leads := res[0].(map[string]any)
	if leads["name"] != "leads" || fmt.Sprint(leads["scopes"]) != "map[create:leads:create read:leads:read update:leads:update]" {
		t.Errorf("leads %v", leads)
	}
	if fmt.Sprint(leads["filters"]) != "[id lead_number status phone email client_id]" || fmt.Sprint(leads["search_fields"]) != "[first_name last_name phone email]" {
		t.Errorf("filters %v search %v", leads["filters"], leads["search_fields"])
	}
	cf := leads["create_fields"].([]any)
	if len(cf) != 8 { // lead_number is not writable
		t.Errorf("create_fields %v", cf)
	}
	if fmt.Sprint(cf[0]) != "map[max_length:255 name:first_name nullable:true required:false type:string]" {
		t.Errorf("first create field %v", cf[0])
	}
	tasks := res[3].(map[string]any)
	tc := tasks["create_fields"].([]any)[0].(map[string]any)
	tu := tasks["update_fields"].([]any)[0].(map[string]any)
	if tc["name"] != "title" || tc["required"] != true || tu["required"] != false || tu["nullable"] != false {
		t.Errorf("title create %v update %v", tc, tu)
	}
	for _, f := range tasks["create_fields"].([]any) {
		m := f.(map[string]any)
		if m["name"] == "done" && (m["type"] != "boolean" || m["max_length"] != nil) {
			t.Errorf("done %v", m)
		}
		if m["name"] == "source" {
			t.Errorf("read-only field listed: %v", m)
		}
	}
}

// newEnvOn returns a second registry over e's database (tables exist).
func newEnvOn(t *testing.T, e *env, mod func(*resource.Options)) *env {
	t.Helper()
	opts := resource.Options{DB: e.db.DB, Dialect: e.db.Dialect, Resources: testResources(), Now: e.now, Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	if mod != nil {
		mod(&opts)
	}
	reg, err := resource.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: e.db, reg: reg, all: e.all, now: e.now, logs: e.logs}
}
