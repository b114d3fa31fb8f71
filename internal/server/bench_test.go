package server

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkServerRequests measures one connection's request round trips
// (framing, parse, answer) with a small and a 1 MB request.
func BenchmarkServerRequests(b *testing.B) {
	s, err := Listen(Config{Addr: "127.0.0.1:0", MaxRequestSize: 4 << 20}, echoHandler{started: make(chan struct{})})
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(b.Context())
	for _, size := range []int{0, 1 << 20} {
		name := "small"
		if size > 0 {
			name = "1MB"
		}
		b.Run(name, func(b *testing.B) {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(0)
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			if size > 0 {
				req.SetVersion(3)
				req.ClientSoftwareName = string(make([]byte, size))
				frame = kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
			}
			var resp []byte
			roundTrip := func(frame []byte) {
				if _, err := c.Write(frame); err != nil {
					b.Fatal(err)
				}
				var sz [4]byte
				if _, err := io.ReadFull(c, sz[:]); err != nil {
					b.Fatal(err)
				}
				resp = append(resp[:0], make([]byte, binary.BigEndian.Uint32(sz[:]))...)
				if _, err := io.ReadFull(c, resp); err != nil {
					b.Fatal(err)
				}
			}
			roundTrip(apiVersionsFrame(0)) // a first request, small
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				roundTrip(frame)
			}
		})
	}
}
