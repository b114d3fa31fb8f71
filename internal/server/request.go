// Package server accepts Kafka protocol connections, reads request frames
// (framing and headers are package protocol's), decodes them with franz-go's
// kmsg, hands them to a Handler one at a time per connection, and writes the
// responses back in request order.
//
// What one connection may cost, and for how long:
//
//   - A frame's size prefix below the request header, negative, or above
//     socket.request.max.bytes (Config.MaxRequestSize) closes the connection
//     before anything is allocated for the body. So does a size above
//     Config.FirstRequestMaxSize (512 KiB) until the connection's first
//     request parsed: no client opens with a bigger request, and an unknown
//     peer should not get to announce 100 MB.
//   - A frame's buffer grows with the bytes that arrive (protocol.ReadFrame),
//     so an announced size costs nothing until it is sent.
//   - All frames being received or served hold buffers from one budget of
//     queued.max.request.bytes (Config.QueuedMaxRequestBytes). A frame that
//     would exceed it stalls its connection (backpressure) until other
//     requests finish. One frame at a time may overdraw the budget, taking
//     its whole size at once, so that partly received frames cannot wait for
//     each other forever; memory held by frames is therefore bounded by the
//     budget plus one frame of socket.request.max.bytes, as in Kafka's
//     memory pool (KIP-72).
//   - Once the first byte of a frame arrived, the whole frame must arrive
//     within connections.max.idle.ms (Config.IdleTimeout), waits for the
//     budget included; a connection that trickles a request slower than
//     that is closed and the close logged at Warn with its remote address.
//     Kafka closes connections idle for connections.max.idle.ms; a request
//     that never completes is no activity either. Between requests the
//     same timeout closes an idle connection.
//   - A connection waiting for its next request holds no buffers: its read
//     buffer and response buffer go back to pools, so that an idle
//     connection costs its goroutine and socket (about 5 KiB), not 64 KiB.
//
// Fairness: one request of a connection is served at a time, in order, and
// a connection whose next request has already arrived (a client
// pipelining) yields the processor after each request, so that a few
// greedy connections cannot hold the processors for whole scheduler time
// slices while the others wait.
package server

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/protocol"
)

// ApiVersionsKey is the one API a client may ask at a version the broker does
// not serve: it then gets a v0 answer with UNSUPPORTED_VERSION and the table.
const ApiVersionsKey = protocol.ApiVersionsKey

// ErrMalformed marks a request that cannot be parsed; the connection
// closes. It is protocol.ErrMalformed.
var ErrMalformed = protocol.ErrMalformed

// ErrCloseConnection is wrapped by a Handler's error to ask for the
// connection to be closed as a normal part of the protocol rather than as a
// failure: Kafka closes a connection after an acks=0 Produce fails, since
// the producer gets no response and only a new connection makes it refresh
// its metadata. The close is logged at Info with the error as the reason.
var ErrCloseConnection = errors.New("server: close the connection")

// Request is one decoded request.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	Body          kmsg.Request
	// UnsupportedVersion is set for an ApiVersions request at a version the
	// broker does not serve; Body is then an empty v0 request.
	UnsupportedVersion bool
	Remote             net.Addr
	// ConnClosed is closed when the connection the request came on is
	// (nil for a request that did not come on a connection): the quorum
	// leader watches its brokers' heartbeat connections with it.
	ConnClosed <-chan struct{}
}

// Handler serves decoded requests.
type Handler interface {
	// Versions reports the range of versions served for an API key.
	Versions(key int16) (min, max int16, ok bool)
	// Handle answers r. A nil response sends nothing (acks=0 produce). An
	// error closes the connection: one that wraps ErrCloseConnection is a
	// close the protocol asks for (an acks=0 Produce that failed) and is
	// logged at Info; any other error is logged at Warn as a failed
	// request.
	Handle(ctx context.Context, r *Request) (kmsg.Response, error)
}

// Chunk is a file range spliced into a streamed response; see
// protocol.Chunk.
type Chunk = protocol.Chunk

// Streamer is a response that writes itself with file ranges spliced in;
// see protocol.Streamer.
type Streamer = protocol.Streamer

// ParseRequest decodes one request frame (without its size prefix) with
// protocol.ParseRequest, for the versions h serves. Errors wrap
// ErrMalformed; the returned request is nil only if not even the header
// could be read.
func ParseRequest(frame []byte, h Handler) (*Request, error) {
	pr, err := protocol.ParseRequest(frame, h.Versions)
	if err != nil && len(frame) < 8 {
		return nil, err
	}
	return &Request{
		Key:                pr.Key,
		Version:            pr.Version,
		CorrelationID:      pr.CorrelationID,
		ClientID:           pr.ClientID,
		Body:               pr.Body,
		UnsupportedVersion: pr.UnsupportedVersion,
	}, err
}

// AppendResponse appends a framed response to r to dst.
func AppendResponse(dst []byte, r *Request, resp kmsg.Response) []byte {
	return protocol.AppendResponse(dst, r.CorrelationID, resp)
}
