package redislimit_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Modes of the fault proxy.
const (
	pass   int32 = iota // forward both ways
	slow                // forward, delaying every reply chunk
	drop                // read and discard both ways: a black hole
	refuse              // close new connections at once: Redis gone
)

// faultProxy is a TCP proxy on loopback in front of Redis that can add
// latency, swallow traffic or refuse and cut connections.
type faultProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	delay  atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// Set switches the mode; slow uses delay.
func (p *faultProxy) Set(mode int32, delay time.Duration) {
	p.delay.Store(int64(delay))
	p.mode.Store(mode)
}

// cut closes every open connection.
func (p *faultProxy) cut() {
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
}

func (p *faultProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.mode.Load() == refuse {
			_ = down.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			_ = down.Close()
			continue
		}
		p.track(down)
		p.track(up)
		p.wg.Add(2)
		go p.pipe(up, down, false)
		go p.pipe(down, up, true)
	}
}

// pipe copies src to dst per the mode; replies (src is Redis) are the ones
// delayed in slow mode.
func (p *faultProxy) pipe(dst, src net.Conn, replies bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			switch p.mode.Load() {
			case drop:
				continue
			case slow:
				if replies {
					time.Sleep(time.Duration(p.delay.Load()))
				}
			case refuse:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
