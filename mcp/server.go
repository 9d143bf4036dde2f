package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"gatehouse.dev"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
)

// Defaults of [Options].
const (
	DefaultName      = "gatehouse"
	DefaultSchemaURI = "gatehouse://schema"
	// MsgOriginNotAllowed is the 403 answer to a request whose Origin
	// header is not in Options.AllowedOrigins.
	MsgOriginNotAllowed = "Origin not allowed"
	// RoutePrefix starts the audit route of a tool call: "MCP create_lead".
	RoutePrefix = "MCP "
)

// Options configures [New]. Only Registry is required.
type Options struct {
	// Registry whose resources become tools. Required.
	Registry *resource.Registry
	// Name of the server in the MCP handshake: default "gatehouse".
	Name string
	// Version of the server in the handshake: default the registry's
	// version.
	Version string
	// Instructions for clients (the initialize result's instructions).
	Instructions string
	// Limiter counts each tools/call as one request of the caller's key
	// against the key's per-minute limit, in the bucket REST requests of
	// the key use (give the limiter the REST rate-limit middleware uses).
	// A call over the limit is a tool error with retry_after. Nil means
	// tool calls are not limited.
	Limiter ratelimit.Limiter
	// Audit receives one entry per tools/call, with the route
	// "MCP <tool>" and the status the REST operation would have answered.
	// Nil means tool calls are not audited.
	Audit audit.Sink
	// ClientIP extracts the client address of audit entries; the zero
	// value uses RemoteAddr.
	ClientIP gatehouse.ClientIP
	// AllowedOrigins are the values of the Origin header accepted (exact
	// matches such as "https://app.example.com"). Requests without Origin
	// (every non-browser client) are served; a request with any other
	// Origin is 403 "Origin not allowed", against DNS rebinding and
	// cross-site use of a browser's network position.
	AllowedOrigins []string
	// WhoAmI serves the whoami tool: default auth.WhoAmI with the
	// registry's version and Keys. Its JSON answer's data is the tool's
	// result.
	WhoAmI http.Handler
	// Keys looks the caller's key up for the default whoami tool
	// (auth.WhoAmIOptions.Store; typically the key cache the
	// authentication middleware uses). Required unless WhoAmI is set.
	Keys auth.Store
	// SchemaURI is the URI of the /schema document as an MCP resource:
	// default "gatehouse://schema".
	SchemaURI string
	// MaxBodyBytes bounds request bodies: default 1 MiB.
	MaxBodyBytes int64
	// Logger receives internal errors; nil means slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now (audit times and durations).
	Now func() time.Time
}

// Server is the MCP server of a registry, an http.Handler serving the
// Streamable HTTP transport statelessly. Mount it behind the request id and
// authentication middlewares of the REST API (see the package
// documentation). It is safe for concurrent use.
type Server struct {
	reg       *resource.Registry
	srv       *sdk.Server
	h         http.Handler
	tools     map[string]tool
	limiter   ratelimit.Limiter
	sink      audit.Sink
	clientIP  gatehouse.ClientIP
	origins   []string
	whoami    http.Handler
	schemaURI string
	logger    *slog.Logger
	now       func() time.Time
}

// tool is what the server knows of a registered tool.
type tool struct {
	scope scope.Scope // "" for whoami
}

// New builds the server: for each resource the tools list_<name>,
// get_<singular>, create_<singular> and update_<singular>, the whoami
// tool and the /schema resource. A tool name that is not a valid MCP tool
// name or is taken twice is an error.
func New(opts Options) (s *Server, err error) {
	if opts.Registry == nil {
		return nil, errors.New("mcp: Options.Registry is required")
	}
	reg := opts.Registry
	s = &Server{
		reg: reg, tools: map[string]tool{}, limiter: opts.Limiter, sink: opts.Audit,
		clientIP: opts.ClientIP, origins: slices.Clone(opts.AllowedOrigins), whoami: opts.WhoAmI,
		schemaURI: opts.SchemaURI, logger: opts.Logger, now: opts.Now,
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.Version == "" {
		opts.Version = reg.Version()
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.whoami == nil {
		if opts.Keys == nil {
			return nil, errors.New("mcp: Options.Keys is required without Options.WhoAmI")
		}
		if s.whoami, err = auth.WhoAmI(auth.WhoAmIOptions{Version: reg.Version(), Store: opts.Keys, Logger: s.logger}); err != nil {
			return nil, err
		}
	}
	if s.schemaURI == "" {
		s.schemaURI = DefaultSchemaURI
	}
	if u, err := url.Parse(s.schemaURI); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("mcp: Options.SchemaURI %q is not an absolute URI", s.schemaURI)
	}
	for _, o := range s.origins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || o != u.Scheme+"://"+u.Host {
			return nil, fmt.Errorf("mcp: Options.AllowedOrigins: %q is not an origin like https://app.example.com", o)
		}
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = gatehouse.DefaultMaxBodyBytes
	}
	schemas, err := openapi.Schemas(reg)
	if err != nil {
		return nil, err
	}
	// The SDK logs every stateless request's session at info level: only
	// its warnings and errors reach the host's log.
	sdkLogger := slog.New(minLevel{Handler: s.logger.Handler(), min: slog.LevelWarn})
	s.srv = sdk.NewServer(&sdk.Implementation{Name: opts.Name, Version: opts.Version}, &sdk.ServerOptions{
		Instructions: opts.Instructions,
		Logger:       sdkLogger,
		Capabilities: &sdk.ServerCapabilities{},
		// What a key may list depends on the key: never shared, never
		// assumed fresh.
		SetCacheable: func(_ context.Context, _ sdk.Request, c *sdk.Cacheable) {
			c.TTLMs, c.CacheScope = 0, "private"
		},
	})
	// The SDK panics on a tool it cannot register; New returns errors.
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("mcp: %v", p)
		}
	}()
	resources := reg.Resources()
	for i, rs := range schemas {
		if err := s.addResource(resources[i], rs); err != nil {
			return nil, err
		}
	}
	if err := s.add(whoamiTool(), tool{}, s.callWhoAmI); err != nil {
		return nil, err
	}
	s.srv.AddResource(&sdk.Resource{
		URI: s.schemaURI, Name: "schema", Title: "API schema",
		Description: "The API's resources, fields, filters, scopes and limits (GET " + reg.Prefix() + "/schema).",
		MIMEType:    "application/json",
	}, s.readSchema)
	s.srv.AddReceivingMiddleware(s.middleware)
	s.h = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.srv }, &sdk.StreamableHTTPOptions{
		Stateless: true, JSONResponse: true, Logger: sdkLogger, MaxRequestBodyBytes: maxBody,
	})
	return s, nil
}

// Tools returns the names of every registered tool, sorted.
func (s *Server) Tools() []string {
	out := make([]string, 0, len(s.tools))
	for name := range s.tools {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// add registers a tool.
func (s *Server) add(t *sdk.Tool, info tool, h func(context.Context, json.RawMessage) (any, int, error)) error {
	if !validToolName(t.Name) {
		return fmt.Errorf("mcp: %q is not a valid tool name (1 to 128 of A-Z a-z 0-9 _ - .)", t.Name)
	}
	if _, dup := s.tools[t.Name]; dup {
		return fmt.Errorf("mcp: tool %s is defined twice", t.Name)
	}
	s.tools[t.Name] = info
	s.srv.AddTool(t, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		if info.scope != "" {
			if err := scope.Check(ctx, info.scope); err != nil {
				return s.toolError(ctx, err), nil
			}
		}
		var args json.RawMessage
		if req.Params != nil {
			args = req.Params.Arguments
		}
		out, status, err := h(ctx, args)
		if err != nil {
			return s.toolError(ctx, err), nil
		}
		b, err := json.Marshal(out)
		if err != nil {
			return s.toolError(ctx, fmt.Errorf("mcp: %s: encode: %w", t.Name, err)), nil
		}
		setStatus(ctx, status)
		return &sdk.CallToolResult{
			StructuredContent: json.RawMessage(b),
			Content:           []sdk.Content{&sdk.TextContent{Text: string(b)}},
		}, nil
	})
	return nil
}

func validToolName(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ServeHTTP serves one JSON-RPC message of the Streamable HTTP transport
// (POST). Other methods are 405 (the server is stateless: no GET stream, no
// session to DELETE); an Origin not allowed is 403; a request without an
// authenticated caller is a 500 whose cause is logged (the authentication
// middleware is missing), never served.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !slices.Contains(s.origins, o) {
		gatehouse.WriteError(w, r, s.logger, errOrigin)
		return
	}
	if r.Method != http.MethodPost {
		gatehouse.WriteError(w, r, s.logger, errMethod)
		return
	}
	if _, ok := callerOf(r.Context()); !ok {
		gatehouse.WriteError(w, r, s.logger, errors.New("mcp: no authenticated caller in the request context (is the authentication middleware in front of the MCP server?)"))
		return
	}
	gatehouse.SetRoute(r.Context(), strings.TrimSpace(RoutePrefix))
	ctx := context.WithValue(r.Context(), requestKey{}, &requestInfo{
		method: r.Method, path: r.URL.Path, userAgent: r.UserAgent(), ip: s.clientIP.Of(r),
	})
	s.h.ServeHTTP(w, r.WithContext(ctx))
}

var (
	errOrigin = gatehouse.NewError(http.StatusForbidden, MsgOriginNotAllowed)
	errMethod = gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).WithHeader("Allow", http.MethodPost)
)

// requestInfo is what an audit entry needs of the HTTP request.
type requestInfo struct {
	method, path, userAgent, ip string
}

type requestKey struct{}

// callState carries the REST-equivalent status of a tool call from its
// handler to the middleware that audits it.
type callState struct{ status int }

type callStateKey struct{}

func setStatus(ctx context.Context, status int) {
	if st, ok := ctx.Value(callStateKey{}).(*callState); ok {
		st.status = status
	}
}

// caller is who calls, as the authentication middleware recorded it.
type caller struct {
	keyID, orgID, bucket string
	limit                int
}

// callerOf returns the authenticated caller of ctx (gatehouse.Caller).
func callerOf(ctx context.Context) (caller, bool) {
	c, ok := gatehouse.CallerFromContext(ctx)
	if !ok {
		return caller{}, false
	}
	return caller{keyID: c.KeyID, orgID: c.OrgID, bucket: c.LineageID(), limit: c.RateLimitPerMinute}, true
}

// middleware filters tools/list by the caller's scopes and counts each
// tools/call of a known tool as one request of the key: rate limit first
// (as in the REST chain), then the call, then one audit entry.
func (s *Server) middleware(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		switch method {
		case "tools/list":
			res, err := next(ctx, method, req)
			if lr, ok := res.(*sdk.ListToolsResult); ok && err == nil {
				lr.Tools = slices.DeleteFunc(lr.Tools, func(t *sdk.Tool) bool { return !s.allowed(ctx, t.Name) })
			}
			return res, err
		case "tools/call":
		default:
			return next(ctx, method, req)
		}
		p, _ := req.GetParams().(*sdk.CallToolParamsRaw)
		c, ok := callerOf(ctx)
		info, _ := ctx.Value(requestKey{}).(*requestInfo)
		if p == nil || !ok || info == nil {
			return next(ctx, method, req)
		}
		if _, known := s.tools[p.Name]; !known {
			return next(ctx, method, req) // the SDK answers unknown tools
		}
		route := RoutePrefix + p.Name
		gatehouse.SetRoute(ctx, route)
		start := s.now()
		st := &callState{status: http.StatusOK}
		ctx = context.WithValue(ctx, callStateKey{}, st)
		var (
			res sdk.Result
			err error
		)
		if denied := s.limit(ctx, c); denied != nil {
			res = s.toolError(ctx, denied)
		} else {
			res, err = next(ctx, method, req)
			if err != nil {
				st.status = http.StatusBadRequest
			}
		}
		s.record(ctx, c, info, route, start, st.status)
		return res, err
	}
}

// allowed reports whether the caller's scopes allow the tool.
func (s *Server) allowed(ctx context.Context, name string) bool {
	t, ok := s.tools[name]
	if !ok || t.scope == "" {
		return ok
	}
	set, ok := scope.FromContext(ctx)
	return ok && set.Has(t.scope)
}

var errLimited = gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited)

// limit takes one request from the key's bucket; it returns the 429 error
// when the bucket is empty. A limiter failure lets the call through (as the
// REST middleware does by default) unless it is a *gatehouse.Error.
func (s *Server) limit(ctx context.Context, c caller) error {
	if s.limiter == nil {
		return nil
	}
	res, err := s.limiter.Allow(ctx, c.bucket, ratelimit.PerMinute(c.limit))
	if err != nil {
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			return err
		}
		s.logger.WarnContext(ctx, "mcp: limiter failed, call allowed", "request_id", gatehouse.RequestIDFromContext(ctx), "err", err)
		return nil
	}
	if res.Allowed {
		return nil
	}
	return errLimited.With("retry_after", ratelimit.RetryAfterSeconds(res.RetryAfter))
}

// record writes the audit entry of one tool call.
func (s *Server) record(ctx context.Context, c caller, info *requestInfo, route string, start time.Time, status int) {
	if s.sink == nil {
		return
	}
	d := s.now().Sub(start)
	if d < 0 {
		d = 0
	}
	s.sink.Record(audit.Entry{
		Time:           start.UTC().Truncate(time.Millisecond),
		RequestID:      gatehouse.RequestIDFromContext(ctx),
		KeyID:          c.keyID,
		OrganizationID: c.orgID,
		Method:         info.method,
		Route:          route,
		Path:           info.path,
		Status:         status,
		DurationMS:     d.Milliseconds(),
		IP:             info.ip,
		UserAgent:      truncate(info.userAgent, audit.DefaultMaxUserAgent),
	})
}

func truncate(s string, n int) string {
	for len(s) > n {
		s = s[:n]
		for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
			s = s[:len(s)-1]
		}
		if len(s) > 0 && s[len(s)-1] >= 0xC0 {
			s = s[:len(s)-1]
		}
	}
	return s
}

// toolError turns err into a tool result with isError and the REST API's
// error body ({"error", …details, "request_id"}) as its text: a
// *gatehouse.Error as it is, anything else logged and answered "Internal
// server error".
func (s *Server) toolError(ctx context.Context, err error) *sdk.CallToolResult {
	var e *gatehouse.Error
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		e = gatehouse.NewError(gatehouse.StatusClientClosedRequest, gatehouse.MsgClientClosedRequest)
	case !errors.As(err, &e) || e.Status < 400:
		s.logger.ErrorContext(ctx, "mcp: internal error", "request_id", gatehouse.RequestIDFromContext(ctx), "err", err)
		e = gatehouse.NewError(http.StatusInternalServerError, gatehouse.MsgInternal)
	}
	setStatus(ctx, e.Status)
	body := make(map[string]any, len(e.Extra)+2)
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Msg
	body["request_id"] = gatehouse.RequestIDFromContext(ctx)
	b, mErr := json.Marshal(body)
	if mErr != nil {
		b = []byte(`{"error":"` + gatehouse.MsgInternal + `"}`)
	}
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: string(b)}}}
}

// objectArgs decodes tool arguments: a JSON object (absent or null means
// empty). Anything else is 400 "Invalid JSON body".
func objectArgs(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]json.RawMessage{}, nil
	}
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidJSON)
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

// idArg removes and returns the "id" argument: a string, or an integer
// (resources with integer ids) in its decimal form.
func idArg(args map[string]json.RawMessage) (string, error) {
	raw, ok := args["id"]
	delete(args, "id")
	raw = bytes.TrimSpace(raw)
	var id string
	switch {
	case !ok || len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", gatehouse.InvalidFields(gatehouse.FieldError{Field: "id", Message: "is required"})
	case raw[0] == '"':
		if json.Unmarshal(raw, &id) != nil {
			id = ""
		}
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			id = n.String()
		}
	}
	if id == "" {
		return "", gatehouse.InvalidFields(gatehouse.FieldError{Field: "id", Message: "must be a string or an integer"})
	}
	return id, nil
}

// listQuery turns list arguments into the query string REST would get, so
// that they are parsed and refused exactly as REST parameters are.
func listQuery(args map[string]json.RawMessage) (string, error) {
	v := url.Values{}
	var bad []gatehouse.FieldError
	for k, raw := range args {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		case raw[0] == '"':
			var str string
			if json.Unmarshal(raw, &str) != nil {
				bad = append(bad, gatehouse.FieldError{Field: k, Message: "must be a string, number or boolean"})
				continue
			}
			v.Set(k, str)
		case raw[0] == '{' || raw[0] == '[':
			bad = append(bad, gatehouse.FieldError{Field: k, Message: "must be a string, number or boolean"})
		default:
			v.Set(k, string(raw)) // a number, true or false, as written
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b gatehouse.FieldError) int { return strings.Compare(a.Field, b.Field) })
		fields := make([]string, len(bad))
		for i, d := range bad {
			fields[i] = d.Field
		}
		return "", gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidQuery).With("fields", fields).With("details", bad)
	}
	return v.Encode(), nil
}

// inProcess runs an http.Handler of the API (whoami, /schema) for ctx and
// returns its JSON answer.
func inProcess(ctx context.Context, h http.Handler, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, err
	}
	w := &bufferWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.body.Bytes(), nil
}

// bufferWriter is an http.ResponseWriter in memory.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }
func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *bufferWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// answerError rebuilds the *gatehouse.Error of a JSON error answer.
func answerError(status int, body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("mcp: answer %d is not JSON: %w", status, err)
	}
	msg, _ := m["error"].(string)
	e := gatehouse.NewError(status, msg)
	for k, v := range m {
		if k != "error" && k != "request_id" {
			e = e.With(k, v)
		}
	}
	return e
}

func (s *Server) callWhoAmI(ctx context.Context, _ json.RawMessage) (any, int, error) {
	status, body, err := inProcess(ctx, s.whoami, s.reg.Prefix()+"/whoami")
	if err != nil {
		return nil, 0, err
	}
	if status != http.StatusOK {
		return nil, 0, answerError(status, body)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Data) == 0 {
		return nil, 0, fmt.Errorf("mcp: whoami answer: %s", body)
	}
	return env.Data, http.StatusOK, nil
}

func (s *Server) readSchema(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	status, body, err := inProcess(ctx, s.reg, s.reg.Prefix()+"/schema")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("mcp: schema: %d %s", status, bytes.TrimSpace(body))
	}
	uri := s.schemaURI
	if req != nil && req.Params != nil {
		uri = req.Params.URI
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{
		URI: uri, MIMEType: "application/json", Text: string(bytes.TrimSpace(body)),
	}}}, nil
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
