package keysui

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// DemoLogin stands in for a host's own login in examples and local
// development: [DemoLogin.Link] makes a single-use login link for one
// organization (valid ten minutes by default), its handler turns the link
// into a session cookie and redirects, and [DemoLogin.Viewer] is the page's
// [Options.Viewer]. Links and sessions live in memory, in one process only.
// A real service uses its existing session instead; this is the one place
// gatehouse puts a secret in a URL, and it is meant for development only.
type DemoLogin struct {
	opts     DemoLoginOptions
	mu       sync.Mutex
	links    map[string]demoLink // token → organization, until used
	sessions map[string]string   // session id → organization
}

// DemoLoginOptions configures [NewDemoLogin].
type DemoLoginOptions struct {
	// Path is where the login handler is mounted; its links point there.
	// Required.
	Path string
	// Redirect is where a successful login goes (the page's prefix).
	// Required.
	Redirect string
	// Actor is the name recorded in the actions trail. "" means
	// "demo admin".
	Actor string
	// Cookie names the session cookie. "" means "gatehouse_demo_session".
	Cookie string
	// TTL is how long a link stays valid. Zero means ten minutes.
	TTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

type demoLink struct {
	org     string
	expires time.Time
}

// NewDemoLogin returns a demo login, or an error naming a missing option.
func NewDemoLogin(o DemoLoginOptions) (*DemoLogin, error) {
	if o.Path == "" || o.Redirect == "" {
		return nil, errors.New("keysui: DemoLoginOptions.Path and Redirect are required")
	}
	if o.Actor == "" {
		o.Actor = "demo admin"
	}
	if o.Cookie == "" {
		o.Cookie = "gatehouse_demo_session"
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &DemoLogin{opts: o, links: map[string]demoLink{}, sessions: map[string]string{}}, nil
}

// Link returns a new single-use login path (with its token) for org.
func (d *DemoLogin) Link(org string) string {
	t := newToken()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.links[t] = demoLink{org, d.opts.Now().Add(d.opts.TTL)}
	return d.opts.Path + "?token=" + t
}

// ServeHTTP consumes a login link: a valid one sets the session cookie and
// redirects to Redirect; a used, unknown or expired one is 403.
func (d *DemoLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	d.mu.Lock()
	l, ok := d.links[tok]
	delete(d.links, tok)
	ok = ok && d.opts.Now().Before(l.expires)
	id := newToken()
	if ok {
		d.sessions[id] = l.org
	}
	d.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !ok {
		http.Error(w, "This login link is used or expired.", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: d.opts.Cookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, d.opts.Redirect, http.StatusSeeOther)
}

// Viewer is [Options.Viewer]: the organization of the request's session.
func (d *DemoLogin) Viewer(r *http.Request) (org, actor string, ok bool) {
	c, err := r.Cookie(d.opts.Cookie)
	if err != nil {
		return "", "", false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	org, ok = d.sessions[c.Value]
	return org, d.opts.Actor, ok
}
