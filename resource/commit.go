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
