package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/wire/wiretest"
)

// echoHandler answers ApiVersions, Metadata and ListOffsets with values
// derived from the request, so tests can check both directions.
func echoHandler(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := wiretest.Answer(r).(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: 1, MinVersion: 4, MaxVersion: 17})
		return resp
	case *kmsg.MetadataRequest:
		resp := wiretest.Answer(r).(*kmsg.MetadataResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = t.Topic
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := wiretest.Answer(r).(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				rp.Offset = int64(p.Partition) * 100
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}

func newServer(t *testing.T, h wiretest.Handler) *wiretest.Server {
	t.Helper()
	s, err := wiretest.NewServer(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWireRequestVersions(t *testing.T) {
	s := newServer(t, echoHandler)
	c := dial(t, s.Addr())
	ctx := context.Background()
	for _, v := range []int16{0, 3, 4} { // ApiVersions v3+ has a flexible body but header v0
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		if v >= 3 {
			req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor", "1"
		}
		resp, err := c.Request(ctx, req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.GetVersion() != v || len(av.ApiKeys) != 1 || av.ApiKeys[0].MaxVersion != 17 {
			t.Fatalf("ApiVersions v%d: %+v", v, av)
		}
	}
	for _, v := range []int16{1, 8, 9, 12} { // 9+ flexible
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("t1")
		req.Topics = append(req.Topics, rt)
		resp, err := c.Request(ctx, req)
		if err != nil {
			t.Fatalf("Metadata v%d: %v", v, err)
		}
		md := resp.(*kmsg.MetadataResponse)
		if len(md.Topics) != 1 || *md.Topics[0].Topic != "t1" || md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("Metadata v%d: %+v", v, md)
		}
	}
	for _, v := range []int16{1, 5, 6} { // 6+ flexible
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(v)
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		for p := int32(0); p < 3; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := c.Request(ctx, req)
		if err != nil {
			t.Fatalf("ListOffsets v%d: %v", v, err)
		}
		lo := resp.(*kmsg.ListOffsetsResponse)
		if len(lo.Topics) != 1 || len(lo.Topics[0].Partitions) != 3 || lo.Topics[0].Partitions[2].Offset != 200 {
			t.Fatalf("ListOffsets v%d: %+v", v, lo)
		}
	}
}

func TestWireConcurrentRequestsSerialize(t *testing.T) {
	s := newServer(t, echoHandler)
	c := dial(t, s.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				req := kmsg.NewPtrMetadataRequest()
				req.SetVersion(12)
				if _, err := c.Request(context.Background(), req); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// rawServer runs fn for every accepted connection.
func rawServer(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func metadataV12() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	return req
}

func TestWireResponseHeaderTags(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		corr, req, err := wiretest.ReadRequest(c)
		if err != nil {
			return
		}
		resp := wiretest.Answer(req).(*kmsg.MetadataResponse)
		resp.ClusterID = kmsg.StringPtr("cid")
		body := resp.AppendTo(nil)
		// header: corr, two tagged fields (tag 0 size 3, tag 5 size 0)
		frame := binary.BigEndian.AppendUint32(nil, uint32(corr))
		frame = append(frame, 2, 0, 3, 'a', 'b', 'c', 5, 0)
		frame = append(frame, body...)
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...))
		c.Read(make([]byte, 1)) // wait for the client to go
	})
	c := dial(t, addr)
	resp, err := c.Request(context.Background(), metadataV12())
	if err != nil {
		t.Fatal(err)
	}
	if id := resp.(*kmsg.MetadataResponse).ClusterID; id == nil || *id != "cid" {
		t.Fatalf("cluster id %v", id)
	}
}

func TestWireBadResponses(t *testing.T) {
	cases := []struct {
		name  string
		reply func(corr int32, req kmsg.Request) []byte // written, then the server waits
		want  error
	}{
		{"wrong correlation id", func(corr int32, req kmsg.Request) []byte {
			return wiretest.AppendResponse(nil, corr+1, wiretest.Answer(req))
		}, ErrCorrelation},
		{"oversized frame", func(corr int32, req kmsg.Request) []byte {
			return binary.BigEndian.AppendUint32(nil, MaxResponseSize+1)
		}, ErrFrameSize},
		{"negative frame size", func(corr int32, req kmsg.Request) []byte {
			return []byte{0xff, 0xff, 0xff, 0xf0}
		}, ErrFrameSize},
		{"frame shorter than a header", func(corr int32, req kmsg.Request) []byte {
			return []byte{0, 0, 0, 2, 0, 0}
		}, ErrFrameSize},
		{"truncated body", func(corr int32, req kmsg.Request) []byte {
			resp := wiretest.Answer(req).(*kmsg.MetadataResponse)
			resp.Topics = make([]kmsg.MetadataResponseTopic, 3)
			full := wiretest.AppendResponse(nil, corr, resp)
			body := full[4 : len(full)-5]
			return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
		}, ErrDecode},
		{"bad header tags", func(corr int32, req kmsg.Request) []byte {
			frame := binary.BigEndian.AppendUint32(nil, uint32(corr))
			frame = append(frame, 1, 0, 50, 1) // one tag claiming 50 bytes
			return append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
		}, ErrDecode},
		{"close mid-response", func(corr int32, req kmsg.Request) []byte {
			full := wiretest.AppendResponse(nil, corr, wiretest.Answer(req))
			return full[:len(full)/2]
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			closeAfter := tc.want == nil
			addr := rawServer(t, func(c net.Conn) {
				corr, req, err := wiretest.ReadRequest(c)
				if err != nil {
					return
				}
				c.Write(tc.reply(corr, req))
				if !closeAfter {
					c.Read(make([]byte, 1))
				}
			})
			c := dial(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Request(ctx, metadataV12())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatalf("hit the context deadline: %v", err)
			}
			if !c.Closed() {
				t.Fatal("conn still open after a failed request")
			}
			if _, err := c.Request(ctx, metadataV12()); !errors.Is(err, ErrClosed) {
				t.Fatalf("second request: %v, want ErrClosed", err)
			}
		})
	}
}

// blockingHandler answers Metadata at once and blocks ApiVersions until the
// server closes.
func blockingHandler(ctx context.Context, req kmsg.Request) kmsg.Response {
	if _, ok := req.(*kmsg.ApiVersionsRequest); ok {
		<-ctx.Done()
		return nil
	}
	return echoHandler(ctx, req)
}

func TestWireContext(t *testing.T) {
	s := newServer(t, blockingHandler)
	slow := kmsg.NewPtrApiVersionsRequest()
	slow.SetVersion(3)

	t.Run("deadline", func(t *testing.T) {
		c := dial(t, s.Addr())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Request(ctx, slow)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		if !c.Closed() {
			t.Fatal("conn open after timeout")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c := dial(t, s.Addr())
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		_, err := c.Request(ctx, slow)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("already done", func(t *testing.T) {
		c := dial(t, s.Addr())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Request(ctx, metadataV12()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if c.Closed() {
			t.Fatal("conn closed though nothing was sent")
		}
		if _, err := c.Request(context.Background(), metadataV12()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("deadline not reached", func(t *testing.T) {
		c := dial(t, s.Addr())
		for i := 0; i < 3; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.Request(ctx, metadataV12())
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("close interrupts", func(t *testing.T) {
		c := dial(t, s.Addr())
		time.AfterFunc(30*time.Millisecond, func() { c.Close() })
		if _, err := c.Request(context.Background(), slow); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestWireProduceAcksZero(t *testing.T) {
	got := make(chan kmsg.Request, 1)
	s := newServer(t, func(ctx context.Context, req kmsg.Request) kmsg.Response {
		if _, ok := req.(*kmsg.ProduceRequest); ok {
			got <- req
			return wiretest.Answer(req) // Kafka would not answer; the client must not wait
		}
		return echoHandler(ctx, req)
	})
	c := dial(t, s.Addr())
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 0
	resp, err := c.Request(context.Background(), req)
	if err != nil || resp != nil {
		t.Fatalf("resp %v err %v", resp, err)
	}
	<-got
}

func TestWirePool(t *testing.T) {
	var fail atomic.Bool
	h := func(ctx context.Context, req kmsg.Request) kmsg.Response {
		if fail.Load() {
			return nil
		}
		return echoHandler(ctx, req)
	}
	s1, s2 := newServer(t, h), newServer(t, h)
	var mu sync.Mutex
	addrs := map[int32]string{1: s1.Addr()}
	p := NewPool("pool", func(id int32) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		a, ok := addrs[id]
		return a, ok
	})
	defer p.Close()
	ctx := context.Background()

	conn := func() *Conn {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.conns[1].conn
	}
	if _, err := p.Request(ctx, 1, metadataV12()); err != nil {
		t.Fatal(err)
	}
	first := conn()
	if _, err := p.Request(ctx, 1, metadataV12()); err != nil {
		t.Fatal(err)
	}
	if conn() != first {
		t.Fatal("pool redialed without a reason")
	}
	if _, err := p.Request(ctx, 2, metadataV12()); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("unknown broker: %v", err)
	}

	fail.Store(true)
	if _, err := p.Request(ctx, 1, metadataV12()); err == nil {
		t.Fatal("no error from a failing server")
	}
	fail.Store(false)
	if _, err := p.Request(ctx, 1, metadataV12()); err != nil {
		t.Fatalf("after redial: %v", err)
	}
	if conn() == first {
		t.Fatal("pool reused a failed conn")
	}

	mu.Lock()
	addrs[1] = s2.Addr()
	mu.Unlock()
	old := conn()
	if _, err := p.Request(ctx, 1, metadataV12()); err != nil {
		t.Fatal(err)
	}
	if c := conn(); c.Addr() != s2.Addr() || !old.Closed() {
		t.Fatalf("address change: conn to %s, old closed %v", c.Addr(), old.Closed())
	}

	p.Forget(1)
	if !forgotten(p, 1) {
		t.Fatal("forget kept the conn")
	}
	if _, err := p.Request(ctx, 1, metadataV12()); err != nil {
		t.Fatal(err)
	}
	c := conn()
	p.Close()
	if !c.Closed() {
		t.Fatal("Close left a conn open")
	}
	if _, err := p.Request(ctx, 1, metadataV12()); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func forgotten(p *Pool, id int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[id]
	return !ok
}

func TestWireDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, "x"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

// TestWireRequestIntoReusesFrame: a response that fits is read into the
// caller's buffer, one that does not replaces it with a larger one, and
// the decoded records alias it.
func TestWireRequestIntoReusesFrame(t *testing.T) {
	s := newServer(t, func(_ context.Context, req kmsg.Request) kmsg.Response {
		r := req.(*kmsg.FetchRequest)
		resp := wiretest.Answer(r).(*kmsg.FetchResponse)
		st := kmsg.NewFetchResponseTopic()
		st.Topic = "t"
		sp := kmsg.NewFetchResponseTopicPartition()
		// The fetch offset asks for that many record bytes, all of
		// them equal to it.
		sp.RecordBatches = bytes.Repeat([]byte{byte(r.Topics[0].Partitions[0].FetchOffset)}, int(r.Topics[0].Partitions[0].FetchOffset))
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		return resp
	})
	c := dial(t, s.Addr())
	fetch := func(n int64, frame *[]byte) []byte {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = n
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.RequestInto(context.Background(), req, frame)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(n)}, int(n))) {
			t.Fatalf("fetch of %d: wrong records", n)
		}
		return got
	}
	var frame []byte
	first := fetch(200, &frame)
	if !aliases(first, frame) {
		t.Fatalf("records do not alias the frame (cap %d)", cap(frame))
	}
	buf := &frame[:1][0]
	second := fetch(150, &frame)
	if &frame[:1][0] != buf || !aliases(second, frame) {
		t.Fatal("a smaller response did not reuse the frame")
	}
	if first[0] != 150 {
		t.Fatal("the first response's records were not overwritten by the second")
	}
	fetch(250, &frame)
	if &frame[:1][0] == buf || cap(frame) < 250 {
		t.Fatal("a larger response did not replace the frame")
	}
	// Request (no frame) still reads into a fresh buffer each time.
	a, b := fetch(50, nil), fetch(50, nil)
	if aliases(a, b) || aliases(a, frame) {
		t.Fatal("Request reused a buffer")
	}
}

// aliases reports whether b lies inside frame's backing array.
func aliases(b, frame []byte) bool {
	if len(b) == 0 || cap(frame) == 0 {
		return false
	}
	full := frame[:cap(frame)]
	lo, hi := uintptr(unsafe.Pointer(&full[0])), uintptr(unsafe.Pointer(&full[len(full)-1]))
	p := uintptr(unsafe.Pointer(&b[0]))
	return p >= lo && p <= hi
}
