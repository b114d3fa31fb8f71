package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/protocol"
	"github.com/gregor-dev/gregor/internal/testutil"
)

// watchListener wraps the connections it accepts so that a test learns when
// the server, having received at least after bytes on a connection, reads
// from it again: it then waits for bytes the peer has not sent.
type watchListener struct {
	net.Listener
	after   int
	waiting chan struct{} // one value per connection
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, l: l}, nil
}

type watchConn struct {
	net.Conn
	l    *watchListener
	got  int // only the server's reader goroutine touches it
	once sync.Once
}

func (c *watchConn) Read(p []byte) (int, error) {
	if c.got >= c.l.after {
		c.once.Do(func() { c.l.waiting <- struct{}{} })
	}
	n, err := c.Conn.Read(p)
	c.got += n
	return n, err
}

// shutdown stops s, bounded so that a failed test does not hang on a
// connection still busy.
func shutdown(t *testing.T, s *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

func apiVersionsFrame(corr int32) []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	return kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)
}

// TestServerAnnouncedFramesDoNotAllocate reproduces the CVE-2022-34917
// class of attack: many connections announce 100 MB frames and send 10
// bytes. The server must not allocate the announced sizes (it used to: 50
// connections took a broker to 4.6 GB).
func TestServerAnnouncedFramesDoNotAllocate(t *testing.T) {
	const (
		conns     = 50
		announced = 100 << 20 // socket.request.max.bytes' default
		sent      = 10
	)
	hello := apiVersionsFrame(1)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &watchListener{Listener: raw, after: len(hello) + 4 + sent, waiting: make(chan struct{}, conns)}
	s := New(ln, Config{MaxRequestSize: announced}, echoHandler{started: make(chan struct{})})
	go s.Serve()
	defer shutdown(t, s)

	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
		// A first request that parses, so that the attack is not stopped
		// by the first-request bound alone.
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(c); err != nil {
			t.Fatalf("ApiVersions: %v", err)
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	attack := binary.BigEndian.AppendUint32(nil, announced)
	attack = append(attack, make([]byte, sent)...) // 10 bytes of the body
	for _, c := range clients {
		if _, err := c.Write(attack); err != nil {
			t.Fatal(err)
		}
	}
	for range conns {
		select {
		case <-ln.waiting:
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not read the announced frames")
		}
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	// Each connection may hold a first chunk of its frame (64 KiB);
	// allow four times that, where the old code took the 100 MB.
	const bound = conns * 256 << 10
	t.Logf("%d connections announcing %d MB: %.1f MB allocated, heap %.1f MB -> %.1f MB",
		conns, announced>>20, float64(allocated)/(1<<20), float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20))
	if allocated > bound {
		t.Fatalf("the server allocated %d bytes for %d frames of %d announced bytes (bound %d)", allocated, conns, announced, bound)
	}
	if used, _ := s.budget.state(); used > conns*protocol.InitialChunk {
		t.Fatalf("%d bytes of the request budget held for %d bytes received", used, conns*sent)
	}
}

// bigApiVersions is an ApiVersions v3 request frame of about size bytes
// (its client software name fills it).
func bigApiVersions(corr int32, size int) []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = strings.Repeat("n", size-40)
	req.ClientSoftwareVersion = "1"
	return kmsg.NewRequestFormatter().AppendRequest(nil, req, corr)
}

func dialHello(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(apiVersionsFrame(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	return c
}

func TestServerFirstRequestBound(t *testing.T) {
	s, err := Listen(Config{Addr: "127.0.0.1:0", MaxRequestSize: 1 << 20}, echoHandler{started: make(chan struct{})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer shutdown(t, s)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Announcing more than the first-request bound closes at once.
	c := dial()
	if _, err := c.Write(binary.BigEndian.AppendUint32(nil, DefaultFirstRequestMaxSize+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); !errors.Is(err, io.EOF) {
		t.Fatalf("oversized first frame: %v, want the connection closed", err)
	}
	// A first request within the bound is served.
	c = dial()
	first := bigApiVersions(2, DefaultFirstRequestMaxSize)
	if len(first) > DefaultFirstRequestMaxSize+4 {
		t.Fatalf("test frame of %d bytes", len(first))
	}
	if _, err := c.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatalf("first request at the bound: %v", err)
	}
	// After a request parsed, socket.request.max.bytes is the bound.
	c = dialHello(t, s)
	if _, err := c.Write(bigApiVersions(3, 900<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatalf("large second request: %v", err)
	}
}

// TestServerRequestBudgetBackpressure fills queued.max.request.bytes with
// partly received frames: further requests wait for memory, and are served
// once the frames holding it complete.
func TestServerRequestBudgetBackpressure(t *testing.T) {
	const limit = 256 << 10
	s, err := Listen(Config{Addr: "127.0.0.1:0", MaxRequestSize: 1 << 20, QueuedMaxRequestBytes: limit},
		echoHandler{started: make(chan struct{})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer shutdown(t, s)
	a, b, c := dialHello(t, s), dialHello(t, s), dialHello(t, s)
	bigA, bigB := bigApiVersions(10, 900<<10), bigApiVersions(11, 900<<10)

	// A outgrows the budget and overdraws it with its whole frame; B then
	// waits for memory before its first chunk, and so does C's small
	// request.
	if _, err := a.Write(bigA[:300<<10]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to overdraw the budget", func() bool { used, _ := s.budget.state(); return used > limit })
	if _, err := b.Write(bigB[:300<<10]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(apiVersionsFrame(12)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B and C to wait for memory", func() bool { _, w := s.budget.state(); return w == 2 })
	if used, _ := s.budget.state(); used > limit+1<<20 {
		t.Fatalf("%d bytes reserved, above the budget and one frame", used)
	}

	// A completes and is answered; its memory lets the others go on (B
	// may overdraw in turn, and C wait for B).
	if _, err := a.Write(bigA[300<<10:]); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(a); err != nil {
		t.Fatalf("A: %v", err)
	}
	if _, err := b.Write(bigB[300<<10:]); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]net.Conn{"B": b, "C": c} {
		if _, err := readFrame(conn); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFor(t, "the budget to be released", func() bool { used, w := s.budget.state(); return used == 0 && w == 0 })
}
