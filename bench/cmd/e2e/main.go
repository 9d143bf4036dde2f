// Command e2e runs the end-to-end load benchmark (see package
// gatehouse.dev/bench/e2e); bench/e2e/run.sh builds the binaries and calls
// it. It prints the result tables and the query plans as Markdown on
// standard output, progress on standard error, and writes report.json and
// report.md into -dir.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse.dev/bench/e2e"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o e2e.Options
	fs.StringVar(&o.Joby, "joby", "", "examples/joby binary (required)")
	fs.StringVar(&o.PocketBase, "pocketbase", "", "bench/pocketbase binary (empty: no PocketBase)")
	fs.StringVar(&o.Bare, "bare", "", "bench/cmd/bare binary, the hand-written baseline (empty: no bare targets)")
	fs.StringVar(&o.Wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&o.Dir, "dir", "", "work directory (required)")
	fs.StringVar(&o.Postgres, "postgres", "", "PostgreSQL URL in which each PostgreSQL target gets a fresh schema (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	fs.StringVar(&o.Redis, "redis", "", "Redis URL of the Redis targets (default redis://127.0.0.1:6379/0)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up per target (list at the highest connection count)")
	fs.IntVar(&o.PerOrg, "leads", 10_000, "leads per organization")
	fs.IntVar(&o.Runs, "runs", 1, "rounds over all targets; the tables give each cell's median")
	targets := fs.String("targets", "", "comma-separated target ids (default all): "+targetIDs())
	conns := fs.String("connections", "1,16", "comma-separated connection counts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Joby == "" || o.Dir == "" {
		return fmt.Errorf("-joby and -dir are required")
	}
	if *targets != "" {
		o.Targets = strings.Split(*targets, ",")
	}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			return fmt.Errorf("-connections: %q is not a positive number", c)
		}
		o.Connections = append(o.Connections, n)
	}
	o.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	load := loadavg()
	rep, runErr := e2e.Run(ctx, o)
	md := markdown(rep, o, load, loadavg())
	if _, err := io.WriteString(stdout, md); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "report.json"), js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%d target(s) failed", len(rep.Failures))
	}
	return nil
}

func targetIDs() string {
	var ids []string
	for _, t := range e2e.Targets() {
		ids = append(ids, t.ID)
	}
	return strings.Join(ids, ", ")
}

func markdown(rep e2e.Report, o e2e.Options, before, after string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## End-to-end run of %s\n\n", rep.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "%s per run, %s, %d leads per organization, %s, %d CPUs; load average before %s, after %s.\n\n",
		rep.Duration, "connections "+joinInts(o.Connections), o.PerOrg, runtime.Version(), runtime.NumCPU(), before, after)
	if o.Runs > 1 {
		fmt.Fprintf(&b, "Every figure is the median of %d interleaved rounds (each column on its own; report.json keeps every round).\n\n", o.Runs)
	}
	b.WriteString(e2e.Markdown(rep.Results, rep.Targets, e2e.PocketBaseBaseline()))
	// gatehouse against the hand-written baseline on the same database.
	for _, pg := range []bool{false, true} {
		var same []string
		for _, t := range e2e.Targets() {
			if t.Postgres == pg && !t.PocketBase && slices.Contains(rep.Targets, t.Name) {
				same = append(same, t.Name)
			}
		}
		b.WriteString(e2e.Ratios(rep.Results, same, e2e.BareBaseline(pg)))
	}
	if len(rep.Failures) > 0 {
		b.WriteString("\nFailed targets:\n\n")
		for _, f := range rep.Failures {
			b.WriteString("- " + f + "\n")
		}
	}
	if len(rep.Plans) > 0 {
		b.WriteString("\n### Query plans\n\n")
		b.WriteString(e2e.PlansMarkdown(rep.Plans))
	}
	return b.String()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " and ")
}

// loadavg returns the 1-minute load average, or "?" off Linux.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
