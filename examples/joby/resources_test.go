package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLeadsCRUD(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		_, key, _ := a.tenant()
		client := a.create(key, "clients", `{"first_name":"API","last_name":"Client","phone":"+15555550124","email":"client@example.com"}`)
		r := a.key(key, "POST", "/v1/leads", `{"first_name":"API","last_name":"Lead","phone":"+15555550123","email":"lead@example.com","status":"New","job_type":"Locksmith","client_id":"`+client["id"].(string)+`","scheduled_at":"2026-07-20T10:00:00+02:00"}`)
		if r.Code != 201 {
			t.Fatalf("create: %d %s", r.Code, r.Raw)
		}
		lead := r.data()
		id := lead["id"].(string)
		if r.Header.Get("Location") != "/v1/leads/"+id || lead["lead_number"] != float64(1) || lead["status"] != "New" ||
			lead["scheduled_at"] != "2026-07-20T08:00:00Z" || lead["notes"] != nil || lead["created_at"] == nil {
			t.Fatalf("created lead %v (Location %q)", lead, r.Header.Get("Location"))
		}
		if second := a.create(key, "leads", `{"first_name":"Second"}`); second["lead_number"] != float64(2) {
			t.Fatalf("second lead_number %v", second["lead_number"])
		}
		g := a.key(key, "GET", "/v1/leads/"+id, "")
		if g.Code != 200 || g.data()["email"] != "lead@example.com" {
			t.Fatalf("get: %d %s", g.Code, g.Raw)
		}
		p := a.key(key, "PATCH", "/v1/leads/"+id, `{"status":"Won","notes":"`+strings.Repeat("n", 10000)+`","phone":null}`)
		if p.Code != 200 || p.data()["status"] != "Won" || p.data()["phone"] != nil || p.data()["first_name"] != "API" || p.data()["lead_number"] != float64(1) {
			t.Fatalf("patch: %d %s", p.Code, p.Raw[:min(len(p.Raw), 300)])
		}
		l := a.key(key, "GET", "/v1/leads", "")
		if l.Code != 200 || len(l.list()) != 2 || l.list()[0]["first_name"] != "Second" || l.Body["limit"] != float64(50) || l.Body["offset"] != float64(0) {
			t.Fatalf("list: %d %s", l.Code, l.Raw[:min(len(l.Raw), 300)])
		}
		for q, n := range map[string]int{
			"status=Won": 1, "status=won": 0, "lead_number=2": 1, "client_id=" + client["id"].(string): 1,
			"q=api": 1, "q=LEAD%40EXAMPLE": 1, "q=%25": 0, "q=_": 0, "email=lead@example.com": 1,
			"created_after=2000-01-01": 2, "created_before=2000-01-01": 0, "created_after=2999-01-01T00:00:00Z": 0,
			"limit=1": 1, "limit=5000": 2, "offset=1": 1, "offset=10000": 0,
		} {
			r := a.key(key, "GET", "/v1/leads?"+q, "")
			if r.Code != 200 || len(r.list()) != n {
				t.Errorf("GET /v1/leads?%s: %d, %d rows (want %d): %s", q, r.Code, len(r.list()), n, r.Raw[:min(len(r.Raw), 200)])
			}
		}
		if r := a.key(key, "GET", "/v1/leads?limit=5000", ""); r.Body["limit"] != float64(1000) {
			t.Errorf("limit not clamped: %v", r.Body["limit"])
		}
	})
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	_, otherKey, _ := a.tenant()
	foreignClient := a.create(otherKey, "clients", `{"first_name":"Theirs"}`)["id"].(string)
	lead := a.create(key, "leads", `{"first_name":"Mine"}`)["id"].(string)

	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
		fields                   string
	}{
		{"protected field", "POST", "/v1/leads", `{"first_name":"A","organization_id":"x","lead_number":5}`, 400, "Unsupported or protected fields", "[lead_number organization_id]"},
		{"unknown field", "POST", "/v1/leads", `{"nickname":"A"}`, 400, "Unsupported or protected fields", "[nickname]"},
		{"bad email", "POST", "/v1/leads", `{"email":"Bob <bob@example.com>"}`, 400, "Invalid field values", "[email]"},
		{"bad date", "POST", "/v1/appointments", `{"appointment_date":"2026-02-30"}`, 400, "Invalid field values", "[appointment_date]"},
		{"bad time", "POST", "/v1/appointments", `{"appointment_date":"2026-02-03","appointment_time":"25:00"}`, 400, "Invalid field values", "[appointment_time]"},
		{"missing required", "POST", "/v1/appointments", `{"first_name":"A"}`, 400, "Invalid field values", "[appointment_date]"},
		{"null required", "POST", "/v1/tasks", `{"title":null}`, 400, "Invalid field values", "[title]"},
		{"wrong type", "POST", "/v1/leads", `{"first_name":5}`, 400, "Invalid field values", "[first_name]"},
		{"too long", "POST", "/v1/leads", `{"first_name":"` + strings.Repeat("x", 256) + `"}`, 400, "Invalid field values", "[first_name]"},
		{"NUL byte", "POST", "/v1/leads", `{"first_name":"a\u0000b"}`, 400, "Invalid field values", "[first_name]"},
		{"custom_fields not an object", "POST", "/v1/appointments", `{"appointment_date":"2026-02-03","custom_fields":[1]}`, 400, "Invalid field values", "[custom_fields]"},
		{"fk not a uuid", "POST", "/v1/leads", `{"client_id":"nope"}`, 400, "Invalid field values", "[client_id]"},
		{"fk of another org", "POST", "/v1/leads", `{"client_id":"` + foreignClient + `"}`, 400, "Invalid foreign key", "[client_id]"},
		{"fk that does not exist", "POST", "/v1/tasks", `{"title":"t","lead_id":"00000000-0000-4000-8000-000000000000"}`, 400, "Invalid foreign key", "[lead_id]"},
		{"not JSON", "POST", "/v1/leads", `{"first_name":`, 400, "Invalid JSON body", ""},
		{"not an object", "POST", "/v1/leads", `["a"]`, 400, "Invalid JSON body", ""},
		{"trailing data", "POST", "/v1/leads", `{} {}`, 400, "Invalid JSON body", ""},
		{"empty patch", "PATCH", "/v1/leads/" + lead, `{}`, 400, "No fields to update", ""},
		{"patch another org's fk", "PATCH", "/v1/leads/" + lead, `{"client_id":"` + foreignClient + `"}`, 400, "Invalid foreign key", "[client_id]"},
		{"unknown filter", "GET", "/v1/leads?colour=red&size=9", ``, 400, "Unsupported filters", "[colour size]"},
		{"filter not on this resource", "GET", "/v1/clients?status=x", ``, 400, "Unsupported filters", "[status]"},
		{"bad limit", "GET", "/v1/leads?limit=0", ``, 400, "Invalid query parameters", "[limit]"},
		{"bad limit and offset", "GET", "/v1/leads?limit=x&offset=-1", ``, 400, "Invalid query parameters", "[limit offset]"},
		{"offset too large", "GET", "/v1/leads?offset=10001", ``, 400, "Invalid query parameters", "[offset]"},
		{"bad date filter", "GET", "/v1/leads?created_after=yesterday", ``, 400, "Invalid query parameters", "[created_after]"},
		{"repeated parameter", "GET", "/v1/leads?status=a&status=b", ``, 400, "Invalid query parameters", "[status]"},
		{"bad uuid filter", "GET", "/v1/leads?client_id=nope", ``, 400, "Invalid query parameters", "[client_id]"},
		{"bad integer filter", "GET", "/v1/leads?lead_number=one", ``, 400, "Invalid query parameters", "[lead_number]"},
		{"malformed id", "GET", "/v1/leads/not-a-uuid", ``, 404, "Not found", ""},
		{"other org's record", "GET", "/v1/clients/" + foreignClient, ``, 404, "Not found", ""},
		{"patch other org's record", "PATCH", "/v1/clients/" + foreignClient, `{"first_name":"x"}`, 404, "Not found", ""},
		{"unsupported resource", "GET", "/v1/invoices", ``, 404, "Unsupported resource", ""},
		{"delete", "DELETE", "/v1/leads/" + lead, ``, 405, "Method not allowed", ""},
		{"put collection", "PUT", "/v1/leads", `{}`, 405, "Method not allowed", ""},
		{"post schema", "POST", "/v1/schema", `{}`, 405, "Method not allowed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.key(key, tc.method, tc.path, tc.body)
			if r.Code != tc.code || errText(r) != tc.msg {
				t.Fatalf("got %d %s, want %d %q", r.Code, r.Raw, tc.code, tc.msg)
			}
			if tc.fields != "" && fieldsOf(r) != tc.fields {
				t.Fatalf("fields %s, want %s", fieldsOf(r), tc.fields)
			}
			if tc.msg == "Invalid field values" {
				if d, _ := r.Body["details"].([]any); len(d) == 0 {
					t.Fatalf("no details: %s", r.Raw)
				}
			}
			if tc.code == 405 && r.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if r := a.key(key, "DELETE", "/v1/leads/"+lead, ""); !strings.Contains(r.Header.Get("Allow"), "PATCH") || strings.Contains(r.Header.Get("Allow"), "DELETE") {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	if r := a.key(key, "GET", "/v1/appointments?appointment_date=x", ""); r.Code != 400 {
		t.Errorf("non-filter field accepted as filter: %d", r.Code)
	}
	// The "required" message.
	r := a.key(key, "POST", "/v1/appointments", `{}`)
	if !strings.Contains(r.Raw, `"message":"is required"`) {
		t.Errorf("required message: %s", r.Raw)
	}
	// Failed writes leave nothing behind.
	if l := a.key(key, "GET", "/v1/leads", ""); len(l.list()) != 1 {
		t.Errorf("failed creates left rows: %d", len(l.list()))
	}
	// Filtering by another organization's id is an empty list, not an error.
	if r := a.key(key, "GET", "/v1/leads?client_id="+foreignClient, ""); r.Code != 200 || len(r.list()) != 0 {
		t.Errorf("filter by foreign id: %d %s", r.Code, r.Raw)
	}
	if r := a.key(key, "GET", "/v1/clients?id="+foreignClient, ""); r.Code != 200 || len(r.list()) != 0 {
		t.Errorf("id filter across orgs: %d %s", r.Code, r.Raw)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	big := `{"notes":"` + strings.Repeat("x", 1<<20) + `"}`
	if r := a.key(key, "POST", "/v1/leads", big); r.Code != 413 || errText(r) != "Request body too large" {
		t.Fatalf("%d %s", r.Code, r.Raw[:min(200, len(r.Raw))])
	}
}

func TestAllResources(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		org, key, _ := a.tenant()
		var jobType string
		if err := a.db.QueryRow(a.dialect.Rebind("SELECT id FROM job_types WHERE organization_id = ? AND name = ?"), org, "Locksmith").Scan(&jobType); err != nil {
			t.Fatalf("seeded job types: %v", err)
		}
		lead := a.create(key, "leads", `{"first_name":"L"}`)["id"].(string)
		appt := a.create(key, "appointments", `{"first_name":"API","last_name":"Appointment","phone":"+15555550125","appointment_date":"2026-07-20","appointment_time":"10:00","end_time":"11:30","status":"scheduled","lead_id":"`+lead+`","job_type_id":"`+jobType+`","custom_fields":{"gate_code":"1234","floors":[1,2]}}`)
		if appt["appointment_date"] != "2026-07-20" || appt["end_time"] != "11:30" || fmt.Sprint(appt["custom_fields"]) != "map[floors:[1 2] gate_code:1234]" {
			t.Fatalf("appointment %v", appt)
		}
		task := a.create(key, "tasks", `{"title":"API follow-up","description":"Created from Developer API","status":"open","priority":"medium","due_at":"2026-07-20T10:00:00Z","assigned_to_email":"ops@example.com","lead_id":"`+lead+`"}`)
		if task["priority"] != "medium" || task["due_at"] != "2026-07-20T10:00:00Z" {
			t.Fatalf("task %v", task)
		}
		for path, n := range map[string]int{
			"/v1/appointments?job_type_id=" + jobType: 1, "/v1/appointments?lead_id=" + lead: 1, "/v1/appointments?q=APPOINT": 1,
			"/v1/tasks?priority=medium": 1, "/v1/tasks?assigned_to_email=ops@example.com": 1, "/v1/tasks?q=developer": 1,
			"/v1/clients": 0,
		} {
			if r := a.key(key, "GET", path, ""); r.Code != 200 || len(r.list()) != n {
				t.Errorf("GET %s: %d rows %d", path, r.Code, len(r.list()))
			}
		}
		// Another organization's job type is an invalid foreign key.
		otherOrg := a.newOrg(true)
		var theirs string
		_ = a.db.QueryRow(a.dialect.Rebind("SELECT id FROM job_types WHERE organization_id = ? LIMIT 1"), otherOrg).Scan(&theirs)
		if r := a.key(key, "PATCH", "/v1/appointments/"+appt["id"].(string), `{"job_type_id":"`+theirs+`"}`); r.Code != 400 || errText(r) != "Invalid foreign key" {
			t.Errorf("foreign job type: %d %s", r.Code, r.Raw)
		}
	})
}

func TestConcurrentCreatesAreGapFree(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		_, key, _ := a.tenant()
		var wg sync.WaitGroup
		codes := make(chan int, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.key(key, "POST", "/v1/leads", `{"first_name":"c"}`)
				codes <- r.Code
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != 201 {
				t.Fatalf("concurrent create: %d", c)
			}
		}
		seen := map[float64]bool{}
		for _, l := range a.key(key, "GET", "/v1/leads?limit=100", "").list() {
			seen[l["lead_number"].(float64)] = true
		}
		for i := 1; i <= 20; i++ {
			if !seen[float64(i)] {
				t.Fatalf("lead_number %d missing: %v", i, seen)
			}
		}
	})
}

func TestSchema(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	org := a.newOrg(true)
	key, _ := a.newKey(org, `{"name":"k","scopes":["tasks:read"]}`)
	r := a.key(key, "GET", "/v1/schema", "")
	if r.Code != 200 {
		t.Fatalf("%d %s", r.Code, r.Raw)
	}
	d := r.data()
	res, _ := d["resources"].([]any)
	limits, _ := d["limits"].(map[string]any)
	if d["version"] != "v1" || len(res) != 4 || limits["max_limit"] != float64(1000) || limits["max_offset"] != float64(10000) ||
		limits["audit_log_size"] != float64(50) || limits["default_rate_limit_per_minute"] != float64(60) || limits["max_rate_limit_per_minute"] != float64(300) {
		t.Fatalf("schema %s", r.Raw)
	}
	if !strings.Contains(r.Raw, `"leads:create"`) || !strings.Contains(r.Raw, `"lead_number"`) || !strings.Contains(r.Raw, `"source_call_sid"`) {
		t.Errorf("schema misses scopes/filters/protected fields: %s", r.Raw)
	}
}

func TestNothingAnswersPlainText(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	// a.key fails the test on any non-JSON answer or missing request id.
	for _, p := range []string{"/v1", "/v1/", "/v1//leads", "/v1/leads/", "/v1/leads/../clients", "/v1/leads/a/b", "/v1/schema/x", "/", "/nothing"} {
		for _, m := range []string{"GET", "POST", "OPTIONS", "DELETE", "PATCH"} {
			if r := a.key(key, m, p, ""); r.Code < 400 {
				t.Errorf("%s %s → %d", m, p, r.Code)
			}
		}
	}
}
