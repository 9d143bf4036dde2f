// Package keysui is the API keys settings page an embedding service mounts
// in its own settings area, behind its own session: list the
// organization's keys, create one (shown exactly once), rotate one with a
// grace period, revoke one, and read a key's latest requests.
//
// It sits on top, like package admin: every change goes through an
// [admin.Handler] (the same validation, limits, scopes and actions trail),
// and nothing in the library imports keysui. The host says who is looking
// with [Options.Viewer] and may wrap pages in its own chrome with
// [Options.Layout]; [Handler.Visible] tells its menu whether to show the
// tab (the organization's API module is on).
//
// Pages are server-rendered html/template with embedded assets: no build
// step, no JavaScript framework, and every flow works without JavaScript
// (a small external script adds a copy button and confirmations). Every
// response carries a strict Content-Security-Policy (no inline script,
// frame-ancestors 'self'); cross-origin form posts are refused with
// http.CrossOriginProtection; no secret is ever put in a URL; the create
// form carries a one-time token kept in [FormTokens] (in the database with
// [SQLTokens], so it holds across pods), so that a reload or Back never
// creates a second key or shows a key again.
package keysui
