package storage

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
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
	if tcp, ok := nc.(*net.TCPConn); ok {
		if sent, err := sendFileFrom(s.File, tcp, s.Pos, s.Size); sent {
			return err
		}
	}
	b, err := s.ReadInto(nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrShortFile, err)
	}
	_, err = nc.Write(b)
	return err
}

// sendFileFrom sends with sendfile(2) if file is an OS file underneath
// (a pooled one pinned open meanwhile); sent is false if it is not.
func sendFileFrom(file File, tcp *net.TCPConn, pos, n int64) (sent bool, err error) {
	switch f := file.(type) {
	case *os.File:
		return true, sendFile(tcp, f, pos, n)
	case *pooledFile:
		inner, err := f.acquire()
		if err != nil {
			return true, fmt.Errorf("%w: %w", ErrShortFile, err)
		}
		defer f.release()
		return sendFileFrom(inner, tcp, pos, n)
	case interface{ OSFile() *os.File }:
		if of := f.OSFile(); of != nil {
			return true, sendFile(tcp, of, pos, n)
		}
	}
	return false, nil
}

// Read-ahead for bulk readers. A consumer far behind the tail reads a
// sealed segment one fetch at a time, and a fetch whose bytes are not in
// the page cache waits for the disk inside sendfile, then the next fetch
// waits again: the disk idles while the response crosses the network and
// the client handles it. After a send of at least readAheadMin bytes the
// range that follows, twice as long (at most readAheadMax), is announced
// to the kernel (posix_fadvise WILLNEED, which starts the reads and
// returns), so the next fetch of a sequential reader finds its bytes in
// memory. Tail readers send little per fetch and announce nothing.
const (
	readAheadMin = 256 << 10
	readAheadMax = 16 << 20
)

// sendFile copies n bytes of f from pos to the socket with sendfile(2),
// using explicit offsets so concurrent readers of f do not interfere.
func sendFile(conn *net.TCPConn, f *os.File, pos, n int64) error {
	total := n
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
		if serr == nil && total >= readAheadMin {
			// pos is now the end of what was sent. Advice only: a
			// failure changes nothing but speed.
			_ = unix.Fadvise(int(ffd), pos, min(2*total, readAheadMax), unix.FADV_WILLNEED)
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
