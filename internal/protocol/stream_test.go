package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/gregor-dev/gregor/internal/testutil"
)

// splicer is a Streamer of fixed metadata with file ranges at given
// positions.
type splicer struct {
	meta   []byte
	chunks []Chunk
}

func (s splicer) AppendStream(dst []byte) ([]byte, []Chunk) { return append(dst, s.meta...), s.chunks }

// bytesBody is a Body of bytes in memory; err, if set, fails its write.
type bytesBody struct {
	b   []byte
	err error
}

func (b bytesBody) Len() int64 { return int64(len(b.b)) }
func (b bytesBody) WriteTo(nc net.Conn) error {
	if b.err != nil {
		return b.err
	}
	_, err := nc.Write(b.b)
	return err
}

func TestProtocolWriteStreamSplicesBodies(t *testing.T) {
	resp := splicer{meta: []byte("head-mid-tail"), chunks: []Chunk{
		{At: 5, Body: bytesBody{b: []byte("234")}},        // after "head-"
		{At: 9, Body: bytesBody{b: []byte("ABCDEFGHIJ")}}, // after "mid-"
	}}
	want := []byte("head-234mid-ABCDEFGHIJtail")
	client, server := testutil.TCPPair(t)
	for _, flex := range []bool{false, true} {
		if _, err := WriteStream(server, nil, 31, flex, resp); err != nil {
			t.Fatal(err)
		}
		var size [4]byte
		if _, err := io.ReadFull(client, size[:]); err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(client, frame); err != nil {
			t.Fatal(err)
		}
		body := frame[4:]
		if flex {
			body = body[1:]
		}
		if binary.BigEndian.Uint32(frame) != 31 || !bytes.Equal(body, want) {
			t.Fatalf("flex %v: frame %q", flex, frame)
		}
	}
	// A body that cannot be written fails the stream (the connection
	// closes rather than carry a corrupt frame).
	broken := errors.New("range gone")
	bad := splicer{meta: []byte("x"), chunks: []Chunk{{At: 1, Body: bytesBody{b: make([]byte, 10), err: broken}}}}
	if _, err := WriteStream(server, nil, 1, false, bad); !errors.Is(err, broken) {
		t.Fatalf("failing body: %v", err)
	}
}
