package dbtest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a private redis-server for a test that must stop and
// restart Redis (never the shared one): no persistence, on a free loopback
// port, stopped by its pid when the test ends.
type RedisServer struct {
	t    testing.TB
	Addr string // 127.0.0.1:<port>

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedisServer starts a private redis-server (skipping the test when
// the binary is missing, failing it under GATEHOUSE_REQUIRE_SERVICES=1) and
// waits until it answers.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "redis-server (for a private Redis)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	s := &RedisServer{t: t, Addr: addr}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server on its port (again, after Stop) and waits up to
// 5 s until it answers PING.
func (s *RedisServer) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("redis-server on %s does not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server by its pid and waits for it to exit (at most 5 s);
// it does nothing if the server is stopped.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.t.Errorf("redis-server pid %d did not exit within 5 s", cmd.Process.Pid)
	}
}

// Pid returns the server's process id, or 0 when it is stopped.
func (s *RedisServer) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// String describes the server for test logs.
func (s *RedisServer) String() string {
	if pid := s.Pid(); pid != 0 {
		return fmt.Sprintf("redis-server %s (pid %d)", s.Addr, pid)
	}
	return "redis-server " + s.Addr + " (stopped)"
}
