package protocol

import (
	"io"
)

// InitialChunk is the most ReadFrame allocates for a frame before any of
// its bytes arrived (unless the reader has more already buffered).
const InitialChunk = 64 << 10

// GrowFunc returns a buffer of length n whose first len(old) bytes are
// old's; old is nil for the first buffer. ReadFrame calls it whenever the
// frame outgrows its buffer, with n at most twice the bytes received so far
// (or InitialChunk, or what the reader had buffered) and never more than
// the frame's size. An error ends the read.
type GrowFunc func(old []byte, n int) ([]byte, error)

// Grow is the GrowFunc that allocates a fresh buffer each time.
func Grow(old []byte, n int) ([]byte, error) {
	b := make([]byte, n)
	copy(b, old)
	return b, nil
}

// ReadFrame reads size bytes from r into a buffer that grows with the bytes
// that actually arrive, doubling from min(size, InitialChunk) (or from what
// r already buffered, when r has a Buffered method as bufio.Reader does, so
// that a frame that arrived whole is read into one buffer of its size). A
// peer that announces a large frame and sends little therefore makes the
// reader allocate little. On an error the bytes received so far are
// returned with it, so that the caller can recycle the buffer.
func ReadFrame(r io.Reader, size int, grow GrowFunc) ([]byte, error) {
	if grow == nil {
		grow = Grow
	}
	n := min(size, InitialChunk)
	if br, ok := r.(interface{ Buffered() int }); ok {
		n = max(n, min(size, br.Buffered()))
	}
	buf, err := grow(nil, n)
	if err != nil {
		return nil, err
	}
	have := 0
	for {
		m, err := io.ReadFull(r, buf[have:])
		have += m
		if err != nil {
			return buf[:have], err
		}
		if have == size {
			return buf, nil
		}
		grown, err := grow(buf, min(size, 2*have))
		if err != nil {
			return buf[:have], err
		}
		buf = grown
	}
}
