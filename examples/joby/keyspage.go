package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"io"
	"net/http"
	"sync"
	"time"

	"gatehouse.dev/keysui"
	"gatehouse.dev/stack"
)

// demoSessions is the example's stand-in for a host's own login: single-use
// links valid 10 minutes (printed by -demo) open a session cookie for one
// organization. A real service uses its existing session instead.
type demoSessions struct {
	mu       sync.Mutex
	links    map[string]demoLink // login token → organization
	sessions map[string]string   // session id → organization
	now      func() time.Time
}

type demoLink struct {
	org     string
	expires time.Time
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// link returns a new single-use login path for org.
func (s *demoSessions) link(org string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := randomID()
	s.links[t] = demoLink{org, s.now().Add(10 * time.Minute)}
	return "/demo-login?token=" + t
}

// login consumes a link and sets the session cookie.
func (s *demoSessions) login(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	l, ok := s.links[r.URL.Query().Get("token")]
	delete(s.links, r.URL.Query().Get("token"))
	id := randomID()
	if ok && s.now().Before(l.expires) {
		s.sessions[id] = l.org
	}
	s.mu.Unlock()
	if !ok || s.now().After(l.expires) {
		http.Error(w, "This login link is used or expired.", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "joby_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, keysPath+"/", http.StatusSeeOther)
}

// viewer is keysui's Options.Viewer: the session's organization.
func (s *demoSessions) viewer(r *http.Request) (org, actor string, ok bool) {
	c, err := r.Cookie("joby_session")
	if err != nil {
		return "", "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, ok = s.sessions[c.Value]
	return org, "demo admin", ok
}

const keysPath = "/settings/developer/api-keys"

// settingsChrome is the host's settings menu around the page: the API Keys
// tab only while the organization's module is on (keysui.Handler.Visible).
var settingsChrome = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Page.Title}} · Settings · Joby</title>{{.Page.Head}}</head>
<body><nav aria-label="Settings"><a href="#">Profile</a> · <a href="#">Team</a>{{if .Tab}} · <a id="api-keys-tab" href="{{.Path}}/">Developer → API Keys</a>{{end}}</nav>
<main class="keysui">{{.Page.Body}}</main></body></html>`))

// mountKeysPage builds the API keys page (keysui) behind the demo login.
func (a *app) mountKeysPage(ctx context.Context, o stack.Options) error {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	sessions := &demoSessions{links: map[string]demoLink{}, sessions: map[string]string{}, now: now}
	var page *keysui.Handler
	tokens, err := keysui.NewSQLTokens(a.DB())
	if err != nil {
		return err
	}
	page, err = keysui.New(keysui.Options{
		Admin: a.AdminAPI(), Tokens: tokens, Prefix: keysPath, Viewer: sessions.viewer, Logger: o.Logger,
		Title:        "API Keys",
		DisabledText: "API access is gated: the Developer API module is off by default. To request access, contact Joby Support with your organization name and a one-line description of what you want to integrate.",
		Layout: func(w io.Writer, r *http.Request, p keysui.Page) error {
			org, _, _ := sessions.viewer(r)
			tab, _ := page.Visible(r.Context(), org)
			return settingsChrome.Execute(w, map[string]any{"Page": p, "Tab": tab, "Path": keysPath})
		},
	})
	if err != nil {
		return err
	}
	a.keysPage, a.sessions = page, sessions
	return tokens.Migrate(ctx)
}
