package resource

import (
	"context"
	"database/sql"
	"net/http"
)

// Response is the answer to a create or update exactly as the registry will
// write it once the write's transaction has committed: the status (201 or
// 200), the headers it sets (Content-Type, and Location for a create) and
// the complete body, request_id and trailing newline included.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// CommitHook is called inside the transaction of a create or update, after
// the write and [Options.OnWrite] and just before the commit, with the
// response the registry will write if the commit succeeds. Whatever the hook
// writes with tx commits or rolls back with the record, so a stored copy of
// the response exists if and only if the write does. An error rolls the
// write back and is written instead of the response (with
// gatehouse.WriteError: a *gatehouse.Error as it is, anything else as a
// 500).
//
// Middlewares in [Options.Middleware] attach hooks to the request context
// with [WithCommitHook]; package idempotency stores replayable responses
// this way.
type CommitHook func(ctx context.Context, tx *sql.Tx, resp Response) error

type commitHooksKey struct{}

// WithCommitHook returns ctx carrying h besides any hooks ctx already
// carries; the registry calls them in the order they were added. A nil h is
// ignored.
func WithCommitHook(ctx context.Context, h CommitHook) context.Context {
	if h == nil {
		return ctx
	}
	prev, _ := ctx.Value(commitHooksKey{}).([]CommitHook)
	hooks := make([]CommitHook, 0, len(prev)+1)
	hooks = append(hooks, prev...)
	return context.WithValue(ctx, commitHooksKey{}, append(hooks, h))
}

// commitHooks returns the hooks of ctx.
func commitHooks(ctx context.Context) []CommitHook {
	hooks, _ := ctx.Value(commitHooksKey{}).([]CommitHook)
	return hooks
}

type afterCommitKey struct{}

// afterCommit collects the functions of one write to run after its commit.
type afterCommit struct{ fns []func() }

// AfterCommit registers fn to run once the registry write whose
// [Options.OnWrite] received ctx has committed (never when it rolls back),
// on the request's goroutine before the response is written. It reports
// whether ctx belongs to such a write; when it does not, fn is not
// registered and the caller, which owns the transaction, runs it after its
// own commit. Call it from OnWrite, on OnWrite's goroutine; fn must be
// quick and must not block. Package webhook uses it to wake its dispatcher
// once an event's deliveries are visible.
func AfterCommit(ctx context.Context, fn func()) bool {
	ac, ok := ctx.Value(afterCommitKey{}).(*afterCommit)
	if !ok || fn == nil {
		return false
	}
	ac.fns = append(ac.fns, fn)
	return true
}
