package storage

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// ErrShortFile means a file range shrank under a send (a truncation raced
// it): the response it belongs to cannot be completed.
var ErrShortFile = errors.New("storage: file range shorter than announced")

// Len is the slice's size in bytes.
func (s Slice) Len() int64 { return s.Size }

// WriteTo writes the slice's bytes to a connection: with sendfile(2), from
// the page cache to the socket, when the file is an OS file and the
// connection TCP; else through a buffer.
func (s Slice) WriteTo(nc net.Conn) error {
	if s.Size == 0 {
		return nil
	}
	f, isFile := s.File.(*os.File)
	if u, ok := s.File.(interface{ OSFile() *os.File }); ok && !isFile {
		f = u.OSFile()
		isFile = f != nil
	}
	tcp, isTCP := nc.(*net.TCPConn)
	if isFile && isTCP {
		return sendFile(tcp, f, s.Pos, s.Size)
	}
	b, err := s.ReadInto(nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrShortFile, err)
	}
	_, err = nc.Write(b)
	return err
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
