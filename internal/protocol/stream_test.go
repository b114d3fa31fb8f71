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

// inlineBody is a bytesBody that can also be read into memory.
type inlineBody struct{ bytesBody }

func (b inlineBody) AppendTo(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	return append(dst, b.b...), nil
}

// countingConn counts the writes to a connection.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes++
	return c.Conn.Write(b)
}

// readFrame reads one size-prefixed frame.
func readFrame(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, frame); err != nil {
		t.Fatal(err)
	}
	return frame
}

// TestProtocolWriteStreamInlinesSmallBodies: bodies that can be read into
// memory and are MaxInline bytes at most in all go out in the same frame
// as when spliced, in one write; above MaxInline they are spliced.
func TestProtocolWriteStreamInlinesSmallBodies(t *testing.T) {
	client, server := testutil.TCPPair(t)
	big := bytes.Repeat([]byte("z"), MaxInline)
	for _, tc := range []struct {
		name   string
		chunks []Chunk
		want   string
		writes int // spliced: metadata and bodies (bytesBody writes through nc) in turn
	}{
		{"two bodies", []Chunk{
			{At: 5, Body: inlineBody{bytesBody{b: []byte("234")}}},
			{At: 9, Body: inlineBody{bytesBody{b: []byte("ABCDEFGHIJ")}}},
		}, "head-234mid-ABCDEFGHIJtail", 1},
		{"at the ends", []Chunk{
			{At: 0, Body: inlineBody{bytesBody{b: []byte("<")}}},
			{At: 13, Body: inlineBody{bytesBody{b: []byte(">")}}},
		}, "<head-mid-tail>", 1},
		{"empty body", []Chunk{
			{At: 4, Body: inlineBody{bytesBody{}}},
			{At: 9, Body: inlineBody{bytesBody{b: []byte("!")}}},
		}, "head-mid-!tail", 1},
		{"one body cannot", []Chunk{
			{At: 5, Body: inlineBody{bytesBody{b: []byte("234")}}},
			{At: 9, Body: bytesBody{b: []byte("ABCDEFGHIJ")}},
		}, "head-234mid-ABCDEFGHIJtail", 5},
		{"above MaxInline", []Chunk{
			{At: 5, Body: inlineBody{bytesBody{b: []byte("2")}}},
			{At: 9, Body: inlineBody{bytesBody{b: big}}},
		}, "head-2mid-" + string(big) + "tail", 5},
	} {
		cc := &countingConn{Conn: server}
		if _, err := WriteStream(cc, []byte("leftover"), 7, false, splicer{meta: []byte("head-mid-tail"), chunks: tc.chunks}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		frame := readFrame(t, client)
		if binary.BigEndian.Uint32(frame) != 7 || string(frame[4:]) != tc.want {
			t.Fatalf("%s: frame %.80q", tc.name, frame)
		}
		if cc.writes != tc.writes {
			t.Fatalf("%s: %d writes, want %d", tc.name, cc.writes, tc.writes)
		}
	}
	// A body that cannot be read fails the stream before anything is
	// written.
	broken := errors.New("range gone")
	cc := &countingConn{Conn: server}
	bad := splicer{meta: []byte("x"), chunks: []Chunk{{At: 1, Body: inlineBody{bytesBody{b: make([]byte, 10), err: broken}}}}}
	if _, err := WriteStream(cc, nil, 1, false, bad); !errors.Is(err, broken) || cc.writes != 0 {
		t.Fatalf("failing body: %v after %d writes", err, cc.writes)
	}
}
