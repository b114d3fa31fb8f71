// Package wiretest is an in-process Kafka-protocol server for tests of
// broker-to-broker clients: it decodes requests with kmsg and writes back
// whatever the test's handler answers.
package wiretest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/protocol"
)

// Handler answers one request. Returning nil closes the connection without
// a response. ctx is cancelled when the server closes, so long polls end.
type Handler func(ctx context.Context, req kmsg.Request) kmsg.Response

// Server serves Handler on 127.0.0.1.
type Server struct {
	ln     net.Listener
	h      Handler
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewServer starts a server on a free loopback port.
func NewServer(h Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, h: h, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes all connections and waits for handlers to
// return.
func (s *Server) Close() {
	s.cancel()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// CloseConns closes the open connections but keeps listening.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var out []byte
	for {
		corr, req, err := ReadRequest(c)
		if err != nil {
			return
		}
		resp := s.h(s.ctx, req)
		if resp == nil {
			return
		}
		out = AppendResponse(out[:0], corr, resp)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// ReadRequest reads and decodes one request frame.
func ReadRequest(r io.Reader) (corr int32, req kmsg.Request, err error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n < 10 || n > 200<<20 {
		return 0, nil, fmt.Errorf("wiretest: frame size %d", n)
	}
	b, err := protocol.ReadFrame(r, int(n), nil)
	if err != nil {
		return 0, nil, err
	}
	h, body, err := protocol.ParseRequestHeader(b)
	if err != nil {
		return 0, nil, fmt.Errorf("wiretest: %w", err)
	}
	req = kmsg.RequestForKey(h.Key)
	if req == nil {
		return 0, nil, fmt.Errorf("wiretest: unknown key %d", h.Key)
	}
	req.SetVersion(h.Version)
	if err := req.ReadFrom(body); err != nil {
		return 0, nil, fmt.Errorf("wiretest: decode key %d v%d: %w", h.Key, h.Version, err)
	}
	return h.CorrelationID, req, nil
}

// AppendResponse appends a complete response frame for resp (whose version
// must be set) with the header Kafka uses for it.
func AppendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	return protocol.AppendResponse(dst, corr, resp)
}

// Answer returns the response kind for req with the request's version set,
// for handlers to fill in.
func Answer(req kmsg.Request) kmsg.Response {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp
}
