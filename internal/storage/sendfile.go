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
