package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse.dev"
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
	// Operations are what the request did in terms of the server's schema,
	// recorded by its handler with gatehouse.SetOperations: for a GraphQL
	// request the root fields it selected ("leads", "leadCreate"), the
	// route staying "/v1/graphql". Never client-chosen text: only
	// gatehouse.ValidOperation names, each once, at most
	// gatehouse.MaxOperations. Nil (left out of the JSON) for REST
	// requests.
	Operations []string `json:"operations,omitempty"`
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

// RefusedReader reads how many requests of one key of one organization
// the rate limit refused, and when the last one was.
type RefusedReader interface {
	Refused(ctx context.Context, orgID, keyID string) (Refused, error)
}

// Refused counts a key's requests refused by the rate limit ([Entry.RateLimited]).
// Backends keep this counter instead of storing those requests among the
// key's latest entries, so a flood of refused requests cannot push the
// key's real requests out of the log.
type Refused struct {
	// Count is how many refused requests were written (a batch retried
	// after a write whose outcome was unknown may be counted twice).
	Count int64 `json:"count"`
	// LastAt is the time of the newest one (UTC, millisecond precision),
	// or nil when Count is 0.
	LastAt *time.Time `json:"last_at"`
}

// Log is a capped store of entries that can be written and read: the
// interface every backend ([Memory], sqlaudit.Store, redisaudit.Store)
// implements and audittest.Run checks. A [Writer] of a Log keeps among a
// key's latest entries only those not [Entry.RateLimited]; it counts the
// others in the key's [Refused].
type Log interface {
	Writer
	Reader
	RefusedReader
}

// RateLimited reports whether e is a request the rate limit refused
// (status 429 Too Many Requests). Backends do not keep such entries among
// the key's latest (the log keeps the latest valid requests); they count
// them in [Refused].
func (e Entry) RateLimited() bool { return e.Status == http.StatusTooManyRequests }

// AddRefused returns r counting e too (e being [Entry.RateLimited]).
func (r Refused) AddRefused(e Entry) Refused {
	t := e.Time.UTC().Truncate(time.Millisecond).Round(0)
	r.Count++
	if r.LastAt == nil || r.LastAt.Before(t) {
		r.LastAt = &t
	}
	return r
}

// Normalized returns e as every backend stores it: Time in UTC truncated to
// the millisecond (without a monotonic reading), every string valid UTF-8
// without NUL bytes (each invalid sequence or NUL becomes U+FFFD), so that
// PostgreSQL text columns and the Redis encoding accept it, and Operations
// cleaned with gatehouse.CleanOperations (invalid names and repeats
// dropped, nil when empty). It does not allocate when e is already clean.
func (e Entry) Normalized() Entry {
	e.Time = e.Time.UTC().Truncate(time.Millisecond).Round(0)
	e.RequestID = cleanString(e.RequestID)
	e.KeyID = cleanString(e.KeyID)
	e.OrganizationID = cleanString(e.OrganizationID)
	e.Method = cleanString(e.Method)
	e.Route = cleanString(e.Route)
	e.Path = cleanString(e.Path)
	e.IP = cleanString(e.IP)
	e.UserAgent = cleanString(e.UserAgent)
	e.Operations = gatehouse.CleanOperations(e.Operations)
	return e
}

// Less reports whether a is older than b in the order every backend keeps:
// by Time, then by RequestID (bytewise). The newest Cap entries of a key are
// the greatest in this order.
func Less(a, b Entry) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.RequestID < b.RequestID
}

// cleanString replaces NUL bytes and invalid UTF-8 by U+FFFD.
func cleanString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
				return s
			}
			return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
		}
	}
	return s
}

// TimeLayout is how entries write their time in JSON: RFC 3339, UTC,
// always three fractional digits, so the text sorts as the time does.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the entry with its time in [TimeLayout].
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	return json.Marshal(struct {
		Time string `json:"time"`
		plain
	}{Time: e.Time.UTC().Format(TimeLayout), plain: plain(e)})
}

// MarshalJSON writes the count and last_at in [TimeLayout] (null when
// there was none), like the entries' times.
func (r Refused) MarshalJSON() ([]byte, error) {
	var last *string
	if r.LastAt != nil {
		s := r.LastAt.UTC().Format(TimeLayout)
		last = &s
	}
	return json.Marshal(struct {
		Count  int64   `json:"count"`
		LastAt *string `json:"last_at"`
	}{r.Count, last})
}
