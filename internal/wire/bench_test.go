package wire

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/protocol"
)

// cannedServer answers every request on 127.0.0.1 with the same encoded
// response frame, its correlation id set to the request's, so that a
// benchmark measures the client's side of the exchange only.
func cannedServer(b *testing.B, resp kmsg.Response) string {
	b.Helper()
	body := protocol.AppendResponseHeader(nil, 0, protocol.ResponseHeaderFlexible(resp))
	body = resp.AppendTo(body)
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		out := append([]byte(nil), body...)
		var size [4]byte
		req := make([]byte, 0, 4096)
		for {
			if _, err := io.ReadFull(nc, size[:]); err != nil {
				return
			}
			req = req[:binary.BigEndian.Uint32(size[:])]
			if _, err := io.ReadFull(nc, req); err != nil {
				return
			}
			copy(out[4:8], req[4:8]) // request header v1+: key, version, correlation id
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// BenchmarkWireFetchResponse reads a follower's Fetch response carrying
// one partition's records into a fresh buffer each time (Request) and
// into one reused buffer (RequestInto).
func BenchmarkWireFetchResponse(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID = 2
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		rt.Partitions = append(rt.Partitions, kmsg.NewFetchRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		st := kmsg.NewFetchResponseTopic()
		st.Topic = "t"
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.RecordBatches = make([]byte, size)
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)

		for _, reuse := range []bool{false, true} {
			mode := "fresh"
			if reuse {
				mode = "reused"
			}
			b.Run(fmt.Sprintf("records=%dKiB/%s", size>>10, mode), func(b *testing.B) {
				c, err := Dial(context.Background(), cannedServer(b, resp), "bench")
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var frame []byte
				into := &frame
				if !reuse {
					into = nil
				}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					r, err := c.RequestInto(ctx, req, into)
					if err != nil {
						b.Fatal(err)
					}
					if got := len(r.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches); got != size {
						b.Fatalf("%d record bytes, want %d", got, size)
					}
				}
			})
		}
	}
}
