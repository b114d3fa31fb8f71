package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregor-dev/gregor/internal/testutil"
)

// A Slice writes its range to a TCP connection with sendfile, to any other
// connection through a buffer, and fails when the file is shorter than the
// range (a truncation raced the send).
func TestStorageSliceWriteTo(t *testing.T) {
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
	s := Slice{File: f, Pos: 10, Size: 10}
	client, server := testutil.TCPPair(t)
	if err := s.WriteTo(server); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, content[10:]) || s.Len() != 10 {
		t.Fatalf("sendfile: %q %v", got, err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() { done <- Slice{File: f, Pos: 2, Size: 3}.WriteTo(a) }()
	got = make([]byte, 3)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "234" || <-done != nil {
		t.Fatalf("copy: %q %v", got, err)
	}
	if err := (Slice{File: f, Pos: 15, Size: 10}).WriteTo(server); !errors.Is(err, ErrShortFile) {
		t.Fatalf("short range: %v", err)
	}
}
