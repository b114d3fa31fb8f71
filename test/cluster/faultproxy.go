// Package cluster runs several gregor processes as one cluster and breaks
// it: processes are killed, stopped and restarted, and every Kafka and
// controller (Raft) address a node advertises is a FaultProxy, so the test
// can cut a node off the network while its process keeps running.
//
// This file holds the proxy; harness_test.go the cluster; workload_test.go
// the producer and checker the scenarios share; the scenarios live in the
// other _test.go files. Scenarios that do not pass yet against the broker
// carry the build tag cluster_wip:
//
//	go test -tags cluster_wip -run TestCluster ./test/cluster/
package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// CutMode says what a cut FaultProxy does with connections.
type CutMode int

const (
	// CutClose resets every open connection through the proxy (both
	// sides, with an RST) and resets new ones as soon as they are
	// accepted, so peers see "connection reset" at once, much as with a
	// crashed host or a refused connection. It is the default: failures
	// are noticed quickly, which keeps tests short.
	CutClose CutMode = iota
	// CutBlackHole stops forwarding: bytes read from either side are
	// dropped, open connections stay open and new ones are accepted and
	// then ignored, so peers see nothing but timeouts, as across a
	// network partition. Heal closes the black-holed connections (their
	// streams have lost bytes) and forwards new ones again.
	CutBlackHole
)

func (m CutMode) String() string {
	switch m {
	case CutClose:
		return "close"
	case CutBlackHole:
		return "black-hole"
	}
	return fmt.Sprintf("CutMode(%d)", int(m))
}

// FaultProxy forwards TCP connections from a listener on 127.0.0.1:0 to a
// target address, and injects faults: Cut and Heal for the whole proxy,
// Block and Unblock for connections from one source (as told by the
// Classify function), and added latency.
//
// The target need not be up: a connection to a target that refuses is
// reset, and the next one is tried afresh, so a proxy outlives the
// restarts of the process behind it.
//
// Connections are ended with an RST rather than a FIN: a listener cannot
// refuse one connection, and a client that sees a clean EOF right after
// connecting may take it for a protocol mismatch and give up (franz-go
// fails records on such an EOF, as if TLS were misconfigured), where a
// reset, like a refused dial, is retried.
type FaultProxy struct {
	target   string
	addr     string // the listening address, kept across Refuse and Listen
	classify func(net.Conn) string

	mu       sync.Mutex // guards the fields below
	ln       net.Listener
	refusing bool // Refuse: not listening
	cut      bool
	mode     CutMode
	blocked  map[string]bool
	latency  time.Duration
	conns    map[*proxyConn]struct{}
	closed   bool

	wg sync.WaitGroup // the accept loop and every connection's goroutines
}

// ErrProxyClosed is returned by the proxy's methods after Close.
var ErrProxyClosed = errors.New("cluster: fault proxy closed")

// ProxyOption configures a FaultProxy.
type ProxyOption func(*FaultProxy)

// WithClassify sets the function that names the source of an accepted
// connection ("" when unknown); Block and Unblock act on these names. It
// runs once per connection, before any byte is forwarded, on the
// connection's own goroutine.
func WithClassify(fn func(net.Conn) string) ProxyOption {
	return func(p *FaultProxy) { p.classify = fn }
}

// WithCutMode sets what Cut and Block do (CutClose by default).
func WithCutMode(m CutMode) ProxyOption {
	return func(p *FaultProxy) { p.mode = m }
}

// NewFaultProxy listens on 127.0.0.1:0 and forwards to target.
func NewFaultProxy(target string, opts ...ProxyOption) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cluster: proxy listen: %w", err)
	}
	p := &FaultProxy{
		target:  target,
		addr:    ln.Addr().String(),
		ln:      ln,
		blocked: make(map[string]bool),
		conns:   make(map[*proxyConn]struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return p, nil
}

// Addr is the proxy's listening address, host:port.
func (p *FaultProxy) Addr() string { return p.addr }

// Refuse stops listening, so that new connections are refused, as on a
// host whose process is gone, instead of accepted and reset: some clients
// tell the two apart (kafka-go sends its group coordinator lookups to the
// first bootstrap address that takes a TCP connection). Open connections
// are left as they are. Listen undoes it.
func (p *FaultProxy) Refuse() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrProxyClosed
	case p.refusing:
		return nil
	}
	p.refusing = true
	return p.ln.Close() // ends acceptLoop
}

// Listen undoes Refuse: the proxy listens on its address again.
func (p *FaultProxy) Listen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrProxyClosed
	case !p.refusing:
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("cluster: proxy listen again on %s: %w", p.addr, err)
	}
	p.ln, p.refusing = ln, false
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return nil
}

// Target is the address the proxy forwards to.
func (p *FaultProxy) Target() string { return p.target }

// Cut breaks every connection through the proxy, open and new, as the
// cut mode says, until Heal.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.applyLocked()
}

// Heal undoes Cut. Connections from blocked sources stay broken.
func (p *FaultProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	p.applyLocked()
}

// Block breaks the connections whose source is src, open and new, as Cut
// does for all of them, until Unblock(src).
func (p *FaultProxy) Block(src string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked[src] = true
	p.applyLocked()
}

// Unblock undoes Block(src).
func (p *FaultProxy) Unblock(src string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.blocked, src)
	p.applyLocked()
}

// SetLatency delays every chunk of bytes forwarded in either direction by
// d from now on (0 for none). Chunks keep their order; throughput is not
// limited.
func (p *FaultProxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// Conns is the number of connections currently open through the proxy.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines to end.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrProxyClosed
	}
	p.closed = true
	var err error
	if !p.refusing {
		err = p.ln.Close()
	}
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// brokenLocked reports whether a connection from src must not forward.
func (p *FaultProxy) brokenLocked(src string) bool {
	return p.cut || p.blocked[src]
}

// applyLocked brings every open connection in line with the cut and
// block state: under CutClose broken connections are closed; under
// CutBlackHole they stop forwarding, and those black-holed earlier that
// are no longer broken are closed (bytes were dropped in the middle of
// their streams).
func (p *FaultProxy) applyLocked() {
	for c := range p.conns {
		broken := p.brokenLocked(c.src)
		switch {
		case broken && p.mode == CutClose:
			c.close()
		case broken:
			c.blackHoled = true
		case c.blackHoled:
			c.close()
		}
	}
}

func (p *FaultProxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		p.wg.Add(1)
		go p.serve(conn)
	}
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	client, upstream net.Conn
	src              string
	blackHoled       bool // guarded by FaultProxy.mu
	closed           atomic.Bool
	closeOnce        sync.Once
}

// close closes both sides. upstream is set under FaultProxy.mu, and close
// runs either under that lock or on a goroutine started after upstream was
// set; a close that comes while dialling leaves serve to close upstream.
func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		reset(c.client)
		if c.upstream != nil {
			reset(c.upstream)
		}
	})
}

// serve runs one connection: classify it, dial the target, then forward
// both ways until either side closes or the proxy breaks the connection.
func (p *FaultProxy) serve(client net.Conn) {
	defer p.wg.Done()
	c := &proxyConn{client: client}
	if p.classify != nil {
		c.src = p.classify(client)
	}
	if !p.register(c) {
		reset(client)
		return
	}
	defer p.unregister(c)
	defer c.close()

	p.mu.Lock()
	holeNow := c.blackHoled
	p.mu.Unlock()
	if holeNow {
		// Accepted into a black hole: swallow what the client sends
		// until the proxy closes the connection.
		_, _ = io.Copy(io.Discard, client)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // target down: the client sees its connection closed
	}
	p.mu.Lock()
	c.upstream = up
	gone := p.closed || c.closed.Load()
	p.mu.Unlock()
	if gone {
		reset(up)
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(c, up, client); done <- struct{}{} }()
	go func() { p.pipe(c, client, up); done <- struct{}{} }()
	<-done
	c.close()
	<-done
}

// register adds c to the open connections unless it must be refused at
// once; a black-holed c is registered (so that Heal or Close ends it).
func (p *FaultProxy) register(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.brokenLocked(c.src) {
		if p.mode == CutClose {
			return false
		}
		c.blackHoled = true
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) unregister(c *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// chunk is bytes read from one side, to be written to the other at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies from src to dst for connection c, dropping bytes while c is
// black-holed and delaying them by the proxy's latency. A reader goroutine
// hands chunks to this one through a channel, so that latency delays each
// chunk without slowing the reads behind it.
func (p *FaultProxy) pipe(c *proxyConn, dst, src net.Conn) {
	chunks := make(chan chunk, 64)
	go func() {
		defer close(chunks)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				drop, lat := c.blackHoled, p.latency
				p.mu.Unlock()
				if !drop {
					chunks <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(lat)}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range chunks {
		if wait := time.Until(ch.due); wait > 0 {
			time.Sleep(wait)
		}
		p.mu.Lock()
		drop := c.blackHoled
		p.mu.Unlock()
		if drop {
			continue
		}
		if _, err := dst.Write(ch.data); err != nil {
			c.close()
			break
		}
	}
	// Unblock the reader if it is stuck sending, then wait for it to end
	// (closing the connection ends its Read).
	c.close()
	for range chunks {
	}
}

// reset closes conn with an RST (SO_LINGER 0) instead of a FIN.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
