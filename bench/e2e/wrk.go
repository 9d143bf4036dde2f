package e2e

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed workload.lua
var workloadLua []byte

// Workload is one kind of request.
type Workload struct {
	// Name is the workload's row label ("list", "filter", "get", "create").
	Name   string
	Method string
	// Path is the request path; "{id}" in it is replaced by each of IDs in
	// turn, one per request.
	Path string
	IDs  []string
	Body string
	// Header holds the request headers (authorization, content type).
	Header map[string]string
}

// WrkOptions configures one wrk run.
type WrkOptions struct {
	// Wrk is the wrk binary; "" means "wrk" on PATH.
	Wrk string
	// Dir receives the Lua script and the id file; it must exist.
	Dir string
	// Ports are the ports on 127.0.0.1 to load; with several, wrk gets one
	// thread per port and Connections is rounded down to a multiple of
	// len(Ports) (wrk divides connections evenly between threads).
	Ports       []int
	Workload    Workload
	Connections int
	// Threads is wrk's thread count with one port; zero means
	// min(Connections, 2).
	Threads  int
	Duration time.Duration
	// Timeout is wrk's request timeout; zero means 10 s.
	Timeout time.Duration
}

// Result is the outcome of one wrk run.
type Result struct {
	Target      string  `json:"target"`
	Workload    string  `json:"workload"`
	Connections int     `json:"connections"` // as asked for
	Used        int     `json:"used"`        // connections wrk opened
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	// Latencies in microseconds.
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
	// Errors counts socket errors and timeouts; Non2xx the responses whose
	// status was not 2xx or 3xx.
	Errors int64 `json:"errors"`
	Non2xx int64 `json:"non_2xx"`
	// Round is the round of the result (1-based; 0 in a median).
	Round int `json:"round,omitempty"`
	// Of is how many rounds a median was taken of (0 for a single round).
	Of int `json:"of,omitempty"`
}

// RunWrk runs wrk once and returns its result (Target, Workload and
// Connections filled from opts).
func RunWrk(ctx context.Context, opts WrkOptions) (Result, error) {
	if len(opts.Ports) == 0 {
		return Result{}, errors.New("e2e: wrk: no ports")
	}
	if opts.Connections <= 0 || opts.Duration <= 0 {
		return Result{}, errors.New("e2e: wrk: connections and duration must be positive")
	}
	bin := opts.Wrk
	if bin == "" {
		bin = "wrk"
	}
	threads, conns := opts.Threads, opts.Connections
	if threads <= 0 {
		threads = min(conns, 2)
	}
	if len(opts.Ports) > 1 {
		threads = len(opts.Ports)
		if conns < threads {
			threads = conns // fewer connections than pods: the first pods only
		}
		conns -= conns % threads
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	script := filepath.Join(opts.Dir, "workload.lua")
	if err := os.WriteFile(script, workloadLua, 0o644); err != nil {
		return Result{}, err
	}
	w := opts.Workload
	env := append(os.Environ(),
		"E2E_PORTS="+joinInts(opts.Ports),
		"E2E_METHOD="+w.Method,
		"E2E_PATH="+w.Path,
		"E2E_BODY="+w.Body,
		"E2E_HEADERS="+headerLines(w.Header),
		"E2E_IDS=",
	)
	if len(w.IDs) > 0 {
		ids := filepath.Join(opts.Dir, "ids-"+w.Name+".txt")
		if err := os.WriteFile(ids, []byte(strings.Join(w.IDs, "\n")+"\n"), 0o644); err != nil {
			return Result{}, err
		}
		env[len(env)-1] = "E2E_IDS=" + ids
	}
	args := []string{
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(max(1, int(opts.Duration.Round(time.Second)/time.Second))) + "s",
		"--timeout", strconv.Itoa(max(1, int(timeout/time.Second))) + "s",
		"-s", script,
		fmt.Sprintf("http://127.0.0.1:%d", opts.Ports[0]),
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("e2e: wrk %s: %w: %s%s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	r, err := ParseWrk(stdout.Bytes())
	if err != nil {
		return Result{}, err
	}
	r.Workload, r.Connections, r.Used = w.Name, opts.Connections, conns
	return r, nil
}

// ParseWrk reads the E2E_RESULT line that workload.lua prints at the end of
// a wrk run.
func ParseWrk(out []byte) (Result, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "E2E_RESULT ")
		if !ok {
			continue
		}
		var raw struct {
			Requests   int64 `json:"requests"`
			DurationUS int64 `json:"duration_us"`
			Errors     struct {
				Connect, Read, Write, Status, Timeout int64
			} `json:"errors"`
			Latency struct {
				Mean                    float64
				Min, Max, P50, P90, P99 float64
			} `json:"latency_us"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return Result{}, fmt.Errorf("e2e: wrk result: %w", err)
		}
		if raw.DurationUS <= 0 {
			return Result{}, errors.New("e2e: wrk result: no duration")
		}
		secs := float64(raw.DurationUS) / 1e6
		e := raw.Errors
		return Result{
			Requests: raw.Requests, Seconds: secs, RPS: float64(raw.Requests) / secs,
			P50: raw.Latency.P50, P90: raw.Latency.P90, P99: raw.Latency.P99,
			Max: raw.Latency.Max, Mean: raw.Latency.Mean,
			Errors: e.Connect + e.Read + e.Write + e.Timeout, Non2xx: e.Status,
		}, nil
	}
	return Result{}, fmt.Errorf("e2e: wrk printed no E2E_RESULT line: %q", truncate(out, 2000))
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func headerLines(h map[string]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ": " + h[k] + "\n")
	}
	return b.String()
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
