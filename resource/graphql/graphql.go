package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"gatehouse.dev"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/resource"
)

// Defaults of [Options].
const (
	// DefaultMaxTokens bounds the tokens of a query document.
	DefaultMaxTokens = 15000
	// DefaultMaxDepth bounds the nesting of selections (introspection
	// fields are bounded by the MaxIntrospectionDepth rule instead).
	DefaultMaxDepth = 10
	// DefaultMaxAliases bounds the aliases of a query, after fragment
	// expansion.
	DefaultMaxAliases = 50
	// DefaultMaxFields bounds the fields of a query after fragment
	// expansion, so that no document makes the analysis itself expensive.
	DefaultMaxFields = 5000
	// MutationCost is the cost of each mutation root field.
	MutationCost = 10
)

// Throttle is the state of the caller's points bucket after a [Charge].
type Throttle struct {
	// Allowed reports whether the cost was taken. A refused charge takes
	// nothing.
	Allowed bool
	// Maximum is the bucket's capacity, in points: a query costing more
	// is refused before execution, whatever the bucket holds.
	Maximum int
	// Available is how many points the bucket holds now.
	Available int
	// RestoreRate is how many points the bucket regains per second.
	RestoreRate float64
	// RetryAfter is how long until the cost would be allowed; zero when
	// Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Charge takes cost points from the bucket of the caller of ctx, before a
// query is executed. It must take nothing when it refuses (Allowed false),
// and must refuse a cost above Maximum. An error means no decision could
// be made: the query is answered 500 without being executed. A
// rate-limiter with an AllowN fits behind it.
type Charge func(ctx context.Context, cost int) (Throttle, error)

// Options configures [New].
type Options struct {
	// Registry serves the data. Required.
	Registry *resource.Registry
	// Charge takes each query's requested cost from the caller's points
	// bucket. Nil means no cost limit: the cost is still computed and
	// reported, without throttleStatus.
	Charge Charge
	// MaxTokens bounds the tokens of a query document; zero means
	// [DefaultMaxTokens].
	MaxTokens int
	// MaxDepth bounds the nesting of selections; zero means
	// [DefaultMaxDepth].
	MaxDepth int
	// MaxAliases bounds the aliases after fragment expansion; zero means
	// [DefaultMaxAliases].
	MaxAliases int
	// MaxBodyBytes bounds request bodies; zero means
	// gatehouse.DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Route, when set, is recorded as the request's route pattern
	// (gatehouse.SetRoute) for the audit log and metrics, e.g.
	// "/v1/graphql".
	Route string
	// RootFields, when set, receives the names of the root fields of each
	// operation about to run (schema field names, never aliases or other
	// client-chosen text; in document order, without repeats). The
	// handler always records them with gatehouse.SetOperations, for the
	// audit entry's operations.
	RootFields func(ctx context.Context, names []string)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Handler serves GraphQL over HTTP from a registry: POST only, a JSON body
// {query, variables, operationName}. Create it with [New].
type Handler struct {
	reg     *resource.Registry
	m       *model
	rules   *rules.Rules
	charge  Charge
	route   string
	fields  func(ctx context.Context, names []string)
	logger  *slog.Logger
	tokens  int
	depth   int
	aliases int
	body    int64
	limits  resource.Limits
	// docs caches validated documents by their text: a document is never
	// changed once validated, so requests share it.
	mu   sync.Mutex
	docs map[string]*ast.QueryDocument
	// buffers are response buffers reused across requests.
	buffers sync.Pool
}

// maxCachedDocs bounds the document cache; a full cache drops an
// arbitrary entry. Only documents of at most maxCachedDocLen bytes are
// kept, so the cache holds at most 4 MiB of query text whatever clients
// send.
const (
	maxCachedDocs   = 256
	maxCachedDocLen = 16 << 10
)

// document parses and validates query, or returns the cached result.
func (h *Handler) document(query string) (*ast.QueryDocument, *Response) {
	h.mu.Lock()
	doc := h.docs[query]
	h.mu.Unlock()
	if doc != nil {
		return doc, nil
	}
	doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Name: "query", Input: query}, h.tokens)
	if perr != nil {
		var ge *gqlerror.Error
		if !errors.As(perr, &ge) {
			ge = gqlerror.Wrap(perr)
		}
		return nil, requestError("GRAPHQL_PARSE_FAILED", ge)
	}
	if errs := validator.ValidateWithRules(h.m.schema, doc, h.rules); len(errs) > 0 {
		return nil, requestError("GRAPHQL_VALIDATION_FAILED", errs...)
	}
	if len(query) > maxCachedDocLen {
		return doc, nil
	}
	h.mu.Lock()
	if h.docs == nil {
		h.docs = make(map[string]*ast.QueryDocument, maxCachedDocs)
	}
	if len(h.docs) >= maxCachedDocs {
		for k := range h.docs {
			delete(h.docs, k)
			break
		}
	}
	h.docs[query] = doc
	h.mu.Unlock()
	return doc, nil
}

// New builds the schema of the registry's resources and returns its
// handler. Name clashes (between resources, or with the built-in types and
// root fields) are errors naming both sides.
func New(opts Options) (*Handler, error) {
	if opts.Registry == nil {
		return nil, errors.New("graphql: Options.Registry is required")
	}
	m, err := build(opts.Registry.Resources())
	if err != nil {
		return nil, err
	}
	h := &Handler{
		reg:     opts.Registry,
		m:       m,
		rules:   validationRules(),
		charge:  opts.Charge,
		route:   opts.Route,
		fields:  opts.RootFields,
		logger:  opts.Logger,
		tokens:  opts.MaxTokens,
		depth:   opts.MaxDepth,
		aliases: opts.MaxAliases,
		body:    opts.MaxBodyBytes,
		limits:  opts.Registry.Limits(),
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	h.buffers.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	if h.tokens <= 0 {
		h.tokens = DefaultMaxTokens
	}
	if h.depth <= 0 {
		h.depth = DefaultMaxDepth
	}
	if h.aliases <= 0 {
		h.aliases = DefaultMaxAliases
	}
	if h.body <= 0 {
		h.body = gatehouse.DefaultMaxBodyBytes
	}
	return h, nil
}

// validationRules is the explicit rule set of the specification's
// validation section, plus gqlparser's bound on introspection nesting.
func validationRules() *rules.Rules {
	return rules.NewRules(
		rules.FieldsOnCorrectTypeRule,
		rules.FragmentsOnCompositeTypesRule,
		rules.KnownArgumentNamesRule,
		rules.KnownDirectivesRule,
		rules.KnownFragmentNamesRule,
		rules.KnownRootTypeRule,
		rules.KnownTypeNamesRule,
		rules.LoneAnonymousOperationRule,
		rules.MaxIntrospectionDepth,
		rules.NoFragmentCyclesRule,
		rules.NoUndefinedVariablesRule,
		rules.NoUnusedFragmentsRule,
		rules.NoUnusedVariablesRule,
		rules.OverlappingFieldsCanBeMergedRule,
		rules.PossibleFragmentSpreadsRule,
		rules.ProvidedRequiredArgumentsRule,
		rules.ScalarLeafsRule,
		rules.SingleFieldSubscriptionsRule,
		rules.UniqueArgumentNamesRule,
		rules.UniqueDirectivesPerLocationRule,
		rules.UniqueFragmentNamesRule,
		rules.UniqueInputFieldNamesRule,
		rules.UniqueOperationNamesRule,
		rules.UniqueVariableNamesRule,
		rules.ValuesOfCorrectTypeRule,
		rules.VariablesAreInputTypesRule,
		rules.VariablesInAllowedPositionRule,
	)
}

// SDL returns the schema in the GraphQL schema definition language.
func (h *Handler) SDL() string { return h.m.sdl }

// Request is one GraphQL request.
type Request struct {
	// Query is the document.
	Query string `json:"query"`
	// Variables are the values of the operation's variables, as decoded
	// from JSON (numbers as json.Number or float64).
	Variables map[string]any `json:"variables"`
	// OperationName picks the operation of a document with several.
	OperationName string `json:"operationName"`
}

// Location is a line and column in the query document (from 1).
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is one GraphQL error.
type Error struct {
	// Message describes the error.
	Message string `json:"message"`
	// Locations in the document, for parse and validation errors and
	// field errors.
	Locations []Location `json:"locations,omitempty"`
	// Path of response keys (and list indices) to the field in error.
	Path []any `json:"path,omitempty"`
	// Extensions carry a code ("FORBIDDEN", "NOT_FOUND",
	// "BAD_USER_INPUT", "GRAPHQL_PARSE_FAILED",
	// "GRAPHQL_VALIDATION_FAILED", "MAX_COST_EXCEEDED",
	// "MAX_DEPTH_EXCEEDED", "MAX_ALIASES_EXCEEDED", "INTERNAL") and, for
	// FORBIDDEN, required_scope.
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Response is the result of [Handler.Execute].
type Response struct {
	// Data is the result; nil when the request failed before execution
	// (see RequestError).
	Data any
	// Errors of the request or of fields.
	Errors []Error
	// Extensions: cost, and the request id when served over HTTP.
	Extensions map[string]any
	// RequestError reports that the request failed before execution
	// (parse, validation, variables, limits): the response has no data
	// member, and GraphQL-over-HTTP answers it 400 when the client
	// accepts application/graphql-response+json.
	RequestError bool
	// Throttle is the points bucket after the charge; nil without
	// Options.Charge. ServeHTTP writes it as RateLimit headers in points.
	Throttle *Throttle
}

// MarshalJSON writes the response: data (omitted for request errors),
// errors (omitted when empty), extensions.
func (r *Response) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends the response's JSON to b.
func (r *Response) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	start := len(b)
	if len(r.Errors) > 0 {
		e, err := json.Marshal(r.Errors)
		if err != nil {
			return nil, err
		}
		b = append(b, `"errors":`...)
		b = append(b, e...)
	}
	if !r.RequestError {
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, `"data":`...)
		var err error
		if b, err = appendValue(b, r.Data); err != nil {
			return nil, err
		}
	}
	if len(r.Extensions) > 0 {
		e, err := json.Marshal(r.Extensions)
		if err != nil {
			return nil, err
		}
		if len(b) > start {
			b = append(b, ',')
		}
		b = append(b, `"extensions":`...)
		b = append(b, e...)
	}
	return append(b, '}'), nil
}

// requestError returns a response of one request error.
func requestError(code string, errs ...*gqlerror.Error) *Response {
	r := &Response{RequestError: true}
	for _, e := range errs {
		if e == nil {
			continue
		}
		out := Error{Message: e.Message, Extensions: map[string]any{"code": code}}
		for _, l := range e.Locations {
			out.Locations = append(out.Locations, Location{Line: l.Line, Column: l.Column})
		}
		r.Errors = append(r.Errors, out)
	}
	if len(r.Errors) == 0 {
		r.Errors = []Error{{Message: "invalid request", Extensions: map[string]any{"code": code}}}
	}
	return r
}

// Execute runs one request for the caller of ctx: parse (bounded by
// MaxTokens), validate (the explicit rule set), coerce variables, check
// depth, aliases, scopes and cost, charge the cost, execute. Request
// problems come back in the Response; the error is a *gatehouse.Error to
// answer outside GraphQL (429 when the bucket cannot pay now, with
// Retry-After) or an internal error (a Charge that failed).
func (h *Handler) Execute(ctx context.Context, req Request) (*Response, error) {
	if req.Query == "" {
		return requestError("BAD_REQUEST", gqlerror.Errorf("the request has no query")), nil
	}
	doc, rerr := h.document(req.Query)
	if rerr != nil {
		return rerr, nil
	}
	op, err := pickOperation(doc, req.OperationName)
	if err != nil {
		return requestError("BAD_REQUEST", err), nil
	}
	if op.Operation == ast.Subscription {
		return requestError("BAD_REQUEST", gqlerror.ErrorPosf(op.Position, "subscriptions are not supported")), nil
	}
	vars, verr := coerceVariables(h.m.schema, op, req.Variables)
	if verr != nil {
		return requestError("BAD_USER_INPUT", verr), nil
	}
	e := &executor{h: h, ctx: ctx, doc: doc, op: op, vars: vars}
	roots := e.rootFields()
	gatehouse.SetOperations(ctx, roots) // the audit entry's operations
	if h.fields != nil {
		h.fields(ctx, roots)
	}
	a := e.analyze()
	if a.reqErr != nil {
		return a.reqErr, nil
	}
	cost := map[string]any{"requestedQueryCost": a.cost}
	var throttle *Throttle
	if h.charge != nil {
		th, err := h.charge(ctx, a.cost)
		if err != nil {
			return nil, fmt.Errorf("graphql: charge: %w", err)
		}
		status := map[string]any{"maximumAvailable": th.Maximum, "currentlyAvailable": th.Available, "restoreRate": th.RestoreRate}
		cost["throttleStatus"] = status
		if !th.Allowed {
			if a.cost > th.Maximum {
				r := requestError("MAX_COST_EXCEEDED", gqlerror.Errorf("the query costs %d points, more than the %d the key's bucket holds; ask for fewer records", a.cost, th.Maximum))
				cost["actualQueryCost"] = 0
				r.Extensions = map[string]any{"cost": cost}
				r.Throttle = &th
				return r, nil
			}
			ge := gatehouse.NewError(http.StatusTooManyRequests, gatehouse.MsgRateLimited).
				WithHeader("Retry-After", strconv.FormatInt(ratelimit.RetryAfterSeconds(th.RetryAfter), 10)).
				With("cost", cost)
			for k, v := range throttleHeaders(th) {
				ge = ge.WithHeader(k, v)
			}
			return nil, ge
		}
		throttle = &th
	}
	data := e.run(a.forbidden)
	resp := &Response{Data: data, Errors: append(a.errs, e.errs...), Throttle: throttle}
	cost["actualQueryCost"] = e.actual
	resp.Extensions = map[string]any{"cost": cost}
	return resp, nil
}

// throttleHeaders are the RateLimit headers of a points bucket: the
// IETF draft's RateLimit-Policy and RateLimit, and X-RateLimit-Limit,
// and -Remaining, all in points (RateLimit's t= is the seconds until
// the bucket is full).
func throttleHeaders(th Throttle) map[string]string {
	reset := strconv.FormatInt(int64((th.ResetAfter+time.Second-1)/time.Second), 10)
	remaining := strconv.Itoa(max(th.Available, 0))
	return map[string]string{
		"RateLimit-Policy":      ratelimit.PolicyHeader(ratelimit.Limit{Rate: th.Maximum, Burst: th.Maximum, Period: time.Minute}),
		"RateLimit":             `"default";r=` + remaining + ";t=" + reset,
		"X-RateLimit-Limit":     strconv.Itoa(th.Maximum),
		"X-RateLimit-Remaining": remaining,
	}
}

// pickOperation returns the operation to run.
func pickOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, *gqlerror.Error) {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil, gqlerror.Errorf("the document has several operations: operationName is required")
		}
		return doc.Operations[0], nil
	}
	op := doc.Operations.ForName(name)
	if op == nil {
		return nil, gqlerror.Errorf("no operation named %q", name)
	}
	return op, nil
}

// coerceVariables is gqlparser's VariableValues, guarded: it is only
// called on validated documents, whose variable types exist and are input
// types, but a panic there must not reach the client as a crash.
func coerceVariables(s *ast.Schema, op *ast.OperationDefinition, vars map[string]any) (out map[string]any, gerr *gqlerror.Error) {
	defer func() {
		if p := recover(); p != nil {
			out, gerr = nil, gqlerror.Errorf("invalid variables")
		}
	}()
	if vars == nil {
		vars = map[string]any{}
	}
	v, err := validator.VariableValues(s, op, vars)
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return nil, ge
		}
		return nil, gqlerror.Errorf("invalid variables")
	}
	return v, nil
}
