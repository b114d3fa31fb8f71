// Package wire is a minimal Kafka protocol client for broker-to-broker
// traffic (follower fetches, RPCs to the controller).
//
// A Conn carries one request at a time: Request writes the framed request
// and reads its response before the next request may start, so responses
// can never be matched to the wrong request. Any I/O or decoding failure
// closes the Conn, because after a partial read or write the stream
// position is unknown; callers (or a Pool) dial again.
//
// Framing and headers are package protocol's, shared with the broker's
// server.
package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/protocol"
)

// MaxResponseSize bounds the size of one response frame; a larger size
// field means a corrupt stream (or a peer that is not Kafka), and is
// rejected before anything is allocated.
const MaxResponseSize = 100 << 20

var (
	// ErrClosed is returned by Request on a closed Conn.
	ErrClosed = errors.New("wire: connection closed")
	// ErrCorrelation means a response answered another request.
	ErrCorrelation = errors.New("wire: correlation id mismatch")
	// ErrFrameSize means a response size field was negative, too small
	// or above MaxResponseSize.
	ErrFrameSize = errors.New("wire: bad response frame size")
	// ErrDecode means a response header or body could not be parsed.
	ErrDecode = errors.New("wire: malformed response")
)

// Conn is one TCP connection to a Kafka-protocol server. It is safe for
// concurrent use; requests are serialized.
type Conn struct {
	addr     string
	nc       net.Conn
	clientID *string

	mu     sync.Mutex // held for a whole request/response exchange
	corrID int32      // guarded by mu
	wbuf   []byte     // guarded by mu; reused request encoding buffer

	closeOnce sync.Once
	closed    chan struct{}
}

// Dial connects to addr; clientID goes into every request header.
func Dial(ctx context.Context, addr, clientID string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("wire: dial %s: %w", addr, err)
	}
	return newConn(nc, addr, clientID), nil
}

func newConn(nc net.Conn, addr, clientID string) *Conn {
	return &Conn{
		addr:     addr,
		nc:       nc,
		clientID: &clientID,
		closed:   make(chan struct{}),
	}
}

// Addr is the address the Conn was dialed to.
func (c *Conn) Addr() string { return c.addr }

// Closed reports whether the Conn has been closed (by Close or by a failed
// request).
func (c *Conn) Closed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close closes the connection. A request in progress fails.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.nc.Close()
	})
	return err
}

// Request sends req (its version must already be set) and returns the
// decoded response, whose version equals the request's. The context's
// deadline bounds the whole exchange and cancelling the context interrupts
// it; either way the Conn is then closed, since the response may still
// arrive later. A Produce request with acks=0 gets no response: Request
// returns (nil, nil) after writing it.
func (c *Conn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return c.RequestInto(ctx, req, nil)
}

// RequestInto is Request reading the response into *frame, which it reuses
// when it is large enough and otherwise replaces with a larger buffer (nil
// frame: a fresh buffer, as Request). The response's byte fields (record
// batches) alias *frame, so they are valid only until *frame is used again:
// for a caller that is done with each response before its next request
// (the follower fetcher), this saves allocating, zeroing and collecting a
// buffer of the response's size at every exchange.
func (c *Conn) RequestInto(ctx context.Context, req kmsg.Request, frame *[]byte) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Closed() {
		return nil, ErrClosed
	}

	deadline, hasDeadline := ctx.Deadline() // zero: no deadline
	if err := c.nc.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("wire: %s: %w", c.addr, err)
	}
	// Cancellation without a deadline still has to unblock the I/O.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.exchangeLocked(req, frame)
	if !stop() {
		// The cancel hook ran (or is running) and poisons the deadline:
		// this Conn cannot be reused even if the exchange completed.
		c.Close()
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		err = fmt.Errorf("wire: %s: %w (%v)", c.addr, context.Cause(ctx), err)
	case hasDeadline && errors.Is(err, os.ErrDeadlineExceeded):
		// The socket deadline can fire just before the context's timer.
		err = fmt.Errorf("wire: %s: %w (%v)", c.addr, context.DeadlineExceeded, err)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return resp, nil
}

func (c *Conn) exchangeLocked(req kmsg.Request, reuse *[]byte) (kmsg.Response, error) {
	c.corrID++
	corr := c.corrID
	c.wbuf = protocol.AppendRequest(c.wbuf[:0], corr, c.clientID, req)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return nil, fmt.Errorf("wire: write to %s: %w", c.addr, err)
	}
	if cap(c.wbuf) > 1<<20 { // do not pin one huge request's buffer
		c.wbuf = nil
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return nil, nil
	}

	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.nc, sizeBuf[:]); err != nil {
		return nil, fmt.Errorf("wire: read from %s: %w", c.addr, err)
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > MaxResponseSize {
		return nil, fmt.Errorf("%w: %d from %s", ErrFrameSize, size, c.addr)
	}
	// Decoded byte fields (record batches) alias the buffer, so it is
	// fresh unless the caller reuses its own (RequestInto). It is
	// allocated at the announced size, unlike the server's request frames
	// (protocol.ReadFrame): the peer is a broker this one dialed, a Conn
	// reads one response at a time, and follower fetches of up to
	// replica.fetch.response.max.bytes would otherwise allocate about
	// three times their size while doubling from 64 KiB. ReadFull
	// overwrites all of it, so a reused buffer needs no clearing.
	var frame []byte
	switch {
	case reuse == nil:
		frame = make([]byte, size)
	case cap(*reuse) >= int(size):
		frame = (*reuse)[:size]
	default:
		frame = make([]byte, size)
		*reuse = frame
	}
	if _, err := io.ReadFull(c.nc, frame); err != nil {
		return nil, fmt.Errorf("wire: read from %s: %w", c.addr, err)
	}
	got, resp, err := protocol.ParseResponse(frame, req)
	if got != corr {
		return nil, fmt.Errorf("%w: got %d, want %d from %s", ErrCorrelation, got, corr, c.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: key %d v%d from %s: %v", ErrDecode, req.Key(), req.GetVersion(), c.addr, err)
	}
	return resp, nil
}
