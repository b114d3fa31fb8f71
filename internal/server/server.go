package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/metrics"
	"github.com/gregor-dev/gregor/internal/protocol"
)

// errTooManyFiles is a transient accept failure: wait and retry.
var errTooManyFiles = syscall.EMFILE

// Config configures a Server.
type Config struct {
	Addr           string // listen address, host:port
	MaxRequestSize int32  // socket.request.max.bytes
	// QueuedMaxRequestBytes is queued.max.request.bytes: the bytes that the
	// frames of all connections may hold together (see the package doc).
	// Kafka's default, -1, means unbounded there; here it and any value
	// <= 0 mean MaxRequestSize, so that a broker's request memory is
	// bounded by default (by twice socket.request.max.bytes, counting the
	// one frame that may overdraw).
	QueuedMaxRequestBytes int64
	// FirstRequestMaxSize bounds the frames of a connection until one of
	// its requests parsed; 0 means DefaultFirstRequestMaxSize. It is
	// capped by MaxRequestSize.
	FirstRequestMaxSize int32
	// IdleTimeout is connections.max.idle.ms: a connection idle that long
	// between requests is closed, and so is one whose request, once its
	// first byte arrived, is not whole that long after. 0 = none.
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Metrics, when set, counts connections and each request's API and
	// time from its arrival to its answer.
	Metrics *metrics.Metrics
}

// DefaultFirstRequestMaxSize is the default Config.FirstRequestMaxSize:
// 512 KiB, Kafka's sasl.server.max.receive.size, the bound Kafka puts on
// what a peer sends before it authenticated. A client's first request is
// ApiVersions (a few hundred bytes) or, from clients older than Kafka 0.10,
// Metadata or a Produce, which stays below this unless the producer's
// batch is huge.
const DefaultFirstRequestMaxSize = 512 << 10

// Server accepts connections and serves requests on them.
type Server struct {
	cfg     Config
	ln      net.Listener
	handler Handler
	logger  *slog.Logger

	ctx    context.Context // cancelled at Shutdown: wakes long polls and budget waits
	cancel context.CancelFunc
	budget *budget

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// Listen binds cfg.Addr and returns a server for it.
func Listen(cfg Config, h Handler) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen %s: %w", cfg.Addr, err)
	}
	return New(ln, cfg, h), nil
}

// New returns a server for a bound listener (so the caller can learn the
// real address, e.g. of port 0, before building the handler).
func New(ln net.Listener, cfg Config, h Handler) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueuedMaxRequestBytes <= 0 {
		cfg.QueuedMaxRequestBytes = int64(cfg.MaxRequestSize)
	}
	if cfg.FirstRequestMaxSize <= 0 {
		cfg.FirstRequestMaxSize = DefaultFirstRequestMaxSize
	}
	cfg.FirstRequestMaxSize = min(cfg.FirstRequestMaxSize, cfg.MaxRequestSize)
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ln: ln, handler: h, logger: cfg.Logger, ctx: ctx, cancel: cancel,
		budget: newBudget(cfg.QueuedMaxRequestBytes), conns: map[*conn]struct{}{}}
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve() error {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		delay = 0
		c := &conn{s: s, nc: nc, remote: nc.RemoteAddr(), closed: make(chan struct{})}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.cfg.Metrics.Connection(1)
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, lets each connection finish the request it is
// serving (long polls are woken and answer at once), closes idle
// connections, and waits for all of them or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.ln.Close()
	for c := range s.conns {
		c.closeIfIdleLocked()
	}
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// conn is one client connection: one request in flight at a time, answered
// in order.
type conn struct {
	s      *Server
	nc     net.Conn
	remote net.Addr
	busy   bool          // guarded by s.mu: a request is being served
	closed chan struct{} // closed when the connection is
}

// closeIfIdleLocked unblocks a connection waiting for its next request.
func (c *conn) closeIfIdleLocked() {
	if !c.busy {
		c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// waitForRequest marks the connection idle and arms the idle timeout; it
// returns false if the server is shutting down and the connection should
// close instead. The deadline is set under the lock so that Shutdown's
// closeIfIdleLocked cannot be overwritten by it.
func (c *conn) waitForRequest() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.busy = false
	var deadline time.Time
	if t := c.s.cfg.IdleTimeout; t > 0 {
		deadline = time.Now().Add(t)
	}
	c.nc.SetReadDeadline(deadline)
	return !c.s.closing
}

// setBusy marks the connection busy; it returns false if the server is
// shutting down and the connection should close instead.
func (c *conn) setBusy() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.busy = true
	return !c.s.closing
}

// connState is what a connection keeps from one request to the next.
type connState struct {
	br       *bufio.Reader // nil while idle: see readFirstByte
	log      *slog.Logger
	releaser FrameReleaser
	out      []byte  // response encoding buffer, nil while idle
	sizeBuf  [4]byte // a frame's size prefix
	parsed   bool    // a request of this connection parsed
}

// Connections borrow their read buffer and response buffer while they
// serve a request and give them back when they wait for the next one, so
// that an idle connection costs its goroutine and socket, not 64 KiB or
// more of buffers: a broker holds thousands of mostly idle connections.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	outPool    sync.Pool // of *[]byte
)

// maxPooledOut is the largest response buffer kept for reuse: a large
// fetch response's buffer is left to the garbage collector.
const maxPooledOut = 1 << 20

// readFirstByte waits for the first byte of the next request. With nothing
// buffered the connection waits holding no buffers (see readerPool) and
// borrows them again once a byte arrived.
func (st *connState) readFirstByte(nc net.Conn) (byte, error) {
	if st.br != nil && st.br.Buffered() > 0 {
		return st.br.ReadByte()
	}
	st.releaseBuffers()
	for {
		n, err := nc.Read(st.sizeBuf[:1])
		if n == 1 {
			st.br = readerPool.Get().(*bufio.Reader)
			st.br.Reset(nc)
			return st.sizeBuf[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// outBuf is the response buffer, borrowed if the connection has none.
func (st *connState) outBuf() []byte {
	if st.out == nil {
		if b, ok := outPool.Get().(*[]byte); ok {
			st.out = *b
		}
	}
	return st.out[:0]
}

// releaseBuffers gives the connection's buffers back to their pools.
func (st *connState) releaseBuffers() {
	if st.br != nil {
		st.br.Reset(nil)
		readerPool.Put(st.br)
		st.br = nil
	}
	if st.out != nil && cap(st.out) <= maxPooledOut {
		b := st.out[:0]
		outPool.Put(&b)
	}
	st.out = nil
}

func (c *conn) serve() {
	defer func() {
		c.s.cfg.Metrics.Connection(-1)
		c.nc.Close()
		close(c.closed)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.wg.Done()
	}()
	st := &connState{log: c.s.logger.With("remote", c.remote.String())}
	defer st.releaseBuffers()
	st.releaser, _ = c.s.handler.(FrameReleaser)
	for c.serveRequest(st) {
		// A client that pipelines requests never waits for input, and
		// its connection would keep this goroutine running for whole
		// scheduler time slices (10 ms), starving every connection
		// waiting for a processor behind it. With the next request
		// already here it yields instead: one request is one turn, and
		// the connection goes to the back of the run queue, as each
		// request goes to the back of the request queue all connections
		// share in Kafka. A connection whose next read waits yields there.
		if st.br != nil && st.br.Buffered() > 0 {
			runtime.Gosched()
		}
	}
}

// serveRequest reads, serves and answers one request; false closes the
// connection.
func (c *conn) serveRequest(st *connState) bool {
	log := st.log
	if !c.waitForRequest() {
		return false
	}
	first, err := st.readFirstByte(c.nc)
	if err != nil {
		if !errors.Is(err, io.EOF) && !c.closingNow() {
			log.Debug("connection closed while waiting for a request", "err", err)
		}
		return false
	}
	if !c.setBusy() {
		return false
	}
	// From its first byte, the whole request must arrive within the idle
	// timeout: a partly received request is not activity that keeps the
	// connection open forever.
	var deadline time.Time
	if t := c.s.cfg.IdleTimeout; t > 0 {
		deadline = time.Now().Add(t)
		c.nc.SetReadDeadline(deadline)
	}
	sizeBuf := st.sizeBuf[:]
	sizeBuf[0] = first
	if n, err := io.ReadFull(st.br, sizeBuf[1:]); err != nil {
		c.logReadFailure(log, err, -1, 1+n, deadline) // size not known yet
		return false
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf))
	switch limit := c.s.cfg.MaxRequestSize; {
	case size < 8 || size > limit:
		log.Warn("closing connection: bad request size", "size", size, "socket.request.max.bytes", limit)
		return false
	case !st.parsed && size > c.s.cfg.FirstRequestMaxSize:
		log.Warn("closing connection: first request too large", "size", size, "max", c.s.cfg.FirstRequestMaxSize)
		return false
	}
	var res reservation
	defer c.s.budget.release(&res)
	frame, err := c.readFrame(st.br, int(size), deadline, &res)
	if err != nil {
		c.logReadFailure(log, err, int(size), len(frame), deadline)
		putFrame(frame)
		return false
	}
	req, err := ParseRequest(frame, c.s.handler)
	if err != nil {
		log.Warn("closing connection: malformed request", "err", err)
		return false
	}
	st.parsed = true
	req.Remote, req.ConnClosed = c.remote, c.closed
	start := time.Now()
	resp, err := c.handle(req)
	defer func() { c.s.cfg.Metrics.Request(kmsg.NameForKey(req.Key), time.Since(start)) }()
	if err != nil {
		if errors.Is(err, ErrCloseConnection) {
			log.Info("closing connection at the handler's request", "api", kmsg.NameForKey(req.Key), "version", req.Version, "reason", err)
		} else {
			log.Warn("closing connection: request failed", "api", kmsg.NameForKey(req.Key), "version", req.Version, "err", err)
		}
		return false
	}
	release := st.releaser != nil && st.releaser.ReleasesFrame(req.Key)
	if resp != nil {
		if s, ok := resp.(Streamer); ok {
			st.out, err = protocol.WriteStream(c.nc, st.outBuf(), req.CorrelationID, protocol.ResponseHeaderFlexible(resp), s)
		} else {
			st.out = AppendResponse(st.outBuf(), req, resp)
			_, err = c.nc.Write(st.out)
		}
		if err != nil {
			log.Debug("closing connection: write failed", "err", err)
			return false
		}
		if cap(st.out) > maxPooledOut {
			st.out = nil // do not pin a large fetch response's buffer
		}
	}
	if release {
		putFrame(frame)
	}
	return true
}

// readFrame reads a frame body of size bytes into a buffer that grows with
// the bytes that arrive, each step reserved from the server's budget (and
// recycled through the frame pool).
func (c *conn) readFrame(br *bufio.Reader, size int, deadline time.Time, res *reservation) ([]byte, error) {
	final := int64(frameCap(size))
	return protocol.ReadFrame(br, size, func(old []byte, n int) ([]byte, error) {
		if err := c.s.budget.reserve(res, int64(frameCap(n)), final, deadline, c.s.ctx.Done()); err != nil {
			return nil, err
		}
		b := getFrame(n)
		copy(b, old)
		putFrame(old)
		return b, nil
	})
}

// logReadFailure logs why a frame (of size bytes, -1 if its size prefix
// did not arrive; got bytes received) could not be read.
func (c *conn) logReadFailure(log *slog.Logger, err error, size, got int, deadline time.Time) {
	switch {
	case c.closingNow():
		log.Debug("closing connection at shutdown with a request partly received", "size", size, "received", got)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errBudgetWait) && !deadline.IsZero() && !time.Now().Before(deadline):
		log.Warn("closing connection: request not received whole within connections.max.idle.ms",
			"size", size, "received", got, "connections.max.idle.ms", c.s.cfg.IdleTimeout.Milliseconds(), "err", err)
	default:
		log.Warn("closing connection: request truncated", "size", size, "received", got, "err", err)
	}
}

func (c *conn) closingNow() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.closing
}

// handle runs the handler, turning a panic into an error that closes only
// this connection.
func (c *conn) handle(req *Request) (resp kmsg.Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logger.Error("panic in request handler", "api", kmsg.NameForKey(req.Key), "version", req.Version,
				"remote", c.remote.String(), "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("server: handler panic: %v", p)
		}
	}()
	return c.s.handler.Handle(c.s.ctx, req)
}
