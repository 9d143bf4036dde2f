package telemetry

import (
	"strings"
	"testing"
)

var sqlOperationCases = []struct {
	query, want string
}{
	{"SELECT 1", "SELECT"},
	{"select * from t", "SELECT"},
	{"  \n\tInsert into t values (1)", "INSERT"},
	{"WITH x AS (SELECT 1) SELECT * FROM x", "WITH"},
	{"(SELECT 1) UNION (SELECT 2)", "SELECT"},
	{"-- leading comment\nUPDATE t SET a = 1", "UPDATE"},
	{"/* block */ DELETE FROM t", "DELETE"},
	{"/* a */ /* b */ -- c\n  begin", "BEGIN"},
	{"SELECT;", "SELECT"},
	{"PRAGMA journal_mode", "PRAGMA"},
	{"", ""},
	{"   ", ""},
	{"-- only a comment", ""},
	{"/* unterminated", ""},
	{"1 + 1", ""},
	{"SELECT1", ""},
	{"SELECT_x", ""},
	{"sélect 1", ""},
	{"'secret' literal", ""},
	{strings.Repeat("a", 33) + " x", ""},
	{strings.Repeat("a", 32) + " x", strings.Repeat("A", 32)},
}

func TestSQLOperation(t *testing.T) {
	t.Parallel()
	for _, tc := range sqlOperationCases {
		if got := sqlOperation(tc.query); got != tc.want {
			t.Errorf("sqlOperation(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
}

// FuzzSQLOperation: never panics, and the result is either empty or at
// most 32 upper-case ASCII letters that appear (in some case) in the query.
func FuzzSQLOperation(f *testing.F) {
	for _, tc := range sqlOperationCases {
		f.Add(tc.query)
	}
	f.Fuzz(func(t *testing.T, q string) {
		op := sqlOperation(q)
		if op == "" {
			return
		}
		if len(op) > 32 {
			t.Fatalf("operation %q longer than 32", op)
		}
		for i := 0; i < len(op); i++ {
			if op[i] < 'A' || op[i] > 'Z' {
				t.Fatalf("operation %q of %q is not upper-case letters", op, q)
			}
		}
		if !strings.Contains(strings.ToUpper(q), op) {
			t.Fatalf("operation %q not in %q", op, q)
		}
	})
}

func TestPipelineName(t *testing.T) {
	t.Parallel()
	// Covered with real commands in the Redis hook test; here the edge of
	// an empty pipeline.
	if op, n := pipelineName(nil); op != "PIPELINE" || n != 0 {
		t.Fatalf("empty pipeline: %q %d", op, n)
	}
}
