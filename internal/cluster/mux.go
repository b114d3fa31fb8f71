package cluster

// The controller listener carries two protocols, as KRaft's controller
// listener speaks Kafka: Raft's own transport, and Kafka requests from
// brokers that do not know the quorum leader yet (a node outside the voters
// registers through any voter's controller address). Raft connections
// dialled by this package open with raftMagic; anything else is a Kafka
// connection, whose first byte (the top byte of a frame size far below
// 1 GiB) is never raftMagic.

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const raftMagic = 'R'

// muxListener splits one listener into the Raft stream layer and a Kafka
// listener.
type muxListener struct {
	ln    net.Listener
	raft  chan net.Conn
	kafka chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMux(ln net.Listener) *muxListener {
	m := &muxListener{ln: ln, raft: make(chan net.Conn), kafka: make(chan net.Conn), done: make(chan struct{})}
	go m.acceptLoop()
	return m
}

func (m *muxListener) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.close()
			return
		}
		go m.route(c)
	}
}

// route reads the first byte (bounded in time, so an idle connection cannot
// hold a goroutine) and hands the connection to its protocol.
func (m *muxListener) route(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	to := m.kafka
	var conn net.Conn = &bufferedConn{Conn: c, r: br}
	if first[0] == raftMagic {
		br.Discard(1)
		to = m.raft
	}
	select {
	case to <- conn:
	case <-m.done:
		c.Close()
	}
}

func (m *muxListener) close() {
	m.once.Do(func() {
		close(m.done)
		m.ln.Close()
	})
}

// bufferedConn is a connection whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	m  *muxListener
	ch chan net.Conn
}

func (l chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

func (l chanListener) Close() error   { l.m.close(); return nil }
func (l chanListener) Addr() net.Addr { return l.m.ln.Addr() }

// raftStream is the Raft transport's stream layer over the mux.
type raftStream struct {
	chanListener
	advertise net.Addr
}

func (s raftStream) Addr() net.Addr { return s.advertise }

func (s raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{raftMagic}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
