package e2e

import (
	"slices"
	"sort"
)

// MedianResults folds the results of several rounds into one result per
// target, workload and connection count, in the order each cell first
// appears. Every figure is the median of its own column (so a median p99
// need not come from the same round as the median req/s); counts of
// requests, errors and non-2xx responses are summed over the rounds, and
// Of records how many rounds were folded. With an even number of rounds
// the median is the mean of the two middle values.
func MedianResults(rounds []Result) []Result {
	type cell struct {
		target, workload string
		conns            int
	}
	var order []cell
	groups := map[cell][]Result{}
	for _, r := range rounds {
		c := cell{r.Target, r.Workload, r.Connections}
		if _, ok := groups[c]; !ok {
			order = append(order, c)
		}
		groups[c] = append(groups[c], r)
	}
	out := make([]Result, 0, len(order))
	for _, c := range order {
		g := groups[c]
		m := Result{Target: c.target, Workload: c.workload, Connections: c.conns, Of: len(g)}
		col := func(f func(Result) float64) float64 {
			v := make([]float64, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			return median(v)
		}
		m.RPS = col(func(r Result) float64 { return r.RPS })
		m.P50 = col(func(r Result) float64 { return r.P50 })
		m.P90 = col(func(r Result) float64 { return r.P90 })
		m.P99 = col(func(r Result) float64 { return r.P99 })
		m.Max = col(func(r Result) float64 { return r.Max })
		m.Mean = col(func(r Result) float64 { return r.Mean })
		m.Seconds = col(func(r Result) float64 { return r.Seconds })
		used := make([]int, len(g))
		for i, r := range g {
			m.Requests += r.Requests
			m.Errors += r.Errors
			m.Non2xx += r.Non2xx
			used[i] = r.Used
		}
		m.Used = slices.Min(used)
		out = append(out, m)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
