package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Baseline names the target the ratios compare with and, per workload, the
// baseline's workloads whose best figure counts (so a list is compared with
// PocketBase's better list: with or without the client's org filter).
type Baseline struct {
	Target string
	Best   map[string][]string
}

// Markdown renders results as two tables: throughput and latency
// percentiles per target and workload (one column group per connection
// count), then, when base.Target has results, each other target's req/s
// divided by the baseline's best at the same connection count. targets
// gives the row order; targets without results are left out.
func Markdown(results []Result, targets []string, base Baseline) string {
	var conns []int
	for _, r := range results {
		if !slices.Contains(conns, r.Connections) {
			conns = append(conns, r.Connections)
		}
	}
	slices.Sort(conns)
	find := func(target, workload string, c int) (Result, bool) {
		for _, r := range results {
			if r.Target == target && r.Workload == workload && r.Connections == c {
				return r, true
			}
		}
		return Result{}, false
	}
	var b strings.Builder
	b.WriteString("| target | workload |")
	sep := "|---|---|"
	for _, c := range conns {
		fmt.Fprintf(&b, " req/s (%s) | p50 | p90 | p99 |", plural(c, "conn"))
		sep += "---:|---:|---:|---:|"
	}
	b.WriteString("\n" + sep + "\n")
	var notes []string
	for _, t := range targets {
		for _, w := range workloadsOf(results, t) {
			fmt.Fprintf(&b, "| %s | %s |", t, w)
			for _, c := range conns {
				r, ok := find(t, w, c)
				if !ok {
					b.WriteString(" – | – | – | – |")
					continue
				}
				fmt.Fprintf(&b, " %s | %s | %s | %s |", FormatRPS(r.RPS), FormatLatency(r.P50), FormatLatency(r.P90), FormatLatency(r.P99))
				if r.Used != 0 && r.Used != r.Connections {
					notes = append(notes, fmt.Sprintf("%s, %s, %d connections: wrk opened %d", t, w, r.Connections, r.Used))
				}
				if r.Errors > 0 || r.Non2xx > 0 {
					notes = append(notes, fmt.Sprintf("%s, %s, %d connections: %d socket errors or timeouts, %d non-2xx responses of %d", t, w, r.Connections, r.Errors, r.Non2xx, r.Requests))
				}
			}
			b.WriteString("\n")
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	b.WriteString(Ratios(results, targets, base))
	return b.String()
}

// Ratios renders, when base.Target has results, each other target's req/s
// divided by the baseline's best figure for the workload at the same
// connection count; "" otherwise.
func Ratios(results []Result, targets []string, base Baseline) string {
	if base.Target == "" || len(workloadsOf(results, base.Target)) == 0 {
		return ""
	}
	var conns []int
	for _, r := range results {
		if !slices.Contains(conns, r.Connections) {
			conns = append(conns, r.Connections)
		}
	}
	slices.Sort(conns)
	find := func(target, workload string, c int) (Result, bool) {
		for _, r := range results {
			if r.Target == target && r.Workload == workload && r.Connections == c {
				return r, true
			}
		}
		return Result{}, false
	}
	var b strings.Builder
	var sep string
	// Ratios against the baseline's best figure per workload.
	var names []string
	for _, t := range targets {
		for _, w := range workloadsOf(results, t) {
			if t != base.Target && !slices.Contains(names, w) {
				names = append(names, w)
			}
		}
	}
	best := func(w string, c int) (float64, string) {
		cands := base.Best[w]
		if len(cands) == 0 {
			cands = []string{w}
		}
		var rps float64
		var which string
		for _, cw := range cands {
			if r, ok := find(base.Target, cw, c); ok && r.RPS > rps {
				rps, which = r.RPS, cw
			}
		}
		return rps, which
	}
	fmt.Fprintf(&b, "\nRatio of req/s to %s's best figure for the workload at the same connection count:\n\n", base.Target)
	b.WriteString("| target |")
	sep = "|---|"
	for _, w := range names {
		for _, c := range conns {
			fmt.Fprintf(&b, " %s (%s) |", w, plural(c, "conn"))
			sep += "---:|"
		}
	}
	b.WriteString("\n" + sep + "\n")
	fmt.Fprintf(&b, "| %s (req/s) |", base.Target)
	for _, w := range names {
		for _, c := range conns {
			rps, which := best(w, c)
			switch {
			case rps == 0:
				b.WriteString(" – |")
			case which != w:
				fmt.Fprintf(&b, " %s (%s) |", FormatRPS(rps), which)
			default:
				fmt.Fprintf(&b, " %s |", FormatRPS(rps))
			}
		}
	}
	b.WriteString("\n")
	for _, t := range targets {
		if t == base.Target || len(workloadsOf(results, t)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s |", t)
		for _, w := range names {
			for _, c := range conns {
				r, ok := find(t, w, c)
				rps, _ := best(w, c)
				if !ok || rps == 0 {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(&b, " %s× |", formatRatio(r.RPS/rps))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// PlansMarkdown renders plans as headed code blocks with the statement and
// the CheckPlan verdict.
func PlansMarkdown(plans []Plan) string {
	var b strings.Builder
	for _, p := range plans {
		fmt.Fprintf(&b, "#### %s: %s\n\n", p.Dialect, p.Name)
		b.WriteString("```sql\n" + p.SQL + "\n```\n\n")
		b.WriteString("```\n" + p.Text + "\n```\n\n")
		if p.Generic != "" {
			b.WriteString("Generic plan (plan_cache_mode = force_generic_plan):\n\n```\n" + p.Generic + "\n```\n\n")
		}
		switch {
		case !p.Checked:
		case p.Check == nil:
			b.WriteString("Check: the organization predicate and the order come from the index.\n\n")
		default:
			b.WriteString("Check: " + strings.ReplaceAll(p.Check.Error(), "\n", "; ") + ".\n\n")
		}
	}
	return b.String()
}

// workloadsOf returns target's workloads in first-seen order.
func workloadsOf(results []Result, target string) []string {
	var out []string
	for _, r := range results {
		if r.Target == target && !slices.Contains(out, r.Workload) {
			out = append(out, r.Workload)
		}
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// FormatRPS formats requests per second: whole numbers from 100 up, one
// decimal below.
func FormatRPS(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// FormatLatency formats microseconds as milliseconds with two significant
// decimals below 10 ms, one below 100 ms and none above.
func FormatLatency(us float64) string {
	ms := us / 1000
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
}

func formatRatio(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
