// Package server accepts Kafka protocol connections, frames and decodes
// requests with franz-go's kmsg, hands them to a Handler one at a time per
// connection, and writes the responses back in request order.
//
// Framing (every integer big-endian):
//
//	request  = size:int32 header body
//	header   = api_key:int16 api_version:int16 correlation_id:int32
//	           client_id:nullable_string [tagged_fields if the request
//	           version is flexible]
//	response = size:int32 correlation_id:int32 [tagged_fields if flexible,
//	           except ApiVersions which always uses header v0] body
//
// A size below the fixed header, negative, or above socket.request.max.bytes
// closes the connection before anything is allocated for the body.
package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersionsKey is the one API a client may ask at a version the broker does
// not serve: it then gets a v0 answer with UNSUPPORTED_VERSION and the table.
const ApiVersionsKey = 18

// ErrMalformed marks a request that cannot be parsed; the connection closes.
var ErrMalformed = errors.New("server: malformed request")

// ErrCloseConnection, wrapped in a Handle error, asks for the connection to
// be closed without a response, as an expected outcome (an acks=0 produce
// that failed), not a fault.
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
}

// Handler serves decoded requests.
type Handler interface {
	// Versions reports the range of versions served for an API key.
	Versions(key int16) (min, max int16, ok bool)
	// Handle answers r. A nil response sends nothing (acks=0 produce). An
	// error closes the connection after being logged.
	Handle(ctx context.Context, r *Request) (kmsg.Response, error)
}

// ParseRequest decodes one request frame (without its size prefix).
func ParseRequest(frame []byte, h Handler) (*Request, error) {
	if len(frame) < 8 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a request header", ErrMalformed, len(frame))
	}
	be := binary.BigEndian
	r := &Request{
		Key:           int16(be.Uint16(frame[0:])),
		Version:       int16(be.Uint16(frame[2:])),
		CorrelationID: int32(be.Uint32(frame[4:])),
	}
	rest := frame[8:]
	if len(rest) < 2 {
		return r, fmt.Errorf("%w: missing client id", ErrMalformed)
	}
	n := int16(be.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(rest):
		return r, fmt.Errorf("%w: client id length %d", ErrMalformed, n)
	default:
		s := string(rest[:n])
		r.ClientID = &s
		rest = rest[n:]
	}
	body := kmsg.RequestForKey(r.Key)
	min, max, ok := h.Versions(r.Key)
	if body == nil || !ok {
		return r, fmt.Errorf("%w: api key %d is not served", ErrMalformed, r.Key)
	}
	if r.Version < min || r.Version > max {
		if r.Key != ApiVersionsKey {
			return r, fmt.Errorf("%w: %s version %d is outside the served range %d-%d", ErrMalformed, kmsg.NameForKey(r.Key), r.Version, min, max)
		}
		// Answer in v0, the one format every client can read.
		body.SetVersion(0)
		r.Body, r.UnsupportedVersion = body, true
		return r, nil
	}
	body.SetVersion(r.Version)
	if body.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return r, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return r, fmt.Errorf("%w: %s v%d body: %w", ErrMalformed, kmsg.NameForKey(r.Key), r.Version, err)
	}
	r.Body = body
	return r, nil
}

// skipTags skips a tagged-field section: a count, then per field a tag and a
// size (unsigned varints) followed by that many bytes.
func skipTags(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return b, fmt.Errorf("%w: header tagged fields", ErrMalformed)
	}
	b = b[w:]
	for i := uint64(0); i < n; i++ {
		if _, w = binary.Uvarint(b); w <= 0 {
			return b, fmt.Errorf("%w: header tag", ErrMalformed)
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || size > uint64(len(b)-w) {
			return b, fmt.Errorf("%w: header tag size", ErrMalformed)
		}
		b = b[w+int(size):]
	}
	return b, nil
}

// AppendResponse appends a framed response to dst.
func AppendResponse(dst []byte, r *Request, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.CorrelationID))
	if resp.IsFlexible() && r.Key != ApiVersionsKey {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
