package stack

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev"
	"gatehouse.dev/admin"
	"gatehouse.dev/audit"
	"gatehouse.dev/auth/keycache"
	"gatehouse.dev/auth/sqlstore"
	"gatehouse.dev/ratelimit"
	"gatehouse.dev/ratelimit/redislimit"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/openapi"
	"gatehouse.dev/scope"
	"gatehouse.dev/tenancy"
	"gatehouse.dev/webhook"
)

// Handler serves everything on one listener: the handlers of
// [Stack.Handle] at their paths, the public API under Options.Prefix, the
// admin API under Options.AdminPrefix (when there is an admin token),
// [Stack.Health] at Options.HealthPath, and a JSON 404 for any other path.
// Nothing of the stack's own answers in plain text or HTML.
func (s *Stack) Handler() http.Handler { return s.router(true) }

// Public is [Stack.Handler] without the admin API, for a service that
// serves the admin API on a listener of its own ([Stack.Admin]).
func (s *Stack) Public() http.Handler { return s.router(false) }

// Admin serves the admin API under Options.AdminPrefix, already wrapped
// (request ids, JSON errors), and a JSON 404 for any other path; every
// path is a 404 without an admin token.
func (s *Stack) Admin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.admin != nil && under(r.URL.Path, s.opts.AdminPrefix) {
			s.admin.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	})
}

// under reports whether path is prefix or below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

var notFound = gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	gatehouse.WriteError(w, r, nil, gatehouse.NewError(http.StatusNotFound, gatehouse.MsgNotFound))
}))

func (s *Stack) router(withAdmin bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if h := s.mounted(p); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		switch {
		case under(p, s.opts.Prefix):
			s.api.ServeHTTP(w, r)
		case withAdmin && s.admin != nil && under(p, s.opts.AdminPrefix):
			s.admin.ServeHTTP(w, r)
		case p == s.opts.HealthPath:
			s.health.ServeHTTP(w, r)
		default:
			notFound.ServeHTTP(w, r)
		}
	})
}

// Health answers GET and HEAD without authentication: 200 {"status":"ok"},
// 200 {"status":"degraded"} while Redis is unreachable (the limiter falls
// back, key changes reach other pods late), and 503 {"status":"degraded"}
// when the database does not answer within 2 s, so a load balancer takes
// the pod out. It names no backend; the details are at GET
// {AdminPrefix}/health, behind the admin token.
func (s *Stack) Health() http.Handler { return s.health }

// check reports the backends' state.
func (s *Stack) check(ctx context.Context) (dbOK, redisOK bool, details map[string]any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	dbOK, redisOK = s.db.PingContext(ctx) == nil, true
	details = map[string]any{"database": map[string]any{"dialect": s.dialect.String(), "ok": dbOK}}
	if l, ok := s.limiter.(*redislimit.Limiter); ok {
		st := l.Status()
		redisOK = st.OnRedis()
		details["rate_limiter"] = st
	} else {
		details["rate_limiter"] = map[string]string{"backend": "memory"}
	}
	if s.feed != nil {
		healthy := s.cache.Stats().FeedHealthy
		redisOK = redisOK && healthy
		details["key_feed"] = map[string]any{"backend": "redis", "healthy": healthy}
	} else {
		details["key_feed"] = map[string]any{"backend": "none", "healthy": true}
	}
	return dbOK, redisOK, details
}

var healthNotAllowed = gatehouse.NewError(http.StatusMethodNotAllowed, gatehouse.MsgMethodNotAllowed).WithHeader("Allow", "GET, HEAD")

func (s *Stack) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		gatehouse.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gatehouse.WriteError(w, r, s.logger, healthNotAllowed)
		})).ServeHTTP(w, r)
		return
	}
	dbOK, redisOK, _ := s.check(r.Context())
	status, code := "ok", http.StatusOK
	if !dbOK || !redisOK {
		status = "degraded"
	}
	if !dbOK {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	gatehouse.WriteJSON(w, code, map[string]string{"status": status})
}

func (s *Stack) serveHealthDetails(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		gatehouse.WriteError(w, r, s.logger, healthNotAllowed)
		return
	}
	dbOK, redisOK, details := s.check(r.Context())
	details["status"] = "ok"
	code := http.StatusOK
	if !dbOK || !redisOK {
		details["status"] = "degraded"
	}
	if !dbOK {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	gatehouse.WriteJSON(w, code, map[string]any{"data": details, "request_id": gatehouse.RequestIDFromContext(r.Context())})
}

// Run runs every background loop (audit recorder, key-usage batcher,
// idempotency cleanup, key-change feed, webhook dispatcher) until ctx ends,
// then lets each flush what it holds and returns when all have stopped.
// Stop the HTTP servers first, so that the last requests' audit entries
// are flushed. A loop failing does not stop the others; their errors are
// joined.
func (s *Stack) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.runners))
	for i, run := range s.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.logger.ErrorContext(ctx, "stack: background loop failed", "err", err)
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes the database and Redis client the stack opened from
// Options.DatabaseURL and Options.RedisURL (never those it was given), and
// removes the throwaway database of development mode.
// Call it after [Stack.Run] returned.
func (s *Stack) Close() error {
	var err error
	if s.ownRed && s.redis != nil {
		err = s.redis.Close()
		s.ownRed = false
	}
	if s.ownDB && s.db != nil {
		err = errors.Join(err, s.db.Close())
		s.ownDB = false
	}
	if s.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(s.tmpDir))
		s.tmpDir = ""
	}
	return err
}

// DB returns the database and its dialect.
func (s *Stack) DB() (*sql.DB, tenancy.Dialect) { return s.db, s.dialect }

// Redis returns the Redis client, or nil.
func (s *Stack) Redis() redis.UniversalClient { return s.redis }

// AdminToken returns the admin API's bearer token (generated in
// Options.Development mode when none was given), or "" without an admin
// API.
func (s *Stack) AdminToken() string { return s.opts.AdminToken }

// Keyring returns the keyring in use (nil when no feature needs one).
func (s *Stack) Keyring() *gatehouse.Keyring { return s.keyring }

// Keys returns the key and organization store.
func (s *Stack) Keys() *sqlstore.Store { return s.keys }

// Registry returns the resource registry.
func (s *Stack) Registry() *resource.Registry { return s.reg }

// Webhooks returns the webhook service, or nil when Options.Webhooks is
// off.
func (s *Stack) Webhooks() *webhook.Service { return s.hooks }

// Limiter returns the rate limiter (a *redislimit.Limiter with Redis).
func (s *Stack) Limiter() ratelimit.Limiter { return s.limiter }

// AdminAPI returns the admin handler (for [admin.Handler.IssueKey]), or nil
// without an admin token.
func (s *Stack) AdminAPI() *admin.Handler { return s.adminAPI }

// OpenAPI returns the current OpenAPI document.
func (s *Stack) OpenAPI() *openapi.Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc
}

// Scopes lists every scope a key may be given: the registry's (resources,
// webhooks) and those of [Stack.Protect], sorted.
func (s *Stack) Scopes() []scope.Scope {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := scope.NewSet(append(s.reg.Scopes(), s.scopes.Scopes()...)...)
	return set.Scopes()
}

// Listener is a listener and the handler [Stack.Serve] serves on it.
type Listener struct {
	net.Listener
	Handler http.Handler
}

// ShutdownTimeout is how long [Stack.Serve] lets requests in flight finish.
const ShutdownTimeout = 15 * time.Second

// Serve serves each handler on its listener with conservative timeouts
// (5 s to read headers, 15 s to read a request, 30 s to write the answer,
// 64 KiB of headers) and runs [Stack.Run] beside them. When ctx ends (for
// example on SIGTERM with signal.NotifyContext) or a server fails, it
// shuts the servers down, letting requests in flight finish for up to
// [ShutdownTimeout], then stops the background loops, which flush what
// they hold, and returns the server's error, or nil. It closes the
// listeners; the caller still calls [Stack.Close].
func (s *Stack) Serve(ctx context.Context, ls ...Listener) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(bg) // Run logs the failures
	}()
	errc := make(chan error, len(ls))
	servers := make([]*http.Server, len(ls))
	for i, l := range ls {
		servers[i] = &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := servers[i].Serve(l.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	stopBG() // after the servers drained: flush background work
	<-done
	return err
}

// KeyCache returns the key cache in front of the key store.
func (s *Stack) KeyCache() *keycache.Cache { return s.cache }

// AuditSink returns where the per-key audit entries go, for a handler that
// records its own (such as an MCP server recording each tool call).
func (s *Stack) AuditSink() audit.Sink { return s.sink }

// OpenAPIOptions returns the options the OpenAPI document is built from,
// for other renditions of it (for example openapi.NewActions).
func (s *Stack) OpenAPIOptions() openapi.Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.openAPI
	o.Routes = append(o.Routes, s.protected...)
	return o
}

// Authenticate wraps h in the front of the public chain: request id,
// telemetry, API version and key authentication, but neither the rate
// limit nor the audit log, for a handler that limits and audits each unit
// of work itself (an MCP server does so per tool call, with
// [Stack.MeteredLimiter] and [Stack.AuditSink]), served with
// [Stack.Handle]. Other handlers use
// [Stack.Protect].
func (s *Stack) Authenticate(h http.Handler) http.Handler {
	h = s.authn.Wrap(h)
	if s.versioner != nil {
		h = s.versioner.Wrap(h)
	}
	return gatehouse.RequestID(s.tel.Middleware(h))
}
