package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
)

// Example issues a key on the memory store and authenticates requests with
// it through the middleware.
func Example() {
	ctx := context.Background()
	store := auth.NewMemory(auth.MemoryOptions{})
	org, _ := store.CreateOrg(ctx, auth.Org{ID: "org-1", Name: "Acme", APIEnabled: true})

	// Issue a key: only its hash is stored; the raw key is shown once.
	raw, p, _ := auth.Generate("joby", auth.EnvLive)
	_ = store.CreateKey(ctx, auth.Key{
		ID: "key-1", OrganizationID: org.ID, Name: "CRM sync", Env: p.Env,
		PublicID: p.PublicID, Hash: auth.Hash(raw.Reveal()), DisplayPrefix: p.DisplayPrefix(),
		Scopes: scope.NewSet("leads:read"), RateLimitPerMinute: 60,
	})

	mw, err := auth.New(auth.Options{Store: store, Orgs: store, Prefix: "joby", Header: "X-Joby-API-Key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := gatehouse.RequestID(mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := gatehouse.CallerFromContext(r.Context())
		orgID, _ := tenancy.FromContext(r.Context())
		granted, _ := scope.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s of %s, scopes %v", c.KeyID, orgID, granted.Strings())
	})))

	for _, header := range []string{
		"Authorization: Bearer " + raw.Reveal(),
		"X-Joby-API-Key: " + raw.Reveal(),
		"Authorization: Bearer joby_live_mistyped",
		"",
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/leads", nil)
		if name, value, ok := strings.Cut(header, ": "); ok {
			r.Header.Set(name, value)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.String()
		if i := strings.Index(body, `,"request_id"`); i > 0 {
			body = body[:i] + "}" // the request id is random
		}
		fmt.Println(w.Code, body)
	}
	// Output:
	// 200 hello key-1 of org-1, scopes [leads:read]
	// 200 hello key-1 of org-1, scopes [leads:read]
	// 401 {"error":"Invalid API key"}
	// 401 {"error":"Missing API key"}
}

// ExampleRawKey shows that a raw key prints, logs and encodes as its display
// prefix; only Reveal returns the secret.
func ExampleRawKey() {
	raw := auth.RawKey("acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2")
	fmt.Println(raw)
	fmt.Printf("%v %q\n", raw, raw)
	logger := slog.New(slog.NewTextHandler(outWithoutTime{}, nil))
	logger.Info("issued", "key", raw)
	fmt.Println(len(raw.Reveal()))
	// Output:
	// acme_live_0123456789ABCDEF_…
	// acme_live_0123456789ABCDEF_… "acme_live_0123456789ABCDEF_…"
	// level=INFO msg=issued key=acme_live_0123456789ABCDEF_…
	// 65
}

// outWithoutTime prints log lines without their time attribute.
type outWithoutTime struct{}

func (outWithoutTime) Write(p []byte) (int, error) {
	s := string(p)
	if strings.HasPrefix(s, "time=") {
		if i := strings.IndexByte(s, ' '); i > 0 {
			s = s[i+1:]
		}
	}
	fmt.Print(s)
	return len(p), nil
}

// ExampleParse checks a key offline: format and checksum, no store.
func ExampleParse() {
	p, err := auth.Parse("acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEF0qA0Q2")
	fmt.Println(p.Prefix, p.Env, p.PublicID, err)
	_, err = auth.Parse("acme_live_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyzABCDEX0qA0Q2")
	fmt.Println(err)
	// Output:
	// acme live 0123456789ABCDEF <nil>
	// auth: malformed API key: checksum mismatch
}
