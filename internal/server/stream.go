package server

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

// errShortFile means a file range shrank under a response (a truncation
// raced the send): the frame cannot be completed, so the connection closes.
var errShortFile = errors.New("server: file range shorter than announced")

// writeStream frames and writes a streamed response: the size prefix and
// header, then metadata with each chunk sent by sendfile in its place.
func writeStream(nc net.Conn, buf []byte, r *Request, resp Streamer, flexHeader bool) ([]byte, error) {
	buf = append(buf[:0], 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.CorrelationID))
	if flexHeader {
		buf = append(buf, 0)
	}
	base := len(buf)
	buf, chunks := resp.AppendStream(buf)
	size := int64(len(buf) - 4)
	for _, c := range chunks {
		size += c.Len
	}
	if size > 1<<31-1 {
		return buf, fmt.Errorf("server: response of %d bytes is too large", size)
	}
	binary.BigEndian.PutUint32(buf, uint32(size))
	tcp, _ := nc.(*net.TCPConn)
	last := 0
	for _, c := range chunks {
		at := base + c.At
		if tcp == nil {
			return buf, errors.New("server: cannot splice files into a non-TCP connection")
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
					serr = errShortFile
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
		return errShortFile
	}
	return serr
}
