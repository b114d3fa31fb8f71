package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// trickle returns at most one byte per Read.
type trickle struct{ r io.Reader }

func (t trickle) Read(p []byte) (int, error) { return t.r.Read(p[:min(len(p), 1)]) }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestProtocolReadFrameGrowsWithArrivals(t *testing.T) {
	const size = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for _, tc := range []struct {
		name string
		r    func(src io.Reader) io.Reader
	}{
		{"trickle", func(src io.Reader) io.Reader { return trickle{src} }},
		{"bulk", func(src io.Reader) io.Reader { return src }},
	} {
		cr := &countingReader{r: bytes.NewReader(data)}
		var sizes []int
		grow := func(old []byte, n int) ([]byte, error) {
			// Never more than twice what arrived, or the first chunk.
			if n > max(2*cr.n, InitialChunk) {
				t.Fatalf("%s: grow to %d after %d bytes", tc.name, n, cr.n)
			}
			if len(old) != cr.n {
				t.Fatalf("%s: grow with %d of %d bytes read", tc.name, len(old), cr.n)
			}
			sizes = append(sizes, n)
			return Grow(old, n)
		}
		got, err := ReadFrame(tc.r(cr), size, grow)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if sizes[0] != InitialChunk || sizes[len(sizes)-1] != size {
			t.Fatalf("%s: grew through %v", tc.name, sizes)
		}
	}
}

func TestProtocolReadFrameArrivedWhole(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 40000)
	br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
	br.Peek(len(data)) // the frame arrived whole
	calls := 0
	got, err := ReadFrame(br, len(data), func(old []byte, n int) ([]byte, error) {
		calls++
		return Grow(old, n)
	})
	if err != nil || calls != 1 || !bytes.Equal(got, data) {
		t.Fatalf("calls %d err %v", calls, err)
	}
	small, err := ReadFrame(bytes.NewReader([]byte{1, 2, 3}), 3, nil)
	if err != nil || !bytes.Equal(small, []byte{1, 2, 3}) || cap(small) != 3 {
		t.Fatalf("small frame: %v cap %d", err, cap(small))
	}
}

func TestProtocolReadFrameErrors(t *testing.T) {
	// A peer that announces 100 MB and sends 10 bytes: the reader holds a
	// first chunk only, and returns what it got.
	got, err := ReadFrame(bytes.NewReader(make([]byte, 10)), 100<<20, nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 10 || cap(got) != InitialChunk {
		t.Fatalf("short: len %d cap %d err %v", len(got), cap(got), err)
	}
	stop := errors.New("no memory")
	got, err = ReadFrame(bytes.NewReader(make([]byte, 200<<10)), 200<<10, func(old []byte, n int) ([]byte, error) {
		if old != nil {
			return nil, stop
		}
		return Grow(old, n)
	})
	if !errors.Is(err, stop) || len(got) != InitialChunk {
		t.Fatalf("grow error: len %d err %v", len(got), err)
	}
}
