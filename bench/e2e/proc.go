package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a process the runner started; Stop ends it by its pid.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// Start starts bin with args and env added to the environment, its output
// appended to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("e2e: start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process to exit and returns its exit error.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process and waits up to grace for it to exit,
// then kills it. It returns nil when the process exited, whatever its
// status after SIGTERM.
func (p *Proc) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("e2e: %s (pid %d) did not stop within %v: killed", p.Name, p.Pid(), grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("e2e: %s (pid %d) survives SIGKILL", p.Name, p.Pid())
	}
}

// FreePorts returns n ports on 127.0.0.1 that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// WaitHTTP polls url until it answers 200, p exits or ctx ends.
func WaitHTTP(ctx context.Context, url string, p *Proc) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("e2e: %s exited before answering %s: %v (see its log)", p.Name, url, p.err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("e2e: %s does not answer", url), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cpuTicks returns the user+system CPU time of pid in clock ticks, from
// /proc/<pid>/stat (fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("e2e: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("e2e: /proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("e2e: /proc/%d/stat: %w", pid, err)
	}
	return u + s, nil
}

// WaitIdle waits until the processes used at most 2 clock ticks of CPU
// (20 ms at the usual 100 Hz) together in 250 ms, or until maxWait has
// passed; it returns how long it waited. A server keeps working on the
// requests a load generator abandoned at the end of its run (a slow list
// can take seconds); without this the next run would measure that
// leftover work. Where /proc is missing it waits one second.
func WaitIdle(ctx context.Context, ps []*Proc, maxWait time.Duration) time.Duration {
	start := time.Now()
	total := func() (int64, bool) {
		var sum int64
		for _, p := range ps {
			if p.Exited() {
				continue
			}
			t, err := cpuTicks(p.Pid())
			if err != nil {
				return 0, false
			}
			sum += t
		}
		return sum, true
	}
	prev, ok := total()
	if !ok {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return time.Since(start)
	}
	for time.Since(start) < maxWait {
		select {
		case <-ctx.Done():
			return time.Since(start)
		case <-time.After(250 * time.Millisecond):
		}
		now, ok := total()
		if !ok || now-prev <= 2 {
			return time.Since(start)
		}
		prev = now
	}
	return time.Since(start)
}
