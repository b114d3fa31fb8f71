package server

import (
	"errors"
	"github.com/gregor-dev/gregor/internal/testutil"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer = testutil.SyncBuffer

// TestServerTrickledRequestIsClosed sends a request one byte every 20 ms to
// a server whose connections.max.idle.ms is 200 ms: every byte comes well
// within the idle timeout, but the whole request does not, so the
// connection must close (it used to stay open forever once the size prefix
// had arrived).
func TestServerTrickledRequestIsClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	var logs syncBuffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, Config{MaxRequestSize: 1 << 20, IdleTimeout: idle,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, echoHandler{started: make(chan struct{})})
	go s.Serve()
	defer shutdown(t, s)
	c := dialHello(t, s) // a request sent whole is served

	frame := bigApiVersions(2, 1000)
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := range frame {
			if _, err := c.Write(frame[i : i+1]); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	// A generous bound for a loaded machine: ten times the timeout.
	c.SetReadDeadline(time.Now().Add(10 * idle))
	_, err = c.Read(make([]byte, 1))
	elapsed := time.Since(start)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open %v into a trickled request (err %v)", elapsed, err)
	}
	if elapsed < idle {
		t.Fatalf("closed after %v, before the %v timeout", elapsed, idle)
	}
	remote := "remote=" + c.LocalAddr().String()
	waitFor(t, "the close to be logged", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "within connections.max.idle.ms") && strings.Contains(line, remote) {
				return true
			}
		}
		return false
	})
}

// TestServerIdleConnectionIsClosed: a connection idle between requests for
// connections.max.idle.ms is closed (it waits reading the socket itself,
// its buffers given back), and one that keeps asking stays open.
func TestServerIdleConnectionIsClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, Config{MaxRequestSize: 1 << 20, IdleTimeout: idle,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, echoHandler{started: make(chan struct{})})
	go s.Serve()
	defer shutdown(t, s)
	quiet, busy := dialHello(t, s), dialHello(t, s)
	start := time.Now()
	for time.Since(start) < 3*idle {
		if _, err := busy.Write(apiVersionsFrame(2)); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(busy); err != nil {
			t.Fatalf("a connection asking every %v was closed: %v", idle/4, err)
		}
		time.Sleep(idle / 4)
	}
	quiet.SetReadDeadline(time.Now().Add(10 * idle))
	if _, err := quiet.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection idle for %v is still open (err %v)", time.Since(start), err)
	}
}
