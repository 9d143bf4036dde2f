package e2e

import (
	"strings"
	"testing"

	"gatehouse.dev/tenancy"
)

func TestMarkdown(t *testing.T) {
	results := []Result{
		{Target: "gh", Workload: "list", Connections: 1, Used: 1, RPS: 1500, P50: 600, P90: 950, P99: 2500},
		{Target: "gh", Workload: "list", Connections: 16, Used: 15, RPS: 3000.4, P50: 4200, P90: 12_000, P99: 150_000},
		{Target: "gh", Workload: "get", Connections: 1, Used: 1, RPS: 4000, P50: 200, P90: 300, P99: 900, Non2xx: 3, Requests: 40000},
		{Target: "PB", Workload: "list", Connections: 1, Used: 1, RPS: 15, P50: 60_000, P90: 80_000, P99: 95_000},
		{Target: "PB", Workload: "list +org", Connections: 1, Used: 1, RPS: 500, P50: 1900, P90: 2500, P99: 4000},
		{Target: "PB", Workload: "list", Connections: 16, Used: 16, RPS: 12.5, P50: 1e6, P90: 1.2e6, P99: 1.5e6},
		{Target: "PB", Workload: "get", Connections: 1, Used: 1, RPS: 2000, P50: 400, P90: 600, P99: 1200},
	}
	got := Markdown(results, []string{"gh", "missing", "PB"}, Baseline{Target: "PB", Best: map[string][]string{"list": {"list", "list +org"}}})
	want := `| target | workload | req/s (1 conn) | p50 | p90 | p99 | req/s (16 conns) | p50 | p90 | p99 |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
| gh | list | 1500 | 0.60 ms | 0.95 ms | 2.50 ms | 3000 | 4.20 ms | 12.0 ms | 150 ms |
| gh | get | 4000 | 0.20 ms | 0.30 ms | 0.90 ms | – | – | – | – |
| PB | list | 15.0 | 60.0 ms | 80.0 ms | 95.0 ms | 12.5 | 1000 ms | 1200 ms | 1500 ms |
| PB | list +org | 500 | 1.90 ms | 2.50 ms | 4.00 ms | – | – | – | – |
| PB | get | 2000 | 0.40 ms | 0.60 ms | 1.20 ms | – | – | – | – |

- gh, list, 16 connections: wrk opened 15
- gh, get, 1 connections: 0 socket errors or timeouts, 3 non-2xx responses of 40000

Ratio of req/s to PB's best figure for the workload at the same connection count:

| target | list (1 conn) | list (16 conns) | get (1 conn) | get (16 conns) |
|---|---:|---:|---:|---:|
| PB (req/s) | 500 (list +org) | 12.5 | 2000 | – |
| gh | 3.0× | 240× | 2.0× | – |
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(Markdown(results[:3], []string{"gh"}, Baseline{Target: "PB"}), "Ratio") {
		t.Error("ratios without baseline results")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		us   float64
		want string
	}{{0, "0.00 ms"}, {1234, "1.23 ms"}, {12_345, "12.3 ms"}, {123_456, "123 ms"}} {
		if got := FormatLatency(c.us); got != c.want {
			t.Errorf("FormatLatency(%v) = %q, want %q", c.us, got, c.want)
		}
	}
	if FormatRPS(99.94) != "99.9" || FormatRPS(100.4) != "100" {
		t.Errorf("FormatRPS: %q %q", FormatRPS(99.94), FormatRPS(100.4))
	}
}

func TestPlansMarkdown(t *testing.T) {
	md := PlansMarkdown([]Plan{
		{Dialect: "sqlite", Name: "list", SQL: "SELECT 1", Text: "QUERY PLAN", Checked: true},
		{Dialect: "postgres", Name: "list", SQL: "SELECT 2", Text: "Limit", Generic: "Seq Scan", Checked: true, Check: CheckPlan(tenancy.Postgres, "Seq Scan", ListIndex, true)},
		{Dialect: "pb", Name: "list", SQL: "SELECT 3", Text: "SCAN leads"},
	})
	for _, s := range []string{
		"#### sqlite: list\n\n```sql\nSELECT 1\n```\n\n```\nQUERY PLAN\n```\n\nCheck: the organization predicate and the order come from the index.\n",
		"Generic plan (plan_cache_mode = force_generic_plan):\n\n```\nSeq Scan\n```",
		"Check: no forward index scan of leads_gatehouse_list_idx",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("missing %q in:\n%s", s, md)
		}
	}
	if strings.Count(md, "Check:") != 2 {
		t.Errorf("unchecked plans got a verdict:\n%s", md)
	}
}
