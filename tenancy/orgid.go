package tenancy

import (
	"fmt"
	"net/http"

	"gatehouse.dev"
	"gatehouse.dev/internal/uuid"
)

// OrgIDType is the type of the organization ids of a service: the type of
// the organization column of its tables. Organization ids travel in
// paths (/admin/orgs/{id}), Redis keys, cursors and SQL parameters, so
// each type admits a narrow, canonical form:
//
//   - [OrgIDUUID] (the zero value's meaning): a UUID in canonical
//     8-4-4-4-12 hexadecimal form, either case;
//   - [OrgIDText]: 1 to [MaxOrgIDLength] characters of A–Z a–z 0–9 and
//     . _ : - (not "." or "..", which are no path segment);
//   - [OrgIDInteger]: the canonical decimal form of an integer from 0 to
//     9223372036854775807 (a PostgreSQL bigint): digits only, no sign, no
//     leading zero except "0" itself, since "007" and "7" would be two
//     organizations of the key store but one value of an integer column.
type OrgIDType string

// Organization id types.
const (
	OrgIDUUID    OrgIDType = "uuid"
	OrgIDText    OrgIDType = "text"
	OrgIDInteger OrgIDType = "integer"
)

// MaxOrgIDLength is the longest [OrgIDText] id.
const MaxOrgIDLength = 64

// maxInt64 is the largest [OrgIDInteger] id.
const maxInt64 = "9223372036854775807"

// Check returns an error unless t is empty or one of the declared types.
func (t OrgIDType) Check() error {
	switch t {
	case "", OrgIDUUID, OrgIDText, OrgIDInteger:
		return nil
	}
	return fmt.Errorf("tenancy: unknown OrgIDType %q: want uuid, text or integer", string(t))
}

// Valid reports whether id is an organization id of type t (empty t means
// [OrgIDUUID]).
func (t OrgIDType) Valid(id string) bool {
	switch t {
	case OrgIDText:
		if id == "" || len(id) > MaxOrgIDLength || id == "." || id == ".." {
			return false
		}
		for i := 0; i < len(id); i++ {
			if !orgTextByte(id[i]) {
				return false
			}
		}
		return true
	case OrgIDInteger:
		if id == "" || len(id) > len(maxInt64) || (id[0] == '0' && len(id) > 1) {
			return false
		}
		for i := 0; i < len(id); i++ {
			if id[i] < '0' || id[i] > '9' {
				return false
			}
		}
		return len(id) < len(maxInt64) || id <= maxInt64
	case "", OrgIDUUID:
		return uuid.Valid(id)
	}
	return false
}

// Rule describes the ids of type t, as the "message" of an invalid id.
func (t OrgIDType) Rule() string {
	switch t {
	case OrgIDText:
		return fmt.Sprintf("must be 1 to %d characters of A-Z a-z 0-9 . _ : -", MaxOrgIDLength)
	case OrgIDInteger:
		return "must be a non-negative integer in decimal, without sign or leading zeros"
	}
	return "must be a UUID"
}

// Parse returns id when it is an organization id of type t, and otherwise
// the 400 *gatehouse.Error "Invalid organization id" with fields
// ["org_id"] and the type's rule in details, in the JSON error shape.
func (t OrgIDType) Parse(id string) (string, error) {
	if t.Valid(id) {
		return id, nil
	}
	return "", &gatehouse.Error{
		Status: http.StatusBadRequest,
		Msg:    gatehouse.MsgInvalidOrgID,
		Extra: map[string]any{
			"fields":  []string{"org_id"},
			"details": []gatehouse.FieldError{{Field: "org_id", Message: t.Rule()}},
		},
	}
}

func orgTextByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}
