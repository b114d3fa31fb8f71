package protocol

import (
	"encoding/binary"
	"fmt"
	"net"
)

// Chunk is bytes spliced into a response body at offset At of the encoded
// metadata: a Body that writes itself to the connection (a segment file's
// range, sent with sendfile(2) from the page cache to the socket without
// passing through user space).
type Chunk struct {
	At   int // position in the metadata bytes where the body goes
	Body Body
}

// Body is a chunk's bytes, from wherever they are.
type Body interface {
	// Len is the number of bytes WriteTo writes.
	Len() int64
	// WriteTo writes exactly Len bytes to the connection, or fails (the
	// connection must then close: the frame cannot be completed).
	WriteTo(nc net.Conn) error
}

// Streamer is a response that encodes itself as metadata bytes with file
// ranges spliced in (a Fetch response's record batches). Responses that
// also implement kmsg's AppendTo are still encoded in memory when the
// connection cannot splice.
type Streamer interface {
	// AppendStream appends the response body to dst, leaving out the
	// chunks' bytes, and returns the chunks in increasing At order.
	AppendStream(dst []byte) ([]byte, []Chunk)
}

// WriteStream frames and writes a streamed response to nc: the size prefix
// and header (v1 if flexHeader, see ResponseHeaderFlexible), then the
// metadata with each chunk's body written in its place. buf is reused
// for the metadata and returned. After an error the stream position is
// unknown and the connection must close.
func WriteStream(nc net.Conn, buf []byte, correlationID int32, flexHeader bool, resp Streamer) ([]byte, error) {
	buf = AppendResponseHeader(buf[:0], correlationID, flexHeader)
	base := len(buf)
	buf, chunks := resp.AppendStream(buf)
	size := int64(len(buf) - 4)
	for _, c := range chunks {
		size += c.Body.Len()
	}
	if size > 1<<31-1 {
		return buf, fmt.Errorf("protocol: response of %d bytes is too large", size)
	}
	binary.BigEndian.PutUint32(buf, uint32(size))
	last := 0
	for _, c := range chunks {
		at := base + c.At
		if _, err := nc.Write(buf[last:at]); err != nil {
			return buf, err
		}
		last = at
		if err := c.Body.WriteTo(nc); err != nil {
			return buf, err
		}
	}
	_, err := nc.Write(buf[last:])
	return buf, err
}
