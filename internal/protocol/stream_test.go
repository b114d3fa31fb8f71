package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// splicer is a Streamer of fixed metadata with file ranges at given
// positions.
type splicer struct {
	meta   []byte
	chunks []Chunk
}

func (s splicer) AppendStream(dst []byte) ([]byte, []Chunk) { return append(dst, s.meta...), s.chunks }

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestProtocolWriteStreamSplicesFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	content := []byte("0123456789ABCDEFGHIJ")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp := splicer{meta: []byte("head-mid-tail"), chunks: []Chunk{
		{At: 5, File: f, Pos: 2, Len: 3},   // "234" after "head-"
		{At: 9, File: f, Pos: 10, Len: 10}, // "ABCDEFGHIJ" after "mid-"
	}}
	want := []byte("head-234mid-ABCDEFGHIJtail")
	client, server := tcpPair(t)
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

	// A range that shrank under the response cannot complete the frame.
	short := splicer{meta: []byte("x"), chunks: []Chunk{{At: 1, File: f, Pos: 15, Len: 10}}}
	if _, err := WriteStream(server, nil, 1, false, short); !errors.Is(err, ErrShortFile) {
		t.Fatalf("short file: %v", err)
	}
	// A connection that cannot splice gets an error, not a corrupt frame.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := WriteStream(a, nil, 1, false, resp); err == nil {
		t.Fatal("splice into a pipe succeeded")
	}
}
