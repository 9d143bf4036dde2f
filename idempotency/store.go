package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"
)

// ErrClaimLost is returned by [Store.Complete] and [TxStore.CompleteTx]
// when the claim named by the [Ref] is no longer in flight under its token:
// it was completed or released already, or its lock expired and another
// request claimed the key.
var ErrClaimLost = errors.New("idempotency: claim lost")

// Ref names one attempt at a key: Scope is the API key id (keys of two API
// keys never meet), Key the Idempotency-Key value and Token a unique id of
// the request that claimed it.
type Ref struct {
	Scope string
	Key   string
	Token string
}

// Claim asks a [Store] for a key.
type Claim struct {
	Ref
	// Fingerprint identifies the request (API key id, method, concrete
	// path, SHA-256 of the body); a request with the same key and another
	// fingerprint is a [Mismatch].
	Fingerprint string
	// Lock is how long an unfinished claim holds the key: after it a new
	// request may claim the key again (so a crashed request does not block
	// its key for the whole TTL). Stores treat values below 1 ms as 1 ms.
	Lock time.Duration
}

// State is the outcome of [Store.Claim].
type State int

// States of a claimed key.
const (
	// Claimed: the key was free (never used, released, expired, or its
	// lock ran out); it is now in flight under the claim's token.
	Claimed State = iota + 1
	// InFlight: another request with the same fingerprint holds the key.
	InFlight
	// Mismatch: the key is held or completed by a request with another
	// fingerprint.
	Mismatch
	// Completed: a request with the same fingerprint completed; its
	// response is in [Result.Response].
	Completed
)

// String names the state.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InFlight:
		return "in flight"
	case Mismatch:
		return "mismatch"
	case Completed:
		return "completed"
	}
	return "unknown"
}

// Result is the outcome of [Store.Claim].
type Result struct {
	State State
	// Response is the stored response when State is Completed.
	Response Response
}

// Response is a stored response: the status, the headers worth replaying
// (Content-Type, Location, Cache-Control) and the body. The middleware
// hands stores the body sealed with its keyring and opens it on replay.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Store keeps idempotency records. Every implementation (memory, SQL,
// Redis) passes the idemtest suite. Methods take the context first and
// honour its cancellation.
type Store interface {
	// Claim atomically takes the key for the claim's token unless a live
	// record holds it, and otherwise reports what holds it. A record is
	// live while in flight and younger than its Lock, or completed and
	// younger than its TTL.
	Claim(ctx context.Context, c Claim) (Result, error)
	// Complete stores the response of the in-flight claim ref, live for
	// ttl from now. It returns [ErrClaimLost] if ref no longer holds an
	// in-flight claim.
	Complete(ctx context.Context, ref Ref, resp Response, ttl time.Duration) error
	// Release frees the key if ref still holds it in flight; otherwise it
	// does nothing (a completed record or another request's claim stays).
	Release(ctx context.Context, ref Ref) error
}

// TxStore is a [Store] that can complete a claim inside the caller's SQL
// transaction (package sqlidem), so that the stored response commits or
// rolls back with the write it answers.
type TxStore interface {
	Store
	// CompleteTx is Complete inside tx, which must be a transaction on the
	// store's own database.
	CompleteTx(ctx context.Context, tx *sql.Tx, ref Ref, resp Response, ttl time.Duration) error
}
