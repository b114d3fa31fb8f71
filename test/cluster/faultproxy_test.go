package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startEcho runs a line echo server on 127.0.0.1:0 until the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newTestProxy(t *testing.T, target string, opts ...ProxyOption) *FaultProxy {
	t.Helper()
	p, err := NewFaultProxy(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// echoConn is a client connection to an echo server through a proxy.
type echoConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialEcho(t *testing.T, addr string) *echoConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoConn{t: t, conn: c, r: bufio.NewReader(c)}
}

// roundTrip sends line and returns the echo, or the error that ended the
// wait (a timeout after wait).
func (e *echoConn) roundTrip(line string, wait time.Duration) (string, error) {
	_ = e.conn.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(e.conn, line+"\n"); err != nil {
		return "", err
	}
	got, err := e.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

// mustRefuse asserts that a new connection to addr does not echo: under
// CutClose it is reset (the dial itself may already see the reset), under
// CutBlackHole it hangs.
func mustRefuse(t *testing.T, addr string, mode CutMode) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if mode == CutClose && errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	(&echoConn{t: t, conn: c, r: bufio.NewReader(c)}).mustBreak(mode)
}

func (e *echoConn) mustEcho(line string) {
	e.t.Helper()
	got, err := e.roundTrip(line, 2*time.Second)
	if err != nil || got != line {
		e.t.Fatalf("echo of %q: got %q, %v", line, got, err)
	}
}

// mustBreak asserts that the connection no longer echoes: under CutClose
// it is closed (EOF or reset) rather than silent.
func (e *echoConn) mustBreak(mode CutMode) {
	e.t.Helper()
	got, err := e.roundTrip("after-cut", time.Second)
	if err == nil {
		e.t.Fatalf("echo through a cut proxy: %q", got)
	}
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if mode == CutClose && timedOut {
		e.t.Fatalf("cut (close) connection hung instead of closing: %v", err)
	}
	if mode == CutBlackHole && !timedOut {
		e.t.Fatalf("black-holed connection failed with %v, want a timeout", err)
	}
}

func TestClusterProxyForwardsAndCuts(t *testing.T) {
	for _, mode := range []CutMode{CutClose, CutBlackHole} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newTestProxy(t, startEcho(t), WithCutMode(mode))
			open := dialEcho(t, p.Addr())
			open.mustEcho("hello")

			p.Cut()
			open.mustBreak(mode)
			mustRefuse(t, p.Addr(), mode)

			p.Heal()
			if mode == CutBlackHole {
				// Heal closes what was black-holed.
				if _, err := open.roundTrip("x", time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("black-holed connection after Heal: %v, want closed", err)
				}
			}
			healed := dialEcho(t, p.Addr())
			healed.mustEcho("again")
			checkFor(t, 2*time.Second, func() error {
				if n := p.Conns(); n != 1 {
					return errorf("%d connections open, want 1", n)
				}
				return nil
			})
		})
	}
}

func TestClusterProxyBlocksOneSource(t *testing.T) {
	// Sources are told apart by the client's local port, chosen and
	// named before dialling (the harness looks the port up in /proc).
	var mu sync.Mutex
	names := map[string]string{} // client local address -> source name
	p := newTestProxy(t, startEcho(t), WithClassify(func(c net.Conn) string {
		mu.Lock()
		defer mu.Unlock()
		return names[c.RemoteAddr().String()]
	}))
	dialAs := func(name string) (*echoConn, error) {
		var d net.Dialer
		for range 10 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			local := ln.Addr().(*net.TCPAddr)
			ln.Close()
			mu.Lock()
			names[local.String()] = name
			mu.Unlock()
			d.LocalAddr = local
			c, err := d.Dial("tcp", p.Addr())
			if errors.Is(err, syscall.EADDRINUSE) {
				continue // port taken meanwhile
			}
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { c.Close() })
			return &echoConn{t: t, conn: c, r: bufio.NewReader(c)}, nil
		}
		t.Fatal("could not dial from a chosen port")
		return nil, nil
	}
	mustDialAs := func(name string) *echoConn {
		c, err := dialAs(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := mustDialAs("a"), mustDialAs("b")
	a.mustEcho("a1")
	b.mustEcho("b1")

	p.Block("a")
	a.mustBreak(CutClose)
	b.mustEcho("b2")
	if a2, err := dialAs("a"); err == nil {
		a2.mustBreak(CutClose)
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	mustDialAs("b").mustEcho("b3")

	p.Unblock("a")
	mustDialAs("a").mustEcho("a2")
}

func TestClusterProxyLatency(t *testing.T) {
	p := newTestProxy(t, startEcho(t))
	c := dialEcho(t, p.Addr())
	c.mustEcho("warm")
	const lat = 100 * time.Millisecond
	p.SetLatency(lat)
	start := time.Now()
	c.mustEcho("slow")
	// Both directions are delayed.
	if rtt := time.Since(start); rtt < 2*lat {
		t.Fatalf("round trip %v with %v latency each way", rtt, lat)
	}
	p.SetLatency(0)
	start = time.Now()
	c.mustEcho("fast")
	if rtt := time.Since(start); rtt > lat {
		t.Fatalf("round trip %v after latency was removed", rtt)
	}
}

func TestClusterProxyOutlivesTarget(t *testing.T) {
	// A target that is down: connections close; once it is up (on the
	// same port) they forward again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p := newTestProxy(t, target)
	mustRefuse(t, p.Addr(), CutClose)
	ln, err = net.Listen("tcp", target)
	if err != nil {
		t.Skipf("target port taken meanwhile: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	dialEcho(t, p.Addr()).mustEcho("up")
}

func TestClusterProxyClose(t *testing.T) {
	p, err := NewFaultProxy(startEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dialEcho(t, p.Addr())
	c.mustEcho("x")
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	c.mustBreak(CutClose)
	if err := p.Close(); !errors.Is(err, ErrProxyClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestClusterPeerProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// A child process holding a connection is named after its pid.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	child := exec.Command(bash, "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; sleep 10", port))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pids := map[int]string{child.Process.Pid: "child"}
	if name, ok := peerProcess(conn, pids); !ok || name != "child" {
		t.Fatalf("peer of the child's connection: %q, %v", name, ok)
	}

	// A connection from this process belongs to no candidate.
	self, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	conn2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if name, ok := peerProcess(conn2, pids); ok {
		t.Fatalf("peer of this process's connection: %q", name)
	}
	pids[os.Getpid()] = "self"
	if name, ok := peerProcess(conn2, pids); !ok || name != "self" {
		t.Fatalf("peer of this process's connection: %q, %v", name, ok)
	}
}
