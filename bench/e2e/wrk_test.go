package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := []byte("Running 2s test @ http://127.0.0.1:1\n  1 threads and 1 connections\n" +
		`E2E_RESULT {"requests":3000,"duration_us":2000000,"bytes":99,"errors":{"connect":0,"read":1,"write":0,"status":7,"timeout":2},` +
		`"latency_us":{"min":100,"mean":650.5,"max":9000,"p50":600,"p90":900,"p99":2500}}` + "\n")
	r, err := ParseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Requests: 3000, Seconds: 2, RPS: 1500, P50: 600, P90: 900, P99: 2500, Max: 9000, Mean: 650.5, Errors: 3, Non2xx: 7}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if _, err := ParseWrk([]byte("Running 2s test\n")); err == nil {
		t.Error("output without a result line parsed")
	}
	if _, err := ParseWrk([]byte(`E2E_RESULT {"requests":1,"duration_us":0}`)); err == nil {
		t.Error("a result without duration parsed")
	}
}

// TestRunWrk runs the real wrk (skipped when it is not installed) against
// two servers: one thread per port, ids rotated, headers and body sent.
func TestRunWrk(t *testing.T) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed")
	}
	var mu sync.Mutex
	hits := map[string]map[string]int{} // server → path → count
	server := func(name string) int {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get("Authorization") != "Bearer k" || string(body) != `{"a":1}` || r.Method != http.MethodPost {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			mu.Lock()
			if hits[name] == nil {
				hits[name] = map[string]int{}
			}
			hits[name][r.URL.Path]++
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		port, _ := strconv.Atoi(u.Port())
		return port
	}
	ports := []int{server("one"), server("two")}
	r, err := RunWrk(context.Background(), WrkOptions{
		Wrk: bin, Dir: t.TempDir(), Ports: ports, Connections: 5, Duration: time.Second,
		Workload: Workload{
			Name: "w", Method: http.MethodPost, Path: "/x/{id}", IDs: []string{"a", "b", "c"}, Body: `{"a":1}`,
			Header: map[string]string{"Authorization": "Bearer k", "Content-Type": "application/json"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Non2xx != 0 || r.Errors != 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Used != 4 || r.Connections != 5 || r.Workload != "w" {
		t.Errorf("connections %d used %d workload %q; want 4 of 5 (two per port)", r.Connections, r.Used, r.Workload)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"one", "two"} {
		for _, id := range []string{"a", "b", "c"} {
			if hits[name]["/x/"+id] == 0 {
				t.Errorf("server %s never got id %s: %v", name, id, hits)
			}
		}
		if len(hits[name]) != 3 {
			t.Errorf("server %s got paths %v", name, hits[name])
		}
	}
	if !strings.HasPrefix(headerLines(map[string]string{"B": "2", "A": "1"}), "A: 1\nB: 2\n") {
		t.Error("header lines are not sorted")
	}
}
