package telemetry_test

import (
	"context"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/audit/sqlaudit"
	"gatehouse.dev/auth"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/scope"
	"gatehouse.dev/telemetry"
)

// TestNoSecrets wires every decorator into a real service (SQL key store
// and audit log on a traced SQLite database, key cache, Redis limiter and
// failed-auth throttle with the Redis hook, logs through LogHandler at
// debug level), sends valid, revoked, mistyped and forged keys in both
// headers, and scans every exported span (names, attributes, events,
// statuses), every metric data point's attributes and every log line for
// the raw keys and their secrets: none may appear.
func TestNoSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSDK(t)
	logs := &syncBuffer{}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tel := s.instruments(t, telemetry.Options{OrgAttribute: true, Logger: logger})

	db, dialect := openTraced(t, tel, "sqlite")
	store, err := sqlstore.New(sqlstore.Options{DB: db, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	auditStore, err := sqlaudit.New(sqlaudit.Options{DB: db, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	if err := auditStore.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateOrg(ctx, auth.Org{ID: "11111111-1111-4111-8111-111111111111", Name: "A", APIEnabled: true}); err != nil {
		t.Fatal(err)
	}
	var raws []string
	newKey := func(name string) auth.Key {
		raw, k, err := auth.NewKey("joby", auth.EnvLive, auth.Key{
			OrganizationID: "11111111-1111-4111-8111-111111111111", Name: name,
			Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw.Reveal())
		return k
	}
	newKey("valid")
	revoked := newKey("revoked")
	if _, err := store.RevokeKey(ctx, revoked.OrganizationID, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A forgery: a well-formed key, checksum included, for the valid key's
	// public id with another secret; and the valid key mistyped.
	valid := raws[0]
	forged := forge(t, valid)
	mistyped := valid[:len(valid)-1] + flip(valid[len(valid)-1])
	raws = append(raws, forged, mistyped)

	cache, err := keycache.New(keycache.Options{Store: tel.Store(store), Orgs: tel.Orgs(store)})
	if err != nil {
		t.Fatal(err)
	}
	client := dbtest.Redis(t)
	client.AddHook(tel.RedisHook())
	rl, err := redislimit.New(redislimit.Options{Client: client, Prefix: dbtest.Prefix(t), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.ObserveLimiter(rl.Stats); err != nil {
		t.Fatal(err)
	}
	throttle, err := ratelimit.NewFailedAuth(ratelimit.FailedAuthOptions{Limiter: tel.Limiter(rl), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Options{
		Store: cache, Orgs: cache, Prefix: "joby", Header: "X-Joby-API-Key", Logger: logger, Throttle: throttle,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := audit.NewRecorder(audit.RecorderOptions{Writer: tel.AuditWriter(auditStore), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tel.ObserveAudit(rec.Stats); err != nil {
		t.Fatal(err)
	}
	auditMW, err := audit.New(audit.Options{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := ratelimit.New(ratelimit.Options{Limiter: tel.Limiter(rl), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/leads", scope.Require("leads:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "listing leads", "key", auth.RawKey(r.Header.Get("X-Joby-API-Key")))
		gatehouse.WriteData(w, r, http.StatusOK, []string{})
	})))
	h := gatehouse.RequestID(tel.Middleware(authn.Wrap(auditMW.Wrap(limiter.Wrap(gatehouse.RecordRoute(mux))))))

	send := func(headers map[string]string) int {
		r := httptest.NewRequest("GET", "/v1/leads", nil)
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	statuses := map[int]int{}
	for _, raw := range raws {
		for _, headers := range []map[string]string{
			{"Authorization": "Bearer " + raw},
			{"X-Joby-API-Key": raw},
			{"Authorization": "Bearer " + raw, "X-Joby-API-Key": raw},
			{"Authorization": "Bearer " + raw, "X-Joby-API-Key": raws[0]},
			{"Authorization": "Basic " + raw},
		} {
			statuses[send(headers)]++
		}
	}
	if statuses[200] == 0 || statuses[401] == 0 || statuses[429] == 0 {
		t.Fatalf("statuses %v: want some 200, 401 and 429", statuses)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rec.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if len(s.ended("gatehouse.audit.write")) == 0 || len(s.ended("gatehouse.auth.lookup_key")) == 0 {
		t.Fatal("the run made no audit or key lookup span")
	}

	exported := s.exportedText(t)
	logged := logs.String()
	if !strings.Contains(logged, "listing leads") {
		t.Fatal("the handler's log line is missing")
	}
	// The scan sees what it should: the public ids (not secret) are on
	// the lookup spans.
	pub, err := auth.Parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(exported, pub.PublicID) {
		t.Fatal("the valid key's public id is not in the exported spans: the scan misses them")
	}
	for _, raw := range raws {
		secret := raw[strings.LastIndexByte(raw, '_')+1:]
		for what, text := range map[string]string{"exported telemetry": exported, "logs": logged} {
			if strings.Contains(text, raw) || strings.Contains(text, secret) {
				t.Errorf("a raw key or its secret is in the %s", what)
			}
		}
	}
}

// forge returns a key with raw's prefix, env and public id, another
// secret and a valid checksum.
func forge(t *testing.T, raw string) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	head := raw[:strings.LastIndexByte(raw, '_')+1] + strings.Repeat("Z", 32)
	c := crc32.ChecksumIEEE([]byte(head))
	var d [6]byte
	for i := 5; i >= 0; i-- {
		d[i] = base62[c%62]
		c /= 62
	}
	k := head + string(d[:])
	if _, err := auth.Parse(k); err != nil {
		t.Fatalf("forged key does not parse: %v", err)
	}
	return k
}

// flip returns a different base62 character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
