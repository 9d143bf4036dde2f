package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestProcStop(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	p, err := Start("sleeper", sleep, []string{"60"}, nil, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() || p.Pid() <= 0 {
		t.Fatal("not running")
	}
	start := time.Now()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || time.Since(start) > 5*time.Second {
		t.Errorf("exited %v after %v", p.Exited(), time.Since(start))
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second stop: %v", err)
	}
	// WaitHTTP gives up as soon as the process has exited.
	if err := WaitHTTP(context.Background(), "http://127.0.0.1:1/", p); err == nil {
		t.Error("WaitHTTP succeeded for an exited process")
	}
}

func TestWaitHTTPAndFreePorts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if err := WaitHTTP(context.Background(), srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("ports %v", ports)
	}
}

// TestBusyHelper is the process TestWaitIdle watches: with E2E_BUSY_HELPER
// set it spins for a second and then sleeps; otherwise it does nothing.
func TestBusyHelper(t *testing.T) {
	if os.Getenv("E2E_BUSY_HELPER") != "1" {
		return
	}
	end := time.Now().Add(time.Second)
	n := 0
	for time.Now().Before(end) {
		n++
	}
	time.Sleep(30 * time.Second)
}

func TestWaitIdle(t *testing.T) {
	p, err := Start("busy", os.Args[0], []string{"-test.run=^TestBusyHelper$"}, []string{"E2E_BUSY_HELPER=1"}, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	if _, err := cpuTicks(p.Pid()); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let it start spinning
	waited := WaitIdle(context.Background(), []*Proc{p}, 20*time.Second)
	if waited < 400*time.Millisecond || waited > 15*time.Second {
		t.Errorf("waited %v for a process busy for about a second", waited)
	}
	if again := WaitIdle(context.Background(), []*Proc{p}, 20*time.Second); again > 2*time.Second {
		t.Errorf("waited %v for an idle process", again)
	}
}
