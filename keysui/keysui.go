package keysui

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/admin"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Defaults of [Options].
const (
	// DefaultDisabledText is the explanation shown while the organization's
	// API module is off, unless Options.DisabledText is set.
	DefaultDisabledText = "API access is not enabled for this organization."
	// DefaultExpiringSoon is how close to its expiry a key is shown as
	// "expiring soon".
	DefaultExpiringSoon = 7 * 24 * time.Hour
	// DefaultShownOnceText is the warning beside a key shown once, unless
	// Options.ShownOnceText is set.
	DefaultShownOnceText = "Your raw API key is displayed once at creation and never again. Only a SHA-256 hash is stored; " +
		"it cannot be recovered. Copy it to your password manager or secrets vault immediately. If you lose it, revoke it and create a new one."
	// DefaultTokenTTL is how long a create form can be sent.
	DefaultTokenTTL = time.Hour
	// DefaultCSP is the Content-Security-Policy of every page: no inline
	// script or style, nothing from elsewhere, framed only by the host.
	DefaultCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)

// Page is what a [Options.Layout] wraps in the host's chrome.
type Page struct {
	// Title is the page's title (plain text).
	Title string
	// Head holds the page's stylesheet and script tags, for the host's
	// <head>.
	Head template.HTML
	// Body is the page's content, escaped and ready to insert.
	Body template.HTML
}

// Options configures [New]. Admin, Viewer and Tokens are required; every
// other zero field means the default in its comment.
type Options struct {
	// Admin issues, rotates and revokes keys with the admin API's
	// validation, limits, scopes and actions trail. Required.
	Admin *admin.Handler
	// Viewer says who is looking, from the host's own session: the
	// organization whose keys are shown and the actor recorded in the
	// actions trail. !ok answers 404 (the page does not exist for that
	// visitor). Required.
	Viewer func(r *http.Request) (org, actor string, ok bool)
	// Tokens keeps the one-time form tokens (SQLTokens across pods).
	// Required.
	Tokens FormTokens
	// Prefix is the path the handler is mounted at, e.g.
	// "/settings/developer/api-keys"; links and forms are made under it.
	// Default "" (mounted at the root).
	Prefix string
	// Layout wraps every page in the host's chrome. Nil: a minimal HTML
	// document with the page's own stylesheet.
	Layout func(w io.Writer, r *http.Request, p Page) error
	// Title is the heading of the page: default "API keys".
	Title string
	// DisabledText explains why the page is empty while the organization's
	// API module is off (for example how to ask for access): default
	// [DefaultDisabledText].
	DisabledText string
	// ShownOnceText is the warning shown with a new key: default
	// [DefaultShownOnceText].
	ShownOnceText string
	// ExpiringSoon: default [DefaultExpiringSoon].
	ExpiringSoon time.Duration
	// TokenTTL bounds how long a create form can be sent: default
	// [DefaultTokenTTL].
	TokenTTL time.Duration
	// CSP replaces [DefaultCSP] (a host whose layout loads its own assets
	// may need to allow them).
	CSP string
	// TrustedOrigins may send forms besides the page's own origin (for
	// http.CrossOriginProtection), e.g. "https://app.example.com".
	TrustedOrigins []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Handler serves the API keys page. Create it with [New].
type Handler struct {
	opts   Options
	tmpl   *template.Template
	mux    *http.ServeMux
	csrf   *http.CrossOriginProtection
	grid   ScopeGrid
	assets http.Handler
}

// New validates opts and returns the page handler.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Admin == nil:
		return nil, errors.New("keysui: Options.Admin is required")
	case opts.Viewer == nil:
		return nil, errors.New("keysui: Options.Viewer is required")
	case opts.Tokens == nil:
		return nil, errors.New("keysui: Options.Tokens is required")
	}
	if opts.Prefix != "" && (!strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/")) {
		return nil, fmt.Errorf("keysui: Options.Prefix %q must start and not end with /", opts.Prefix)
	}
	if opts.Title == "" {
		opts.Title = "API keys"
	}
	if opts.DisabledText == "" {
		opts.DisabledText = DefaultDisabledText
	}
	if opts.ShownOnceText == "" {
		opts.ShownOnceText = DefaultShownOnceText
	}
	if opts.ExpiringSoon <= 0 {
		opts.ExpiringSoon = DefaultExpiringSoon
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.CSP == "" {
		opts.CSP = DefaultCSP
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("keysui: templates: %w", err)
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("keysui: assets: %w", err)
	}
	h := &Handler{opts: opts, tmpl: tmpl, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection(),
		grid: newScopeGrid(opts.Admin.Scopes()), assets: http.FileServerFS(sub)}
	for _, o := range opts.TrustedOrigins {
		if err := h.csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("keysui: Options.TrustedOrigins: %w", err)
		}
	}
	h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.message(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site and was refused.")
	}))
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	p := h.opts.Prefix
	h.mux.HandleFunc("GET "+p+"/{$}", h.list)
	h.mux.HandleFunc("GET "+p+"/new", h.newForm)
	h.mux.HandleFunc("POST "+p+"/new", h.create)
	h.mux.HandleFunc("GET "+p+"/keys/{id}", h.detail)
	h.mux.HandleFunc("GET "+p+"/keys/{id}/revoke", h.revokeForm)
	h.mux.HandleFunc("POST "+p+"/keys/{id}/revoke", h.revoke)
	h.mux.HandleFunc("GET "+p+"/keys/{id}/rotate", h.rotateForm)
	h.mux.HandleFunc("POST "+p+"/keys/{id}/rotate", h.rotate)
	h.mux.Handle("GET "+p+"/assets/", http.StripPrefix(p+"/assets", h.assets))
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.message(w, r, http.StatusNotFound, "Not found", "There is no such page.")
	})
}

// ServeHTTP sets the security headers, refuses cross-origin writes and
// routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.opts.CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "SAMEORIGIN")
	h.csrf.Handler(gatehouse.RecordRoute(h.mux)).ServeHTTP(w, r)
}

// Visible reports whether the host's menu should show the API keys tab for
// the organization: its API module is on. An error means "hide" as well.
func (h *Handler) Visible(ctx context.Context, orgID string) (bool, error) {
	return h.opts.Admin.Orgs().APIEnabled(ctx, orgID)
}

// VisibleTo is [Handler.Visible] for the organization of the request's
// viewer (Options.Viewer): false without one, and on an error.
func (h *Handler) VisibleTo(r *http.Request) bool {
	org, _, ok := h.opts.Viewer(r)
	if !ok || org == "" {
		return false
	}
	on, err := h.Visible(r.Context(), org)
	return err == nil && on
}

// Path returns the URL of the page made of parts under the prefix
// (Path() is the list), for templates and the host's menu.
func (h *Handler) Path(parts ...string) string {
	return h.opts.Prefix + "/" + strings.Join(parts, "/")
}

// Title returns the page's heading.
func (h *Handler) Title() string { return h.opts.Title }

// ShownOnceText returns the warning shown with a new key.
func (h *Handler) ShownOnceText() string { return h.opts.ShownOnceText }

// Grid returns the permissions grid of the create form.
func (h *Handler) Grid() ScopeGrid { return h.grid }

// render writes the named template inside the layout. Pages are never
// cached: some show a key once, and all are per session.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, title, name string, data any) {
	var body bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&body, name, data); err != nil {
		h.internal(w, r, fmt.Errorf("keysui: render %s: %w", name, err))
		return
	}
	page := Page{Title: title, Head: h.head(), Body: template.HTML(body.String())}
	var out bytes.Buffer
	var err error
	if h.opts.Layout != nil {
		err = h.opts.Layout(&out, r, page)
	} else {
		err = h.tmpl.ExecuteTemplate(&out, "document", page)
	}
	if err != nil {
		h.internal(w, r, fmt.Errorf("keysui: layout: %w", err))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(out.Bytes())
}

// head returns the stylesheet and script tags of the page.
func (h *Handler) head() template.HTML {
	var b bytes.Buffer
	_ = h.tmpl.ExecuteTemplate(&b, "head", h.opts.Prefix)
	return template.HTML(b.String())
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.ErrorContext(r.Context(), "keysui: internal error", "err", err,
		"request_id", gatehouse.RequestIDFromContext(r.Context()))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "Internal server error\n")
}

type messageData struct {
	H               *Handler
	Heading, Detail string
}

// message renders a page with a heading and one paragraph.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, heading, detail string) {
	h.render(w, r, status, heading, "message", messageData{H: h, Heading: heading, Detail: detail})
}

// newToken returns 32 random bytes, base64url.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
