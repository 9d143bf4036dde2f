package audit

import (
	"context"
	"time"
)

// DefaultCap is how many entries each key keeps when an option leaves it zero.
const DefaultCap = 50

// Entry is one recorded request of an API key. It never holds headers, query
// values, bodies or the key itself.
type Entry struct {
	// Time is when the request started, UTC, millisecond precision.
	Time time.Time `json:"time"`
	// RequestID is the id [gatehouse.RequestID] gave the request.
	RequestID string `json:"request_id"`
	// KeyID is the UUID id of the API key (never the key).
	KeyID string `json:"key_id"`
	// OrganizationID is the key's organization.
	OrganizationID string `json:"organization_id"`
	Method         string `json:"method"`
	// Route is the route pattern without the method, e.g. "/v1/leads/{id}".
	Route string `json:"route"`
	// Path is the concrete path without the query.
	Path       string `json:"path"`
	Status     int    `json:"status"`
	DurationMS int64  `json:"duration_ms"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
}

// Sink takes entries from the request path. Record must not block and must
// not fail the request: implementations buffer, drop and count.
type Sink interface {
	Record(e Entry)
}

// SinkFunc adapts a function to [Sink].
type SinkFunc func(e Entry)

// Record calls f.
func (f SinkFunc) Record(e Entry) { f(e) }

// Writer stores a batch of entries, keeping only the newest Cap per key.
// Backends (memory, SQL, Redis) implement it; a batching writer calls it off
// the request path.
type Writer interface {
	Write(ctx context.Context, entries []Entry) error
}

// Reader reads the newest entries of one key of one organization, newest
// first, at most the cap. A key of another organization has no entries.
type Reader interface {
	Latest(ctx context.Context, orgID, keyID string) ([]Entry, error)
}
