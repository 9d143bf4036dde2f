package resource

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse.dev"
	"gatehouse.dev/tenancy"
)

// Cursors. A cursor is the position of the last row of a page in the list
// order (created_at DESC, id DESC), authenticated with an HMAC-SHA256 under
// the current secret of Options.Keyring over the secret's id, the resource,
// the caller's organization, the normalized filters (created_after,
// created_before, q and the exact filters; not limit) and the position. Its
// bytes, base64url without padding:
//
//	[1 version=1][1 n][n secret id][1 m][m position][32 MAC]
//	position = [8 created_at, Unix microseconds, big-endian][id bytes]
//
// The position is not secret (it is the created_at and id of a row the
// caller has just been shown), only tamper-evident: a cursor changed in any
// bit, used with other filters, on another resource or by another
// organization fails verification and the request is answered 400
// "Invalid cursor". Whatever a cursor says, the query stays inside the
// caller's organization: the position only bounds it.
const (
	cursorVersion   = 1
	cursorPurpose   = "gatehouse/resource/cursor/v1"
	cursorMACSize   = 32
	maxCursorIDLen  = 64
	maxCursorSecret = 32
	// maxCursorLength bounds the encoded cursor: 1+1+32+1+(8+64)+32 bytes
	// is 139, 186 characters of base64url.
	maxCursorLength = 186
	paramCursor     = "cursor"
	paramOffset     = "offset"
)

var errInvalidCursor = gatehouse.NewError(http.StatusBadRequest, gatehouse.MsgInvalidCursor)

// position is a row's place in the list order.
type position struct {
	createdAt time.Time // UTC, microseconds; unused without a creation time
	id        string    // idKey of the row's id
	idArg     any       // the id as a query argument (parseID), set when verified
}

// bytes encodes the position.
func (p position) bytes() []byte {
	b := make([]byte, 8, 8+len(p.id))
	if !p.createdAt.IsZero() { // zero (no creation time) is written as 0
		binary.BigEndian.PutUint64(b, uint64(p.createdAt.UnixMicro()))
	}
	return append(b, p.id...)
}

// parsePosition decodes position bytes.
func parsePosition(b []byte) (position, bool) {
	if len(b) < 9 || len(b) > 8+maxCursorIDLen {
		return position{}, false
	}
	us := int64(binary.BigEndian.Uint64(b[:8]))
	return position{createdAt: time.UnixMicro(us).UTC(), id: string(b[8:])}, true
}

// rawCursor is a syntactically valid cursor, not yet verified.
type rawCursor struct {
	secretID string
	pos      []byte
	mac      []byte
}

// decodeCursor parses the cursor's bytes. It checks only the shape; the
// MAC is checked by [verifyCursor]. It never panics.
func decodeCursor(s string) (rawCursor, bool) {
	if s == "" || len(s) > maxCursorLength {
		return rawCursor{}, false
	}
	for i := 0; i < len(s); i++ {
		// The base64 decoder skips '\r' and '\n': admit the alphabet only,
		// so each cursor has one spelling.
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return rawCursor{}, false
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 3 || b[0] != cursorVersion {
		return rawCursor{}, false
	}
	b = b[1:]
	n := int(b[0])
	if n == 0 || n > maxCursorSecret || len(b) < 1+n+1 {
		return rawCursor{}, false
	}
	secret := string(b[1 : 1+n])
	b = b[1+n:]
	m := int(b[0])
	if m < 9 || m > 8+maxCursorIDLen || len(b) != 1+m+cursorMACSize {
		return rawCursor{}, false
	}
	return rawCursor{secretID: secret, pos: b[1 : 1+m], mac: b[1+m:]}, true
}

// encodeCursor returns the cursor of p for the organization and filter
// scope, signed with the keyring's current secret.
func encodeCursor(k *gatehouse.Keyring, orgID string, scope []byte, p position) (string, error) {
	if p.id == "" || len(p.id) > maxCursorIDLen {
		return "", errors.New("resource: cursor: row id is empty or longer than 64 bytes")
	}
	pos := p.bytes()
	id := k.CurrentID()
	_, sum := k.MAC(cursorPurpose, []byte(id), []byte(orgID), scope, pos)
	b := make([]byte, 0, 3+len(id)+len(pos)+len(sum))
	b = append(b, cursorVersion, byte(len(id)))
	b = append(b, id...)
	b = append(b, byte(len(pos)))
	b = append(b, pos...)
	b = append(b, sum...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// verifyCursor checks the cursor's MAC for the organization and filter
// scope and returns its position.
func verifyCursor(k *gatehouse.Keyring, orgID string, scope []byte, c rawCursor) (position, bool) {
	if k == nil || !k.VerifyMAC(c.secretID, c.mac, cursorPurpose, []byte(c.secretID), []byte(orgID), scope, c.pos) {
		return position{}, false
	}
	return parsePosition(c.pos)
}

// cursorScope returns the normalized filters of q that a cursor is bound
// to: the resource, created_after, created_before, q and the exact filters
// (sorted by name, values in their parsed form, so "id=ABC…" and
// "id=abc…" are the same scope, as are q=LEAD and q=lead, which find the
// same rows). Limit and offset are not part of it: a
// client may change the page size between pages.
func (s *spec) cursorScope(q ListQuery) []byte {
	b := make([]byte, 0, 64)
	put := func(v string) {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	putTime := func(t time.Time) {
		if t.IsZero() {
			put("")
			return
		}
		put(t.UTC().Format(time.RFC3339Nano))
	}
	put(s.res.Name)
	putTime(q.CreatedAfter)
	putTime(q.CreatedBefore)
	put(lowerASCII(q.Q)) // the search folds ASCII case: q=LEAD is q=lead
	b = binary.AppendUvarint(b, uint64(len(q.Filters)))
	for _, f := range q.Filters {
		put(f.Field)
		switch v := f.Value.(type) {
		case string:
			put("s" + v)
		case int64:
			put("i" + strconv.FormatInt(v, 10))
		case float64:
			put("f" + strconv.FormatUint(math.Float64bits(v), 16))
		case bool:
			put("b" + strconv.FormatBool(v))
		case time.Time:
			put("t" + v.UTC().Format(time.RFC3339Nano))
		default:
			put("?")
		}
	}
	return b
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// keysetCond is the condition "after p in the list order":
// (created, id) < (p.created, p.id), which both SQLite and PostgreSQL
// answer with a range scan of the (organization, created DESC, id DESC)
// index; id < p.id without a creation time.
func (s *spec) keysetCond(p position) tenancy.Cond {
	id := tenancy.QuoteIdent(s.res.IDColumn)
	if s.created == nil {
		return tenancy.Cond{SQL: id + " < ?", Args: []any{p.idArg}}
	}
	return tenancy.Cond{
		SQL:  "(" + tenancy.QuoteIdent(s.created.column) + ", " + id + ") < (?, ?)",
		Args: []any{timeArg(s.created.stamp, p.createdAt), p.idArg},
	}
}

// positionOf returns the position of a record in the list order.
func (s *spec) positionOf(rec record) (position, error) {
	p := position{id: idKey(rec.vals[0])}
	if s.created == nil {
		return p, nil
	}
	created, _ := rec.vals[len(s.fields)+2].(string)
	t, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return position{}, errors.New("resource: cursor: created_at is not a timestamp")
	}
	p.createdAt = t.UTC()
	return p, nil
}

// nextLink returns the URL of the next page for the Link header: the
// request's path and query with offset and cursor replaced by cursor=next.
// The other parameters keep their order; every key and value is decoded
// and percent-encoded again, so nothing the client sent can end the URI
// reference or add a link (RFC 8288: '>', '"', ',' and ';' are always
// escaped). The cursor is an opaque token, escaped the same way.
func nextLink(u *url.URL, next string) string {
	var b strings.Builder
	b.WriteString(escapeLinkPath(u.EscapedPath()))
	b.WriteByte('?')
	raw := u.RawQuery
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == paramCursor || key == paramOffset {
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			continue // refused by parseList before a list is answered
		}
		b.WriteString(url.QueryEscape(key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(value))
		b.WriteByte('&')
	}
	b.WriteString(paramCursor + "=")
	b.WriteString(url.QueryEscape(next))
	return b.String()
}

// escapeLinkPath percent-encodes the bytes of an escaped path that RFC
// 3986 does not allow in a path or that would end a Link target.
func escapeLinkPath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/%!$&'()*+=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
