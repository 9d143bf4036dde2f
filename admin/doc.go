// Package admin serves the administration API of a gatehouse deployment:
// organizations (create, read, switch the Developer API module on and off),
// their API keys (create — the only time the raw key is shown —, list, read,
// change, revoke) and each key's audit log.
//
// It sits on top of the library: it uses the stores of [gatehouse.dev/auth]
// and the reader of [gatehouse.dev/audit], and nothing in the library imports
// it. Who may call it is decided by [Options.Authorize]; [BearerToken] builds
// the usual shared-token check. Mount the [Handler] under its prefix
// (default "/admin"), on the public listener or a separate one.
package admin
