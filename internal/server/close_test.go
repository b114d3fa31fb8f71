package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceHandler fails every Produce: with acks=0 by asking for the
// connection to close, otherwise with a plain error.
type produceHandler struct{}

func (produceHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case 0:
		return 3, 11, true
	case ApiVersionsKey:
		return 0, 4, true
	}
	return 0, 0, false
}

func (produceHandler) Handle(_ context.Context, r *Request) (kmsg.Response, error) {
	if p, ok := r.Body.(*kmsg.ProduceRequest); ok {
		if p.Acks == 0 {
			return nil, fmt.Errorf("%w: acks=0 produce to t-0 failed: NOT_LEADER_FOR_PARTITION", ErrCloseConnection)
		}
		return nil, errors.New("disk on fire")
	}
	return r.Body.ResponseKind(), nil
}

func TestServerHandlerAsksToClose(t *testing.T) {
	var logs syncBuffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(ln, Config{MaxRequestSize: 1 << 20, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, produceHandler{})
	go s.Serve()
	defer shutdown(t, s)

	for _, acks := range []int16{0, 1} {
		c := dialHello(t, s)
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = acks
		send(t, c, req)
		if _, err := readFrame(c); !errors.Is(err, io.EOF) {
			t.Fatalf("acks=%d: %v, want the connection closed", acks, err)
		}
		remote := "remote=" + c.LocalAddr().String()
		want := map[int16]string{
			0: `level=INFO msg="closing connection at the handler's request"`,
			1: `level=WARN msg="closing connection: request failed"`,
		}[acks]
		waitFor(t, "the close to be logged", func() bool {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, remote) && strings.Contains(line, want) {
					return true
				}
			}
			return false
		})
		if acks == 0 {
			if !strings.Contains(logs.String(), "reason=\"server: close the connection: acks=0 produce") {
				t.Fatalf("reason not logged:\n%s", logs.String())
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, remote) && strings.Contains(line, "level=WARN") {
					t.Fatalf("a close the handler asked for logged at Warn: %s", line)
				}
			}
		}
	}
}
