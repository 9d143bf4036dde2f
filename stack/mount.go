package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/keysui"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource/openapi"
)

// mount is a handler of [Stack.Handle].
type mount struct {
	path string // exact, or a subtree when it ends in "/"
	h    http.Handler
}

func (m mount) matches(p string) bool {
	if strings.HasSuffix(m.path, "/") {
		return strings.HasPrefix(p, m.path)
	}
	return p == m.path
}

// Handle serves h at path in [Stack.Handler] and [Stack.Public], before
// everything else: the exact path, or the subtree below it when path ends
// in "/". It is for what the host serves beside the API on the same
// listener (an MCP server, a settings page, a document): h is served as
// given, so wrap it in [Stack.Authenticate], [Stack.Protect] or
// gatehouse.RequestID as it needs. Call Handle before serving. It panics
// on a path that does not start with "/" or is already handled, like
// http.ServeMux.Handle.
func (s *Stack) Handle(path string, h http.Handler) {
	if !strings.HasPrefix(path, "/") || h == nil {
		panic(fmt.Sprintf("stack: Handle(%q): the path must start with / and the handler be non-nil", path))
	}
	for _, m := range s.mounts {
		if m.path == path {
			panic(fmt.Sprintf("stack: Handle(%q): already handled", path))
		}
	}
	s.mounts = append(s.mounts, mount{path: path, h: h})
}

// mounted returns the handler of [Stack.Handle] for path p, or nil.
func (s *Stack) mounted(p string) http.Handler {
	for _, m := range s.mounts {
		if m.matches(p) {
			return m.h
		}
	}
	return nil
}

// MeteredLimiter is [Stack.Limiter] with gatehouse's rate-limit metrics:
// the limiter of the public chain, for a handler that limits its own units
// of work (an MCP server limits each tool call), so that its decisions are
// counted with the REST API's.
func (s *Stack) MeteredLimiter() ratelimit.Limiter { return s.metered }

// Actions returns a handler serving the ChatGPT Actions rendition of the
// OpenAPI document (openapi.NewActions) without an API key, with request
// ids and JSON errors; serve it with [Stack.Handle]. The rendition is
// built from the document as it is now.
func (s *Stack) Actions(o openapi.ActionsOptions) (http.Handler, error) {
	doc, err := openapi.NewActions(s.OpenAPIOptions(), o)
	if err != nil {
		return nil, err
	}
	h := openapi.NewHandler(openapi.HandlerOptions{Public: true, Logger: s.logger})
	h.Set(doc)
	return gatehouse.RequestID(h), nil
}

// DemoLoginPath is where [Stack.KeysPage] serves the demo login.
const DemoLoginPath = "/demo-login"

// KeysPage builds the API keys page (package keysui) on the admin API and
// serves it under o.Prefix with [Stack.Handle]. Admin, Logger and Now are
// set by the stack; nil Tokens means keysui.SQLTokens in the stack's
// database (migrated here). o.Prefix is required. It needs the admin API
// (Options.AdminToken).
//
// o.Viewer is the host's session. For development and demos it may be
// nil: keysui's demo login then stands in, at [DemoLoginPath] with the
// cookie "<KeyPrefix>_session"; its sessions come only from the
// single-use links [Stack.DemoLogin] makes, which the host prints
// ([Stack.PrintDemo] does).
func (s *Stack) KeysPage(ctx context.Context, o keysui.Options) (*keysui.Handler, error) {
	if s.adminAPI == nil {
		return nil, errors.New("stack: KeysPage needs the admin API (Options.AdminToken)")
	}
	if o.Prefix == "" {
		return nil, errors.New("stack: KeysPage: keysui.Options.Prefix is required")
	}
	prefix := strings.TrimSuffix(o.Prefix, "/")
	if o.Viewer == nil {
		login, err := keysui.NewDemoLogin(keysui.DemoLoginOptions{Path: DemoLoginPath, Redirect: prefix + "/", Cookie: s.opts.KeyPrefix + "_session", Now: s.now})
		if err != nil {
			return nil, err
		}
		s.Handle(DemoLoginPath, login)
		s.demoLogin, s.keysPrefix, o.Viewer = login, prefix, login.Viewer
	}
	if o.Tokens == nil {
		tokens, err := keysui.NewSQLTokens(s.db, s.dialect)
		if err != nil {
			return nil, err
		}
		if err := tokens.Migrate(ctx); err != nil {
			return nil, err
		}
		o.Tokens = tokens
	}
	o.Admin, o.Logger, o.Now = s.adminAPI, s.logger, s.now
	page, err := keysui.New(o)
	if err != nil {
		return nil, err
	}
	s.Handle(prefix+"/", page)
	return page, nil
}

// DemoLogin returns the demo login of [Stack.KeysPage], or nil.
func (s *Stack) DemoLogin() *keysui.DemoLogin { return s.demoLogin }

// Listen opens the listeners of [Stack.Serve]: one on addr serving
// [Stack.Handler], or, when adminAddr is set, [Stack.Public] on addr and
// [Stack.Admin] on adminAddr. Each address is logged. Port 0 picks a free
// port (see the listeners' Addr).
func (s *Stack) Listen(addr, adminAddr string) ([]Listener, error) {
	ls := []Listener{{Handler: s.Handler()}}
	addrs := []string{addr}
	if adminAddr != "" {
		ls = []Listener{{Handler: s.Public()}, {Handler: s.Admin()}}
		addrs = append(addrs, adminAddr)
	}
	for i, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range ls[:i] {
				_ = l.Close()
			}
			return nil, err
		}
		ls[i].Listener = l
		s.logger.Info("stack: listening", "addr", l.Addr().String())
	}
	return ls, nil
}

// Demo is what [Stack.PrintDemo] prints.
type Demo struct {
	// Name of the API, e.g. "Acme".
	Name string
	// Listeners from [Stack.Listen]: the first serves the API, the last
	// the admin API.
	Listeners []Listener
	// Database names the database (a file path; never a URL with a
	// password).
	Database string
	// OrgID is the demo organization, created named OrgName (default
	// "Demo Organization") if missing; its key is named KeyName (default
	// "Demo key"). Required.
	OrgID, OrgName, KeyName string
	// Notes returns further paragraphs, printed after the rest, each after
	// an empty line, given the API's address (host:port) and the key.
	Notes func(addr string, key auth.RawKey) []string
}

// PrintDemo issues a key for the demo organization ([Stack.DemoKey]) and
// prints what a development server shows at startup: the API's address,
// the key (once), a curl command listing the first resource, the admin
// API's address and token, a login link to the keys page (with the demo
// login of [Stack.KeysPage]), then d.Notes. It prints secrets: for
// development only. On an error it closes the listeners, so that the
// caller can return it.
func (s *Stack) PrintDemo(ctx context.Context, w io.Writer, d Demo) (err error) {
	defer func() {
		if err != nil {
			for _, l := range d.Listeners {
				_ = l.Close()
			}
		}
	}()
	if len(d.Listeners) == 0 || d.OrgID == "" {
		return errors.New("stack: PrintDemo needs the listeners and the organization")
	}
	if d.OrgName == "" {
		d.OrgName = "Demo Organization"
	}
	if d.KeyName == "" {
		d.KeyName = "Demo key"
	}
	raw, err := s.DemoKey(ctx, d.OrgID, d.OrgName, d.KeyName)
	if err != nil {
		return err
	}
	api, adm := d.Listeners[0].Addr().String(), d.Listeners[len(d.Listeners)-1].Addr().String()
	key := raw.Reveal()
	var b strings.Builder
	fmt.Fprintf(&b, "%s API on http://%s%s (database %s)\n\n", d.Name, api, s.opts.Prefix, d.Database)
	fmt.Fprintf(&b, "Demo API key (shown once; only its hash is stored):\n  %s\n\n", key)
	if res := s.reg.Resources(); len(res) > 0 {
		fmt.Fprintf(&b, "Try:\n  curl -s \"http://%s%s/%s?limit=10\" -H \"Authorization: Bearer %s\" -H \"Accept: application/json\"\n\n", api, s.opts.Prefix, res[0].Name, key)
	}
	fmt.Fprintf(&b, "Admin API on http://%s%s with:\n  Authorization: Bearer %s\n", adm, s.opts.AdminPrefix, s.opts.AdminToken)
	if s.demoLogin != nil {
		fmt.Fprintf(&b, "\nAPI keys page on http://%s%s/ — log in once with (single use, valid 10 minutes):\n  http://%s%s\n", api, s.keysPrefix, api, s.demoLogin.Link(d.OrgID))
	}
	if d.Notes != nil {
		for _, n := range d.Notes(api, raw) {
			fmt.Fprintf(&b, "\n%s\n", n)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}
