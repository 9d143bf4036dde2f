package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is a permission "resource:action". Both parts are 1–64 characters of
// lower-case ASCII letters, digits, '_' and '-', starting with a letter.
type Scope string

// Common actions.
const (
	Read   = "read"
	Create = "create"
	Update = "update"
)

// Of returns the scope resource:action without validating it.
func Of(resource, action string) Scope { return Scope(resource + ":" + action) }

// Parse validates s and returns it as a Scope.
func Parse(s string) (Scope, error) {
	res, act, ok := strings.Cut(s, ":")
	if !ok || !validPart(res) || !validPart(act) {
		return "", fmt.Errorf("scope: invalid scope %q: want resource:action in lower case", s)
	}
	return Scope(s), nil
}

// MustParse is Parse for literals at setup; it panics on an invalid scope.
func MustParse(s string) Scope {
	sc, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sc
}

func validPart(p string) bool {
	if len(p) == 0 || len(p) > 64 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Resource returns the part before the colon.
func (s Scope) Resource() string {
	r, _, _ := strings.Cut(string(s), ":")
	return r
}

// Action returns the part after the colon.
func (s Scope) Action() string {
	_, a, _ := strings.Cut(string(s), ":")
	return a
}

// String returns s as a string.
func (s Scope) String() string { return string(s) }

// Set is an immutable, sorted, duplicate-free set of scopes. The zero value
// is the empty set. Sets are small (tens of scopes), so membership is a
// binary search over a slice: no map, no allocation.
type Set struct {
	s []string
}

// NewSet returns the set of the given scopes.
func NewSet(scopes ...Scope) Set {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	slices.Sort(s)
	return Set{s: slices.Compact(s)}
}

// SetOf returns the set of the scope strings ss, unvalidated (see
// [ParseSet] for validation): for example gatehouse.Caller.Scopes. When ss
// is already sorted and free of duplicates, as the authentication
// middleware records it, the set shares ss instead of copying it, so ss
// must not be modified afterwards.
func SetOf(ss []string) Set {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			s := slices.Clone(ss)
			slices.Sort(s)
			return Set{s: slices.Compact(s)}
		}
	}
	return Set{s: ss}
}

// ParseSet parses each string; the error names every invalid one.
func ParseSet(ss []string) (Set, error) {
	out := make([]Scope, 0, len(ss))
	var bad []string
	for _, s := range ss {
		sc, err := Parse(s)
		if err != nil {
			bad = append(bad, s)
			continue
		}
		out = append(out, sc)
	}
	if len(bad) > 0 {
		return Set{}, fmt.Errorf("scope: invalid scopes %q", bad)
	}
	return NewSet(out...), nil
}

// Has reports whether sc is in the set.
func (s Set) Has(sc Scope) bool {
	_, ok := slices.BinarySearch(s.s, string(sc))
	return ok
}

// Len returns the number of scopes.
func (s Set) Len() int { return len(s.s) }

// Scopes returns a copy of the scopes in sorted order.
func (s Set) Scopes() []Scope {
	out := make([]Scope, len(s.s))
	for i, sc := range s.s {
		out[i] = Scope(sc)
	}
	return out
}

// Strings returns a copy of the scopes as sorted strings (never nil).
func (s Set) Strings() []string { return append(make([]string, 0, len(s.s)), s.s...) }

// Sorted returns the scopes as sorted strings without copying: the slice
// shares the set's storage, so read it and never modify it (use
// [Set.Strings] for a copy). The authentication middleware fills
// gatehouse.Caller.Scopes with it, without an allocation per request.
func (s Set) Sorted() []string { return s.s }

// Missing returns the scopes of want that are not in s, in want's order.
func (s Set) Missing(want ...Scope) []Scope {
	var out []Scope
	for _, w := range want {
		if !s.Has(w) {
			out = append(out, w)
		}
	}
	return out
}
