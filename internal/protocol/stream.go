package protocol

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
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

// Inliner is a Body that can also read its bytes into memory (a segment
// file's range, with pread(2)).
type Inliner interface {
	// AppendTo appends exactly Len bytes to dst.
	AppendTo(dst []byte) ([]byte, error)
}

// MaxInline is the most chunk bytes a response carries in memory instead
// of spliced: below it, reading the bytes into the metadata buffer costs
// less than the two extra writes that splicing needs around them (header,
// sendfile, tail), each a separate TCP segment and a wake-up of the reader
// (on loopback, each runs the receiver's network stack too). A follower's
// or consumer's fetch at a moderate rate brings a batch or two.
const MaxInline = 64 << 10

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
// metadata with each chunk's body written in its place; bodies that are
// all Inliners of MaxInline bytes at most in all are read into the buffer
// instead, and the frame goes out in one write. buf is reused for the
// metadata and returned. After an error the stream position is unknown
// and the connection must close.
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
	if inlined, ok, err := inline(buf, base, chunks); ok || err != nil {
		if err != nil {
			return buf, err
		}
		_, err = nc.Write(inlined)
		return inlined, err
	}
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

// inline returns the frame with the chunks' bytes read in at their places,
// if they are all Inliners and MaxInline bytes at most in all; ok is false
// when they are not (nothing read). buf (metadata, chunk positions
// relative to base) is grown in place and returned.
func inline(buf []byte, base int, chunks []Chunk) (frame []byte, ok bool, err error) {
	if len(chunks) == 0 {
		return buf, false, nil
	}
	total := 0
	for _, c := range chunks {
		if _, is := c.Body.(Inliner); !is {
			return buf, false, nil
		}
		total += int(c.Body.Len())
		if total > MaxInline {
			return buf, false, nil
		}
	}
	// Move the metadata after each chunk position right by the chunk
	// bytes before it, last first, then read each chunk into its gap.
	meta := len(buf)
	frame = slices.Grow(buf, total)[:meta+total]
	shift, end := total, meta
	for i := len(chunks) - 1; i >= 0; i-- {
		at := base + chunks[i].At
		copy(frame[at+shift:], frame[at:end])
		shift -= int(chunks[i].Body.Len())
		end = at
	}
	shift = 0
	for _, c := range chunks {
		at, n := base+c.At+shift, int(c.Body.Len())
		if n == 0 {
			continue
		}
		gap := frame[at : at : at+n]
		got, err := c.Body.(Inliner).AppendTo(gap)
		if err != nil {
			return frame[:meta], false, err
		}
		if len(got) != n {
			return frame[:meta], false, fmt.Errorf("protocol: chunk of %d bytes read %d", n, len(got))
		}
		if &got[:1][0] != &frame[at : at+1][0] {
			copy(frame[at:], got) // grown elsewhere: only if AppendTo ignored the room
		}
		shift += n
	}
	return frame, true, nil
}
