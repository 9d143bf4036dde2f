package gatehouse

import "context"

// Bounds of the operation names a request records with [SetOperations].
const (
	// MaxOperations is how many distinct names a request keeps.
	MaxOperations = 32
	// MaxOperationLength is the longest name, in bytes.
	MaxOperationLength = 64
)

// ValidOperation reports whether name can be an operation name: a GraphQL
// Name ([_A-Za-z][_0-9A-Za-z]*) of at most [MaxOperationLength] bytes. Such
// names are safe in every audit backend and in logs.
func ValidOperation(name string) bool {
	if name == "" || len(name) > MaxOperationLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CleanOperations returns names as requests record them: each
// [ValidOperation] name once, in first order, at most [MaxOperations];
// nil when none is left. It returns names itself, without allocating,
// when it is already clean (and not empty).
func CleanOperations(names []string) []string {
	clean := len(names) <= MaxOperations
	for i := 0; clean && i < len(names); i++ {
		clean = ValidOperation(names[i])
		for j := 0; clean && j < i; j++ {
			clean = names[j] != names[i]
		}
	}
	if clean {
		if len(names) == 0 {
			return nil
		}
		return names
	}
	var out []string
	for _, n := range names {
		if len(out) == MaxOperations {
			break
		}
		dup := false
		for _, o := range out {
			dup = dup || o == n
		}
		if !dup && ValidOperation(n) {
			out = append(out, n)
		}
	}
	return out
}

// SetOperations records what the request did in terms of the server's own
// schema, for the audit log (audit.Entry.Operations): for a GraphQL
// request, the names of the root fields it selected, once the document was
// validated against the schema ("leads", "leadCreate", "__schema"). Pass
// only names taken from the schema, never client-chosen text such as
// aliases, operation names or argument values. The names are cleaned with
// [CleanOperations] (and copied); a later call replaces an earlier one. It
// reports false, recording nothing, when ctx carries no per-request state
// ([RequestID] or [WithRequestState]).
func SetOperations(ctx context.Context, names []string) bool {
	st := stateOf(ctx)
	if st == nil {
		return false
	}
	ops := CleanOperations(names)
	if ops != nil && &ops[0] == &names[0] {
		ops = append([]string(nil), ops...) // the caller keeps its slice
	}
	st.mu.Lock()
	st.ops = &ops
	st.mu.Unlock()
	return true
}

// OperationsFromContext returns the names recorded with [SetOperations],
// or nil. The slice is shared: read it, never modify it.
func OperationsFromContext(ctx context.Context) []string {
	st := stateOf(ctx)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	ops := st.ops
	st.mu.Unlock()
	if ops == nil {
		return nil
	}
	return *ops
}
