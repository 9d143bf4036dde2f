package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
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
