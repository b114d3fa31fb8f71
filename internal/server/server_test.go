package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// echoHandler serves Metadata by waiting for ctx (a long poll), and panics
// on ApiVersions v1 to exercise recovery.
type echoHandler struct{ started chan struct{} }

func (echoHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case 3:
		return 0, 13, true
	case ApiVersionsKey:
		return 0, 4, true
	}
	return 0, 0, false
}

func (h echoHandler) Handle(ctx context.Context, r *Request) (kmsg.Response, error) {
	switch {
	case r.Key == ApiVersionsKey && r.Version == 1:
		panic("boom")
	case r.Key == 3:
		close(h.started)
		<-ctx.Done()
	}
	return r.Body.ResponseKind(), nil
}

func startServer(t *testing.T, h Handler) *Server {
	t.Helper()
	s, err := Listen(Config{Addr: "127.0.0.1:0", MaxRequestSize: 1 << 20}, h)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	return s
}

func send(t *testing.T, c net.Conn, req kmsg.Request) {
	t.Helper()
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 7)); err != nil {
		t.Fatal(err)
	}
}

func readFrame(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func TestServerShutdownAnswersInFlightRequest(t *testing.T) {
	h := echoHandler{started: make(chan struct{})}
	s := startServer(t, h)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	send(t, c, req)
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	frame, err := readFrame(c)
	if err != nil {
		t.Fatalf("in-flight request not answered: %v", err)
	}
	if corr := binary.BigEndian.Uint32(frame); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	if _, err := readFrame(idle); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection not closed at shutdown: %v", err)
	}
}

func TestServerPanicClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, echoHandler{started: make(chan struct{})})
	defer s.Shutdown(context.Background())
	bad, _ := net.Dial("tcp", s.Addr().String())
	defer bad.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(1)
	send(t, bad, req)
	if _, err := readFrame(bad); err == nil {
		t.Fatal("panicking request got an answer")
	}
	good, _ := net.Dial("tcp", s.Addr().String())
	defer good.Close()
	req.SetVersion(0)
	send(t, good, req)
	if _, err := readFrame(good); err != nil {
		t.Fatalf("server unusable after a handler panic: %v", err)
	}
}

// TestServerParseRequest checks the wrapper around protocol.ParseRequest
// (whose own tests cover the framing).
func TestServerParseRequest(t *testing.T) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, req, 9)[4:]
	r, err := ParseRequest(frame, echoHandler{})
	if err != nil || r.Key != 3 || r.Version != 12 || r.CorrelationID != 9 || r.ClientID == nil || *r.ClientID != "c" || r.Body == nil {
		t.Fatalf("parse: %+v %v", r, err)
	}
	if r, err := ParseRequest(frame[:7], echoHandler{}); r != nil || !errors.Is(err, ErrMalformed) {
		t.Fatalf("short frame: %+v %v", r, err)
	}
	binary.BigEndian.PutUint16(frame[2:], 99)
	if r, err := ParseRequest(frame, echoHandler{}); !errors.Is(err, ErrMalformed) || r == nil || r.Version != 99 {
		t.Fatalf("metadata v99: %+v %v", r, err)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(4)
	f := kmsg.NewRequestFormatter().AppendRequest(nil, av, 1)[4:]
	binary.BigEndian.PutUint16(f[2:], 77)
	if r, err := ParseRequest(f, echoHandler{}); err != nil || !r.UnsupportedVersion || r.Body.GetVersion() != 0 {
		t.Fatalf("api versions fallback: %+v %v", r, err)
	}
}
