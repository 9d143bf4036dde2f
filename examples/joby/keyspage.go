package main

import (
	"context"
	"html/template"
	"io"
	"net/http"
	"time"

	"gatehouse.dev/keysui"
	"gatehouse.dev/stack"
)

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
	sessions, err := keysui.NewDemoLogin(keysui.DemoLoginOptions{Path: "/demo-login", Redirect: keysPath + "/", Cookie: "joby_session", Now: now})
	if err != nil {
		return err
	}
	var page *keysui.Handler
	tokens, err := keysui.NewSQLTokens(a.DB())
	if err != nil {
		return err
	}
	page, err = keysui.New(keysui.Options{
		Admin: a.AdminAPI(), Tokens: tokens, Prefix: keysPath, Viewer: sessions.Viewer, Logger: o.Logger,
		Title:        "API Keys",
		DisabledText: "API access is gated: the Developer API module is off by default. To request access, contact Joby Support with your organization name and a one-line description of what you want to integrate.",
		Layout: func(w io.Writer, r *http.Request, p keysui.Page) error {
			org, _, _ := sessions.Viewer(r)
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
