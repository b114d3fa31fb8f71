package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// Chunk is a byte range of a file spliced into a response body at offset At
// of the encoded metadata, sent with sendfile(2) from the page cache to the
// socket without passing through user space.
type Chunk struct {
	At   int // position in the metadata bytes where the range goes
	File *os.File
	Pos  int64
	Len  int64
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

// ErrShortFile means a file range shrank under a response (a truncation
// raced the send): the frame cannot be completed, so the connection must
// close.
var ErrShortFile = errors.New("protocol: file range shorter than announced")

// WriteStream frames and writes a streamed response to nc: the size prefix
// and header (v1 if flexHeader, see ResponseHeaderFlexible), then the
// metadata with each chunk sent by sendfile in its place. buf is reused
// for the metadata and returned. After an error the stream position is
// unknown and the connection must close.
func WriteStream(nc net.Conn, buf []byte, correlationID int32, flexHeader bool, resp Streamer) ([]byte, error) {
	buf = AppendResponseHeader(buf[:0], correlationID, flexHeader)
	base := len(buf)
	buf, chunks := resp.AppendStream(buf)
	size := int64(len(buf) - 4)
	for _, c := range chunks {
		size += c.Len
	}
	if size > 1<<31-1 {
		return buf, fmt.Errorf("protocol: response of %d bytes is too large", size)
	}
	binary.BigEndian.PutUint32(buf, uint32(size))
	tcp, _ := nc.(*net.TCPConn)
	last := 0
	for _, c := range chunks {
		at := base + c.At
		if tcp == nil {
			return buf, errors.New("protocol: cannot splice files into a non-TCP connection")
		}
		if _, err := nc.Write(buf[last:at]); err != nil {
			return buf, err
		}
		last = at
		if err := sendFile(tcp, c.File, c.Pos, c.Len); err != nil {
			return buf, err
		}
	}
	_, err := nc.Write(buf[last:])
	return buf, err
}

// sendFile copies n bytes of f from pos to the socket with sendfile(2),
// using explicit offsets so concurrent readers of f do not interfere.
func sendFile(conn *net.TCPConn, f *os.File, pos, n int64) error {
	sc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	ferr := fc.Control(func(ffd uintptr) {
		werr := sc.Write(func(sfd uintptr) bool {
			for n > 0 {
				w, err := syscall.Sendfile(int(sfd), int(ffd), &pos, int(min(n, 1<<30)))
				if w > 0 {
					n -= int64(w)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					serr = err
					return true
				case w == 0:
					serr = ErrShortFile
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if ferr != nil {
		return ferr
	}
	if errors.Is(serr, io.EOF) {
		return ErrShortFile
	}
	return serr
}
