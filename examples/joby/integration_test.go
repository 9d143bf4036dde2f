package main

import (
	"strings"
	"testing"
)

// The features no-code platforms rely on: Idempotency-Key, cursors,
// whoami and the version header.

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, a *api) {
		_, key, _ := a.tenant()
		body := `{"first_name":"Retry","last_name":"Me"}`
		first := a.do("POST", "/v1/leads", body, "Authorization", "Bearer "+key, "Idempotency-Key", "zap-123")
		again := a.do("POST", "/v1/leads", body, "X-Joby-API-Key", key, "Idempotency-Key", "zap-123")
		if first.Code != 201 || again.Code != 201 || first.Raw != again.Raw || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %s / %d %s %v", first.Code, first.Raw, again.Code, again.Raw, again.Header)
		}
		if first.Header.Get("X-Request-Id") == again.Header.Get("X-Request-Id") || again.Header.Get("Location") != first.Header.Get("Location") {
			t.Fatalf("headers of the replay: %v", again.Header)
		}
		if r := a.key(key, "GET", "/v1/leads", ""); len(r.list()) != 1 {
			t.Fatalf("replay created another lead: %d", len(r.list()))
		}
		diff := a.do("POST", "/v1/leads", `{"first_name":"Other"}`, "Authorization", "Bearer "+key, "Idempotency-Key", "zap-123")
		if diff.Code != 422 || errText(diff) != "Idempotency key reused with a different request" {
			t.Fatalf("different body: %d %s", diff.Code, diff.Raw)
		}
		bad := a.do("POST", "/v1/leads", body, "Authorization", "Bearer "+key, "Idempotency-Key", strings.Repeat("x", 256))
		if bad.Code != 400 || !strings.Contains(bad.Raw, "Idempotency-Key") {
			t.Fatalf("bad key: %d %s", bad.Code, bad.Raw)
		}
		// Another API key may use the same value independently.
		_, other, _ := a.tenant()
		if r := a.do("POST", "/v1/leads", body, "Authorization", "Bearer "+other, "Idempotency-Key", "zap-123"); r.Code != 201 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("other key: %d %v", r.Code, r.Header)
		}
	})
}

func TestCursorPagination(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	_, key, _ := a.tenant()
	for range 7 {
		a.create(key, "tasks", `{"title":"t","status":"open"}`)
	}
	a.create(key, "tasks", `{"title":"t","status":"done"}`)
	var ids []string
	path := "/v1/tasks?status=open&limit=3"
	for {
		r := a.key(key, "GET", path, "")
		if r.Code != 200 || r.Body["offset"] != float64(0) {
			t.Fatalf("page: %d %s", r.Code, r.Raw)
		}
		for _, row := range r.list() {
			ids = append(ids, row["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if r.Body["has_more"] != (next != "") {
			t.Fatalf("has_more %v with next_cursor %q", r.Body["has_more"], next)
		}
		if next == "" {
			break
		}
		if link := r.Header.Get("Link"); !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "cursor=") {
			t.Fatalf("Link %q", link)
		}
		path = "/v1/tasks?status=open&limit=3&cursor=" + next
	}
	if len(ids) != 7 {
		t.Fatalf("walked %d open tasks, want 7", len(ids))
	}
	// A cursor is bound to its filters and its organization.
	r := a.key(key, "GET", "/v1/tasks?status=open&limit=3", "")
	next := r.Body["next_cursor"].(string)
	for _, p := range []string{"/v1/tasks?status=done&cursor=" + next, "/v1/tasks?cursor=" + next + "x", "/v1/tasks?offset=3&cursor=" + next} {
		if r := a.key(key, "GET", p, ""); r.Code != 400 {
			t.Errorf("GET %s: %d %s", p, r.Code, r.Raw)
		}
	}
	_, other, _ := a.tenant()
	if r := a.key(other, "GET", "/v1/tasks?status=open&cursor="+next, ""); r.Code != 400 || errText(r) != "Invalid cursor" {
		t.Errorf("cursor of another organization: %d %s", r.Code, r.Raw)
	}
}

func TestWhoAmIAndVersion(t *testing.T) {
	t.Parallel()
	a := sqliteAPI(t)
	org, key, keyID := a.tenant()
	for _, h := range [][]string{{"Authorization", "Bearer " + key}, {"X-Joby-API-Key", key}} {
		r := a.do("GET", "/v1/whoami", "", h...)
		d := r.data()
		if r.Code != 200 || d["organization_id"] != org || d["key_id"] != keyID || d["api_version"] != "v1" || strings.Contains(r.Raw, key) {
			t.Fatalf("whoami with %s: %d %s", h[0], r.Code, r.Raw)
		}
		if r.Header.Get("Joby-Version") != "v1" {
			t.Fatalf("version header %q", r.Header.Get("Joby-Version"))
		}
	}
	// Every answer carries the version, errors included.
	for _, r := range []resp{a.do("GET", "/v1/leads", ""), a.key(key, "DELETE", "/v1/leads", ""), a.key(key, "GET", "/v1/schema", "")} {
		if r.Header.Get("Joby-Version") != "v1" {
			t.Errorf("%d without version header", r.Code)
		}
	}
	if r := a.do("GET", "/v1/leads", "", "Authorization", "Bearer "+key, "Joby-Version", "v1"); r.Code != 200 {
		t.Errorf("pinned v1: %d", r.Code)
	}
	r := a.do("GET", "/v1/leads", "", "Authorization", "Bearer "+key, "Joby-Version", "2019-01-01")
	if r.Code != 400 || !strings.Contains(r.Raw, `"v1"`) {
		t.Errorf("unsupported version: %d %s", r.Code, r.Raw)
	}
	if s := a.key(key, "GET", "/v1/schema", ""); !strings.Contains(s.Raw, `"cursor"`) {
		t.Errorf("schema does not list cursor: %s", s.Raw)
	}
}
