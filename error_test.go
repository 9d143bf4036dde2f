package gatehouse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse.dev"
	"gatehouse.dev/internal/uuid"
)

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	gatehouse.RequestID(h).ServeHTTP(rec, req)
	return rec
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	cause := errors.New("pq: relation secret_table does not exist at db.internal:5432")
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   map[string]any
		wantHeader map[string]string
	}{
		{"plain error is a 500 without the cause", cause, 500, map[string]any{"error": "Internal server error"}, nil},
		{"wrapped plain error", fmt.Errorf("x: %w", cause), 500, map[string]any{"error": "Internal server error"}, nil},
		{"catalogue error", gatehouse.NewError(404, gatehouse.MsgNotFound), 404, map[string]any{"error": "Not found"}, nil},
		{"extra fields", gatehouse.NewError(403, gatehouse.MsgMissingScope).With("required_scope", "leads:create"), 403,
			map[string]any{"error": "Missing scope", "required_scope": "leads:create"}, nil},
		{"headers", gatehouse.NewError(429, gatehouse.MsgRateLimited).WithHeader("Retry-After", "3"), 429,
			map[string]any{"error": "Rate limit exceeded"}, map[string]string{"Retry-After": "3"}},
		{"wrapped *Error keeps its status, hides its cause", fmt.Errorf("ctx: %w", gatehouse.NewError(400, gatehouse.MsgInvalidJSON).Wrap(cause)), 400,
			map[string]any{"error": "Invalid JSON body"}, nil},
		{"status below 400 is treated as internal", &gatehouse.Error{Status: 200, Msg: "ok?"}, 500, map[string]any{"error": "Internal server error"}, nil},
		{"fields", gatehouse.FieldsError(gatehouse.MsgUnsupportedFields, "b", "a", "b"), 400,
			map[string]any{"error": "Unsupported or protected fields", "fields": []any{"a", "b"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			rec := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gatehouse.WriteError(w, r, logger, tc.err)
			}), httptest.NewRequest("GET", "/x", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			id, _ := body["request_id"].(string)
			if !uuid.Valid(id) || rec.Header().Get("X-Request-Id") != id {
				t.Errorf("request_id %q, header %q", id, rec.Header().Get("X-Request-Id"))
			}
			delete(body, "request_id")
			if got, want := mustJSON(t, body), mustJSON(t, tc.wantBody); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			for k, v := range tc.wantHeader {
				if rec.Header().Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, rec.Header().Get(k), v)
				}
			}
			if strings.Contains(rec.Body.String(), "secret_table") {
				t.Error("cause leaked to the client")
			}
			if tc.wantStatus == 500 && errors.Is(tc.err, cause) && !strings.Contains(logs.String(), "secret_table") {
				t.Error("cause of a 500 was not logged")
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorWithDoesNotMutate(t *testing.T) {
	t.Parallel()
	base := gatehouse.NewError(403, "x").With("a", 1)
	_ = base.With("b", 2).WithHeader("H", "v")
	if len(base.Extra) != 1 || base.Header != nil {
		t.Fatalf("With mutated the receiver: %+v", base)
	}
	if gatehouse.StatusOf(fmt.Errorf("w: %w", base)) != 403 || gatehouse.StatusOf(errors.New("x")) != 500 {
		t.Fatal("StatusOf")
	}
}

func TestRequestIDIsFreshAndNotAdopted(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Request-Id", "attacker-chosen")
		var inCtx string
		rec := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inCtx = gatehouse.RequestIDFromContext(r.Context())
		}), req)
		id := rec.Header().Get("X-Request-Id")
		if id != inCtx || !uuid.Valid(id) || seen[id] {
			t.Fatalf("bad or repeated id %q (ctx %q)", id, inCtx)
		}
		seen[id] = true
	}
}

func TestRouteRecording(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/leads/{id}", func(http.ResponseWriter, *http.Request) {})
	var route string
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A middleware between RequestID and the router that replaces the
		// request (as auth does with WithContext).
		gatehouse.RecordRoute(mux).ServeHTTP(w, r.WithContext(r.Context()))
		route = gatehouse.RouteFromContext(r.Context())
	})
	serve(outer, httptest.NewRequest("GET", "/v1/leads/42", nil))
	if route != "/v1/leads/{id}" {
		t.Fatalf("route = %q", route)
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		body       string
		declared   int64
		limit      int64
		wantStatus int
	}{
		{"fits", `{"a":1}`, -1, 100, 0},
		{"declared too large", `{}`, 1000, 100, 413},
		{"streamed too large", strings.Repeat("x", 101), -1, 100, 413},
		{"default limit", strings.Repeat(" ", 1<<20+1), -1, 0, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			req.ContentLength = tc.declared
			_, err := gatehouse.ReadBody(httptest.NewRecorder(), req, tc.limit)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if gatehouse.StatusOf(err) != tc.wantStatus {
				t.Fatalf("err = %v, want status %d", err, tc.wantStatus)
			}
		})
	}
}

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		ok   bool
	}{
		{`{"a":1}`, true},
		{` {"a":{"b":[1,2]}} ` + "\n", true},
		{`{}`, true},
		{`[]`, false},
		{`null`, false},
		{`"x"`, false},
		{`{"a":1} {"b":2}`, false},
		{`{"a":1}x`, false},
		{`{"a":`, false},
		{``, false},
	}
	for _, tc := range cases {
		_, err := gatehouse.DecodeObject([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("DecodeObject(%q) err = %v, want ok=%v", tc.body, err, tc.ok)
		}
		if err != nil && gatehouse.StatusOf(err) != 400 {
			t.Errorf("DecodeObject(%q) status %d", tc.body, gatehouse.StatusOf(err))
		}
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[]`, `{"a":1}x`, `{`, ``, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}", "{\"\xc0\xaf\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := gatehouse.DecodeObject(b)
		if err != nil {
			if gatehouse.StatusOf(err) != 400 {
				t.Fatalf("status %d", gatehouse.StatusOf(err))
			}
			return
		}
		if m == nil {
			t.Fatal("nil map without error")
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}

// TestDecodeObjectInvalidUTF8 (issue 13, "client input reaches 500"):
// encoding/json turns invalid UTF-8 into U+FFFD; a body holding such bytes
// is refused as a whole instead, anywhere in it.
func TestDecodeObjectInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"{\"a\":\"\xff\"}", "{\"\xc0\xaf\":1}", "{\"a\":1}\xff", "\xef\xbb\xbf{}", "{\"a\":\"\xed\xa0\x80\"}"} {
		_, err := gatehouse.DecodeObject([]byte(body))
		var e *gatehouse.Error
		if !errors.As(err, &e) || e.Status != 400 || e.Msg != gatehouse.MsgInvalidJSON {
			t.Errorf("%q: %v", body, err)
		}
	}
	if _, err := gatehouse.DecodeObject([]byte(`{"a":"é \ud800"}`)); err != nil {
		t.Errorf("valid UTF-8 with an escaped lone surrogate: %v", err)
	}
}

func TestReadFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body, wantErr string
		fields        string
	}{
		{`{"name":"a"}`, "", ""},
		{`{"name":"a","zeta":1,"alpha":2}`, gatehouse.MsgUnsupportedFields, "[alpha zeta]"},
		{`[1]`, gatehouse.MsgInvalidJSON, ""},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		m, err := gatehouse.ReadFields(httptest.NewRecorder(), req, 0, "name", "other")
		if tc.wantErr == "" {
			if err != nil || string(m["name"]) != `"a"` {
				t.Fatalf("%s: %v %v", tc.body, m, err)
			}
			continue
		}
		var e *gatehouse.Error
		if !errors.As(err, &e) || e.Msg != tc.wantErr || (tc.fields != "" && fmt.Sprint(e.Extra["fields"]) != tc.fields) {
			t.Fatalf("%s: %v", tc.body, err)
		}
	}
}

func TestWriteErrorClientGone(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	gatehouse.WriteError(rec, req, logger, fmt.Errorf("sqlstore: lookup: %w", context.Canceled))
	if rec.Code != 499 || logs.Len() != 0 {
		t.Fatalf("cancelled request: %d, logs %q", rec.Code, logs.String())
	}
	// A cancellation of some inner operation while the request is alive is
	// an internal error.
	rec = httptest.NewRecorder()
	gatehouse.WriteError(rec, httptest.NewRequest("GET", "/", nil), logger, context.Canceled)
	if rec.Code != 500 || logs.Len() == 0 {
		t.Fatalf("inner cancellation: %d", rec.Code)
	}
}
