package audittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
)

// ChainResult is what [RunChain] leaves for the caller's own checks.
type ChainResult struct {
	// OrgID and KeyID name the key the requests authenticated with.
	OrgID, KeyID string
	// Secrets are strings that must appear nowhere in the backend's storage
	// or logs: the raw keys sent (valid and invalid), a query value, a body,
	// a cookie.
	Secrets []string
}

type chainPrincipal struct{}

// RunChain sends requests through request id → a fake authentication →
// the audit middleware (Sink: an [audit.Recorder] writing to l, logging to
// logger) → router, then closes the Recorder and checks what l holds:
// requests with a valid key in either header (or both) are recorded,
// including 4xx answers; a 429 is counted in the key's [audit.Refused]
// instead of being kept among its entries; a failed authentication is not
// recorded; entries
// come newest first with the route pattern, concrete path and status; no
// entry holds a secret. The caller then scans its storage (database file,
// Redis dump, logs) for ChainResult.Secrets.
func RunChain(t *testing.T, l Log, logger *slog.Logger) ChainResult {
	t.Helper()
	res := ChainResult{OrgID: "org-" + randHex(4), KeyID: "key-" + randHex(4)}
	valid := "joby_live_" + randHex(8) + "_" + randHex(16)
	invalid := "joby_live_" + randHex(8) + "_" + randHex(16)
	querySecret, bodySecret, cookieSecret := "qs"+randHex(8), "bs"+randHex(8), "cs"+randHex(8)
	res.Secrets = []string{valid, invalid, querySecret, bodySecret, cookieSecret}

	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			alt := r.Header.Get("X-Joby-API-Key")
			if (bearer != valid && alt != valid) || (bearer != "" && alt != "" && bearer != alt) {
				gatehouse.WriteError(w, r, logger, gatehouse.NewError(http.StatusUnauthorized, gatehouse.MsgInvalidKey))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), chainPrincipal{}, true)))
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/leads", func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteData(w, r, http.StatusOK, []any{})
	})
	mux.HandleFunc("GET /v1/leads/{id}", func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteError(w, r, logger, gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound))
	})
	mux.HandleFunc("POST /v1/leads", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 64 {
			gatehouse.WriteError(w, r, logger, gatehouse.NewError(http.StatusRequestEntityTooLarge, gatehouse.MsgBodyTooLarge))
			return
		}
		gatehouse.WriteError(w, r, logger, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidFieldValues))
	})
	mux.HandleFunc("GET /v1/limited", func(w http.ResponseWriter, r *http.Request) {
		gatehouse.WriteError(w, r, logger, gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited).WithHeader("Retry-After", "1"))
	})

	rec, err := audit.NewRecorder(audit.RecorderOptions{Writer: l, Logger: logger, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- rec.Run(context.Background()) }()
	var mu sync.Mutex
	now := time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC)
	mw, err := audit.New(audit.Options{
		Key: func(r *http.Request) (string, string, bool) {
			ok, _ := r.Context().Value(chainPrincipal{}).(bool)
			return res.KeyID, res.OrgID, ok
		},
		Sink: rec,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Millisecond)
			return now
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := gatehouse.RequestID(auth(mw.Wrap(gatehouse.RecordRoute(mux))))

	type want struct {
		method, path, route string
		status              int
	}
	var wants []want
	send := func(method, target, body, bearer, alt string, expect int, recorded bool) {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		if alt != "" {
			r.Header.Set("X-Joby-API-Key", alt)
		}
		r.Header.Set("Cookie", "session="+cookieSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != expect {
			t.Fatalf("%s %s: status %d, want %d", method, target, w.Code, expect)
		}
		if recorded {
			p, _, _ := strings.Cut(target, "?")
			route := ""
			switch {
			case method == "DELETE":
				// ServeMux's own 405 matches no pattern.
			case p == "/v1/leads" || p == "/v1/limited":
				route = p
			case strings.HasPrefix(p, "/v1/leads/"):
				route = "/v1/leads/{id}"
			}
			wants = append(wants, want{method, p, route, expect})
		}
	}
	send("GET", "/v1/leads?api_key="+querySecret+"&q=x", "", valid, "", 200, true)
	send("GET", "/v1/leads/123", "", "", valid, 404, true)
	send("POST", "/v1/leads", `{"note":"`+bodySecret+`"}`, valid, valid, 400, true)
	send("POST", "/v1/leads", strings.Repeat("x", 100)+bodySecret, valid, "", 413, true)
	send("DELETE", "/v1/leads/123", "", valid, "", 405, true)
	send("GET", "/v1/limited", "", valid, "", 429, false)
	send("GET", "/v1/limited", "", valid, "", 429, false)
	send("GET", "/v1/leads", "", invalid, "", 401, false)
	send("GET", "/v1/leads", "", valid, invalid, 401, false)
	send("GET", "/v1/leads?"+querySecret, "", "", "", 401, false)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("Recorder.Close: %v", err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Recorder.Run: %v", err)
	}
	got, err := l.Latest(ctx, res.OrgID, res.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	refused, err := l.Refused(ctx, res.OrgID, res.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if refused.Count != 2 || refused.LastAt == nil || !refused.LastAt.Equal(now.Add(-time.Millisecond).Truncate(time.Millisecond)) {
		t.Errorf("refused %+v, want 2 (the two 429s, the last at %v)", refused, now.Add(-time.Millisecond))
	}
	if len(got) != len(wants) {
		t.Fatalf("%d entries recorded, want %d: %+v", len(got), len(wants), got)
	}
	for i, e := range got {
		w := wants[len(wants)-1-i] // newest first
		if (want{e.Method, e.Path, e.Route, e.Status}) != w {
			t.Errorf("entry %d: %s %s %q %d, want %+v", i, e.Method, e.Path, e.Route, e.Status, w)
		}
		if len(e.RequestID) != 36 || e.IP != "192.0.2.1" {
			t.Errorf("entry %d: request id %q ip %q", i, e.RequestID, e.IP)
		}
		all := strings.Join([]string{e.RequestID, e.KeyID, e.OrganizationID, e.Method, e.Route, e.Path, e.IP, e.UserAgent}, "\n")
		for _, s := range res.Secrets {
			if strings.Contains(all, s) {
				t.Errorf("entry %d holds the secret %q", i, s)
			}
		}
	}
	return res
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
