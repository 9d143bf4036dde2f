package resource_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse.dev"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/tenancy"
)

// Regression tests of issue 13 ("client input reaches 500", "Link header
// injection"), on SQLite and PostgreSQL.

func TestInvalidUTF8Query(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, nil)
		org := uuid.New()
		e.mustCreate("leads", `{"first_name":"Ann"}`, org)
		for _, q := range []string{"q=%FF", "status=%C0%AF", "phone=%FF", "email=%FF%FE", "q=ok%ED%A0%80", "created_after=%FF", "cursor=%FF", "id=%FF"} {
			r := e.do(http.MethodGet, "/v1/leads?"+q, "", org)
			wantError(t, r, http.StatusBadRequest, gatehouse.MsgInvalidQuery)
		}
		r := e.do(http.MethodGet, "/v1/leads?status=%C0%AF", "", org)
		if d := r.Body["details"]; !strings.Contains(r.Raw, "must be valid UTF-8") {
			t.Errorf("details %v", d)
		}
		// Valid UTF-8 still works.
		if r := e.do(http.MethodGet, "/v1/leads?q=%C3%A9", "", org); r.Code != http.StatusOK {
			t.Fatalf("valid UTF-8: %d %s", r.Code, r.Raw)
		}
	})
}

func TestInvalidUTF8Body(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, nil)
		org := uuid.New()
		lead := e.mustCreate("leads", `{"first_name":"Ann"}`, org)
		for _, body := range []string{"{\"first_name\":\"\xff\"}", "{\"notes\":\"ok \xc0\xaf\"}", "{\"first_name\":\"Ann\"}\xff"} {
			wantError(t, e.do(http.MethodPost, "/v1/leads", body, org), http.StatusBadRequest, gatehouse.MsgInvalidJSON)
			wantError(t, e.do(http.MethodPatch, "/v1/leads/"+lead["id"].(string), body, org), http.StatusBadRequest, gatehouse.MsgInvalidJSON)
		}
		if r := e.do(http.MethodGet, "/v1/leads", "", org); len(r.list()) != 1 || r.list()[0]["first_name"] != "Ann" {
			t.Fatalf("after refused bodies: %s", r.Raw)
		}
	})
}

func TestNonFiniteNumbers(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, nil)
		org := uuid.New()
		for _, tc := range []struct{ res, body, field string }{
			{"appointments", `{"appointment_date":"2026-01-01","custom_fields":{"n":1e131072}}`, "custom_fields"},
			{"appointments", `{"appointment_date":"2026-01-01","custom_fields":{"n":-1e131072}}`, "custom_fields"},
			{"appointments", `{"appointment_date":"2026-01-01","custom_fields":{"n":1e-131072}}`, "custom_fields"},
			{"appointments", `{"appointment_date":"2026-01-01","custom_fields":{"a":[1,{"b":1e400}]}}`, "custom_fields"},
			{"tasks", `{"title":"t","estimate":1e400}`, "estimate"},
			{"tasks", `{"title":"t","estimate":1e-400}`, "estimate"},
			{"tasks", `{"title":"t","points":9223372036854775808}`, "points"},
			{"tasks", `{"title":"t","points":1e3}`, "points"},
		} {
			r := e.do(http.MethodPost, "/v1/"+tc.res, tc.body, org)
			wantError(t, r, http.StatusBadRequest, gatehouse.MsgInvalidFieldValues)
			if f := r.strs("fields"); len(f) != 1 || f[0] != tc.field {
				t.Errorf("%s: fields %v", tc.body, f)
			}
		}
		// Finite values at the edges are kept.
		a := e.mustCreate("appointments", `{"appointment_date":"2026-01-01","custom_fields":{"big":1.7976931348623157e308,"small":5e-324,"int":123456789012345678901234567890,"zero":0e-999}}`, org)
		cf, _ := a["custom_fields"].(map[string]any)
		if len(cf) != 4 {
			t.Fatalf("custom_fields %v", a["custom_fields"])
		}
		task := e.mustCreate("tasks", `{"title":"t","estimate":-1.7976931348623157e308,"points":-9223372036854775808}`, org)
		if task["estimate"] != -1.7976931348623157e308 || task["points"] != float64(-9223372036854775808) {
			t.Fatalf("task %v", task)
		}
	})
}

func TestDateTimeOutOfRange(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, nil)
		org := uuid.New()
		for _, v := range []string{"9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+00:01", "0000-12-31T23:59:59Z"} {
			r := e.do(http.MethodPost, "/v1/leads", `{"scheduled_at":"`+v+`"}`, org)
			wantError(t, r, http.StatusBadRequest, gatehouse.MsgInvalidFieldValues)
			wantError(t, e.do(http.MethodGet, "/v1/tasks?due_at="+url.QueryEscape(v), "", org), http.StatusBadRequest, gatehouse.MsgInvalidQuery)
			wantError(t, e.do(http.MethodGet, "/v1/tasks?created_after="+url.QueryEscape(v), "", org), http.StatusBadRequest, gatehouse.MsgInvalidQuery)
		}
		r := e.do(http.MethodPost, "/v1/leads", `{"scheduled_at":"9999-12-31T23:59:59-23:59"}`, org)
		if !strings.Contains(r.Raw, "must be between years 0001 and 9999 in UTC") {
			t.Errorf("message: %s", r.Raw)
		}
		wantError(t, e.do(http.MethodPost, "/v1/appointments", `{"appointment_date":"0000-01-01"}`, org), http.StatusBadRequest, gatehouse.MsgInvalidFieldValues)
		// The extremes inside the range are stored and read back as sent.
		for _, v := range []string{"9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"} {
			lead := e.mustCreate("leads", `{"scheduled_at":"`+v+`"}`, org)
			got := e.do(http.MethodGet, "/v1/leads/"+lead["id"].(string), "", org)
			if got.Code != 200 || got.data()["scheduled_at"] != lead["scheduled_at"] {
				t.Fatalf("%s: created %v, read %d %s", v, lead["scheduled_at"], got.Code, got.Raw)
			}
		}
	})
}

// TestLinkHeaderInjection: a filter value that tries to close the link
// target and add another link is percent-encoded; the header parses as
// RFC 8288 into exactly one link, rel="next", to the same path.
func TestLinkHeaderInjection(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, func(o *resource.Options) { o.Keyring = testKeyring(t, "k1") })
		org := uuid.New()
		const injected = `x>;rel="prev",<https://evil.example/?`
		for range 3 {
			e.mustCreate("leads", `{"status":"x>;rel=\"prev\",<https://evil.example/?"}`, org)
		}
		r := e.do(http.MethodGet, `/v1/leads?limit=1&status=x>;rel="prev",<https://evil.example/?`, "", org)
		if r.Code != 200 || len(r.list()) != 1 {
			t.Fatalf("%d %s", r.Code, r.Raw)
		}
		links, err := parseLinkHeader(r.Header.Values("Link"))
		if err != nil {
			t.Fatalf("Link %q: %v", r.Header.Values("Link"), err)
		}
		if len(links) != 1 || links[0].params["rel"] != "next" {
			t.Fatalf("Link %q parses to %+v", r.Header.Values("Link"), links)
		}
		u, err := url.Parse(links[0].target)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/v1/leads" {
			t.Fatalf("next target %q (%v)", links[0].target, err)
		}
		q := u.Query()
		if q.Get("status") != injected || q.Get("limit") != "1" || q.Get("cursor") != r.Body["next_cursor"] {
			t.Fatalf("next query %v", q)
		}
		// Following it gives the next page of the same filter.
		if next := e.do(http.MethodGet, links[0].target, "", org); next.Code != 200 || len(next.list()) != 1 || next.list()[0]["id"] == r.list()[0]["id"] {
			t.Fatalf("next page: %d %s", next.Code, next.Raw)
		}
	})
}

type link struct {
	target string
	params map[string]string
}

// parseLinkHeader parses Link field values by RFC 8288 section 3:
// link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), values
// separated by commas, parameter values tokens or quoted strings.
func parseLinkHeader(values []string) ([]link, error) {
	var out []link
	s := strings.Join(values, ",")
	ows := func() { s = strings.TrimLeft(s, " \t") }
	for {
		ows()
		if s == "" {
			return out, nil
		}
		if s[0] == ',' {
			s = s[1:]
			continue
		}
		if s[0] != '<' {
			return nil, fmt.Errorf("want '<' at %q", s)
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return nil, fmt.Errorf("unterminated target")
		}
		l := link{target: s[1:end], params: map[string]string{}}
		if strings.ContainsAny(l.target, "<> \"") {
			return nil, fmt.Errorf("target %q holds characters a URI cannot", l.target)
		}
		s = s[end+1:]
		for {
			ows()
			if s == "" || s[0] == ',' {
				break
			}
			if s[0] != ';' {
				return nil, fmt.Errorf("want ';' at %q", s)
			}
			s = s[1:]
			ows()
			i := strings.IndexAny(s, "=;, \t")
			if i < 0 {
				i = len(s)
			}
			name := strings.ToLower(s[:i])
			s = s[i:]
			ows()
			val := ""
			if s != "" && s[0] == '=' {
				s = s[1:]
				ows()
				if s != "" && s[0] == '"' {
					j := 1
					var b strings.Builder
					for ; j < len(s) && s[j] != '"'; j++ {
						if s[j] == '\\' && j+1 < len(s) {
							j++
						}
						b.WriteByte(s[j])
					}
					if j >= len(s) {
						return nil, fmt.Errorf("unterminated quoted string")
					}
					val, s = b.String(), s[j+1:]
				} else {
					k := strings.IndexAny(s, ";, \t")
					if k < 0 {
						k = len(s)
					}
					val, s = s[:k], s[k:]
				}
			}
			if _, dup := l.params[name]; !dup { // the first occurrence counts
				l.params[name] = val
			}
		}
		out = append(out, l)
	}
}

// fuzzEnvs returns the test registry on SQLite and PostgreSQL, each with an
// organization holding one record of every resource (so PATCH and filters
// meet data).
func fuzzEnvs(f *testing.F) []fuzzEnv {
	var out []fuzzEnv
	for _, db := range []dbtest.DB{
		{Name: "sqlite", DB: dbtest.SQLite(f), Dialect: tenancy.SQLite},
		{Name: "postgres", DB: dbtest.Postgres(f), Dialect: tenancy.Postgres},
	} {
		e := newEnv(f, db, func(o *resource.Options) { o.Keyring = testKeyring(f, "k1") })
		org := uuid.New()
		ids := map[string]string{}
		lead := e.mustCreate("leads", `{"first_name":"Ann","scheduled_at":"2026-01-01T00:00:00Z"}`, org)
		ids["leads"] = lead["id"].(string)
		ids["clients"] = e.mustCreate("clients", `{"first_name":"Cy"}`, org)["id"].(string)
		ids["appointments"] = e.mustCreate("appointments", `{"appointment_date":"2026-01-01","custom_fields":{"a":1}}`, org)["id"].(string)
		ids["tasks"] = e.mustCreate("tasks", `{"title":"t","points":1,"estimate":1.5,"done":true}`, org)["id"].(string)
		out = append(out, fuzzEnv{e: e, org: org, ids: ids})
	}
	return out
}

type fuzzEnv struct {
	e   *env
	org string
	ids map[string]string
}

var fuzzResources = []string{"leads", "clients", "appointments", "tasks"}

// serveRaw sends a request whose query is raw, byte for byte, as the
// organization with every scope, and returns the status.
func (fe fuzzEnv) serveRaw(method, path, rawQuery string, body []byte) (int, string) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.URL.RawQuery = rawQuery
	ctx := gatehouse.NewRequestContext(req.Context(), "req-fuzz")
	ctx = withCaller(ctx, fe.org, fe.e.all)
	rec := httptest.NewRecorder()
	fe.e.reg.ServeHTTP(rec, req.WithContext(ctx))
	return rec.Code, rec.Body.String()
}

// FuzzListQueryHTTP drives list queries through the registry on SQLite and
// PostgreSQL: whatever the query holds, the answer is never a 5xx (issue
// 13: invalid UTF-8, out-of-range date-times and numbers used to reach the
// database and come back as 500).
func FuzzListQueryHTTP(f *testing.F) {
	for _, s := range []string{
		"q=%FF", "status=%C0%AF", "phone=%FF", "q=%ED%A0%80", "q=%25%5F%5C", "created_after=9999-12-31T23:59:59-23:59",
		"created_before=0001-01-01T00:00:00%2B01:00", "due_at=10000-01-01T00:00:00Z", "points=99999999999999999999",
		"points=-9223372036854775808", "done=TRUE", "limit=1&cursor=%FF", "cursor=" + strings.Repeat("A", 300), "id=%00",
		"lead_id=AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", "appointment_date=0000-01-01", "appointment_date=9999-12-31",
		`status=x>;rel="prev",<https://evil.example/?&limit=1`, "email=a@b.co&phone=%2B1", "q=" + strings.Repeat("é", 255),
	} {
		for i := range fuzzResources {
			f.Add(uint8(i), s)
		}
	}
	envs := fuzzEnvs(f)
	f.Fuzz(func(t *testing.T, res uint8, raw string) {
		name := fuzzResources[int(res)%len(fuzzResources)]
		for _, fe := range envs {
			if code, body := fe.serveRaw(http.MethodGet, "/v1/"+name, raw, nil); code >= 500 {
				t.Fatalf("%s: GET /v1/%s?%s: %d %s", fe.e.db.Name, name, raw, code, body)
			}
		}
	})
}

// FuzzBodyHTTP drives create and update bodies through the registry on
// SQLite and PostgreSQL: never a 5xx.
func FuzzBodyHTTP(f *testing.F) {
	for _, s := range []string{
		`{"first_name":"Ann"}`, "{\"first_name\":\"\xff\"}", `{"custom_fields":{"n":1e131072}}`, `{"custom_fields":{"n":1e-131072}}`,
		`{"scheduled_at":"9999-12-31T23:59:59-23:59"}`, `{"due_at":"0001-01-01T00:00:00+00:01"}`, `{"appointment_date":"0000-01-01"}`,
		`{"estimate":1e400}`, `{"estimate":1e-400}`, `{"points":9223372036854775808}`, `{"title":"\u0000"}`, `{"notes":"\ud800"}`,
		`{"appointment_date":"2026-01-01","appointment_time":"23:59","custom_fields":{"a":[1,{"b":null}]}}`, `{"lead_id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}`,
		`{"title":"t","done":1}`, `[]`, `{}`, `{"email":"a@b.co"}`, `{"first_name":"` + strings.Repeat("x", 300) + `"}`,
	} {
		for i := range fuzzResources {
			f.Add(uint8(i), false, []byte(s))
			f.Add(uint8(i), true, []byte(s))
		}
	}
	envs := fuzzEnvs(f)
	f.Fuzz(func(t *testing.T, res uint8, patch bool, body []byte) {
		name := fuzzResources[int(res)%len(fuzzResources)]
		for _, fe := range envs {
			method, path := http.MethodPost, "/v1/"+name
			if patch {
				method, path = http.MethodPatch, path+"/"+fe.ids[name]
			}
			if code, out := fe.serveRaw(method, path, "", body); code >= 500 {
				t.Fatalf("%s: %s %s %q: %d %s", fe.e.db.Name, method, path, body, code, out)
			}
		}
	})
}
