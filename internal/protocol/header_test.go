package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allVersions serves every key and version kmsg knows.
func allVersions(key int16) (int16, int16, bool) {
	req := kmsg.RequestForKey(key)
	if req == nil {
		return 0, 0, false
	}
	return 0, req.MaxVersion(), true
}

// someVersions serves Metadata 0-13 and ApiVersions 0-4, like a small
// broker.
func someVersions(key int16) (int16, int16, bool) {
	switch key {
	case 3:
		return 0, 13, true
	case ApiVersionsKey:
		return 0, 4, true
	}
	return 0, 0, false
}

func TestProtocolRequestHeaderVersionMatchesKmsg(t *testing.T) {
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			if got := RequestHeaderVersion(key, 0); got != 1 {
				t.Errorf("unknown key %d: header v%d", key, got)
			}
			continue
		}
		for v := int16(0); v <= req.MaxVersion()+2; v++ {
			req.SetVersion(v)
			want := int16(1)
			switch {
			case key == 7 && v == 0:
				want = 0
			case req.IsFlexible():
				want = 2
			}
			if got := RequestHeaderVersion(key, v); got != want {
				t.Errorf("%s v%d: header v%d, want v%d", kmsg.NameForKey(key), v, got, want)
			}
		}
	}
}

// requestCases are requests of both header versions, with and without a
// client id.
func requestCases() []kmsg.Request {
	md1 := kmsg.NewPtrMetadataRequest()
	md1.SetVersion(1)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("t")
	md1.Topics = append(md1.Topics, rt)
	md12 := kmsg.NewPtrMetadataRequest()
	md12.SetVersion(12)
	md12.Topics = append(md12.Topics, rt)
	av3 := kmsg.NewPtrApiVersionsRequest()
	av3.SetVersion(3)
	av3.ClientSoftwareName, av3.ClientSoftwareVersion = "gregor", "1"
	av0 := kmsg.NewPtrApiVersionsRequest()
	av0.SetVersion(0)
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = -1
	pr.TimeoutMillis = 1000
	return []kmsg.Request{md1, md12, av3, av0, pr}
}

func TestProtocolAppendRequestMatchesKmsg(t *testing.T) {
	for _, clientID := range []*string{nil, kmsg.StringPtr(""), kmsg.StringPtr("client-1")} {
		var opts []kmsg.RequestFormatterOpt
		if clientID != nil {
			opts = append(opts, kmsg.FormatterClientID(*clientID))
		}
		rf := kmsg.NewRequestFormatter(opts...)
		for _, req := range requestCases() {
			name := kmsg.NameForKey(req.Key())
			got := AppendRequest([]byte("prefix"), 42, clientID, req)
			want := rf.AppendRequest(nil, req, 42)
			if !bytes.Equal(got[6:], want) {
				t.Fatalf("%s v%d client %v:\n got %x\nwant %x", name, req.GetVersion(), clientID, got[6:], want)
			}
			r, err := ParseRequest(got[10:], allVersions)
			if err != nil {
				t.Fatalf("%s v%d: %v", name, req.GetVersion(), err)
			}
			if r.Key != req.Key() || r.Version != req.GetVersion() || r.CorrelationID != 42 ||
				(r.ClientID == nil) != (clientID == nil) || clientID != nil && *r.ClientID != *clientID {
				t.Fatalf("%s v%d: header %+v", name, req.GetVersion(), r.RequestHeader)
			}
			if !bytes.Equal(r.Body.AppendTo(nil), req.AppendTo(nil)) {
				t.Fatalf("%s v%d: body does not round-trip", name, req.GetVersion())
			}
		}
	}
}

func TestProtocolControlledShutdownV0HasHeaderV0(t *testing.T) {
	req := kmsg.NewPtrControlledShutdownRequest()
	req.SetVersion(0)
	req.BrokerID = 3
	frame := AppendRequest(nil, 5, kmsg.StringPtr("ignored"), req)
	if len(frame) != 4+8+4 { // size, header v0, broker id
		t.Fatalf("frame %x", frame)
	}
	r, err := ParseRequest(frame[4:], allVersions)
	if err != nil || r.ClientID != nil || r.Body.(*kmsg.ControlledShutdownRequest).BrokerID != 3 {
		t.Fatalf("parse: %+v %v", r, err)
	}
}

func TestProtocolParseRequest(t *testing.T) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12) // flexible: header v2 with tagged fields
	frame := AppendRequest(nil, 9, kmsg.StringPtr("c"), req)[4:]
	r, err := ParseRequest(frame, someVersions)
	if err != nil || r.Key != 3 || r.Version != 12 || r.CorrelationID != 9 || r.ClientID == nil || *r.ClientID != "c" {
		t.Fatalf("parse: %+v %v", r, err)
	}

	// Header tags are skipped, whatever they hold.
	tagged := append([]byte(nil), frame[:11]...)
	tagged = append(tagged, 2, 0, 3, 'a', 'b', 'c', 7, 0)
	tagged = append(tagged, frame[12:]...)
	if r, err := ParseRequest(tagged, someVersions); err != nil || r.Body == nil {
		t.Fatalf("tagged header: %+v %v", r, err)
	}

	cases := []struct {
		name  string
		frame []byte
	}{
		{"short header", frame[:7]},
		{"no client id", frame[:9]},
		{"client id past the end", append(append([]byte(nil), frame[:8]...), 0, 9, 'x')},
		{"negative client id length", append(append([]byte(nil), frame[:8]...), 0xff, 0xf0)},
		// A header tag section claiming more bytes than present.
		{"bad header tags", append(append([]byte(nil), frame[:11]...), 1, 0, 50)},
		{"unserved key", func() []byte {
			f := append([]byte(nil), frame...)
			binary.BigEndian.PutUint16(f, 0)
			return f
		}()},
		{"unknown key", func() []byte {
			f := append([]byte(nil), frame...)
			binary.BigEndian.PutUint16(f, 999)
			return f
		}()},
		{"unserved version", func() []byte {
			f := append([]byte(nil), frame...)
			binary.BigEndian.PutUint16(f[2:], 99)
			return f
		}()},
		{"truncated body", frame[:len(frame)-1]},
	}
	for _, tc := range cases {
		if _, err := ParseRequest(tc.frame, someVersions); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}

	// ApiVersions at a version not served falls back to an empty v0.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(4)
	f := AppendRequest(nil, 1, nil, av)[4:]
	binary.BigEndian.PutUint16(f[2:], 77)
	if r, err := ParseRequest(f, someVersions); err != nil || !r.UnsupportedVersion || r.Body.GetVersion() != 0 || r.Version != 77 {
		t.Fatalf("api versions fallback: %+v %v", r, err)
	}
}

func TestProtocolResponseHeaders(t *testing.T) {
	// ApiVersions v3 has a flexible body but header v0; Metadata v12 has
	// header v1; Metadata v8 header v0.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	md12 := kmsg.NewPtrMetadataRequest()
	md12.SetVersion(12)
	md8 := kmsg.NewPtrMetadataRequest()
	md8.SetVersion(8)
	for _, tc := range []struct {
		req      kmsg.Request
		flexible bool
	}{{av, false}, {md12, true}, {md8, false}} {
		resp := tc.req.ResponseKind()
		resp.SetVersion(tc.req.GetVersion())
		if got := ResponseHeaderFlexible(resp); got != tc.flexible {
			t.Fatalf("%s v%d: flexible header %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), got)
		}
		frame := AppendResponse(nil, 77, resp)
		if int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
			t.Fatal("size prefix")
		}
		body := frame[8:]
		if tc.flexible {
			if body[0] != 0 {
				t.Fatal("no empty tag section")
			}
			body = body[1:]
		}
		if !bytes.Equal(body, resp.AppendTo(nil)) {
			t.Fatalf("%s: body", kmsg.NameForKey(resp.Key()))
		}
		corr, back, err := ParseResponse(frame[4:], tc.req)
		if err != nil || corr != 77 || back.GetVersion() != tc.req.GetVersion() {
			t.Fatalf("parse: %d %v %v", corr, back, err)
		}
	}

	// A response header with tags: tag 0 of 3 bytes and tag 5 empty.
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12)
	resp.ClusterID = kmsg.StringPtr("cid")
	frame := binary.BigEndian.AppendUint32(nil, 8)
	frame = append(frame, 2, 0, 3, 'a', 'b', 'c', 5, 0)
	frame = resp.AppendTo(frame)
	corr, back, err := ParseResponse(frame, md12)
	if err != nil || corr != 8 || *back.(*kmsg.MetadataResponse).ClusterID != "cid" {
		t.Fatalf("tagged response header: %d %v", corr, err)
	}

	for name, bad := range map[string][]byte{
		"short":    {0, 0, 1},
		"bad tags": {0, 0, 0, 8, 1, 0, 50, 1},
		"body":     {0, 0, 0, 8, 0, 1},
	} {
		corr, _, err := ParseResponse(bad, md12)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if name != "short" && corr != 8 {
			t.Errorf("%s: correlation id %d not returned with the error", name, corr)
		}
	}
}

// TestProtocolEncodedFramesAsItsResponse: a response encoded ahead frames
// exactly as the response itself, header flexibility included.
func TestProtocolEncodedFramesAsItsResponse(t *testing.T) {
	for _, v := range []int16{0, 8, 9, 12} {
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(v)
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: 1, Host: "h", Port: 9092})
		want := AppendResponse(nil, 7, resp)
		if got := AppendResponse(nil, 7, NewEncoded(resp)); !bytes.Equal(got, want) {
			t.Errorf("v%d: encoded frame\n%x\nwant\n%x", v, got, want)
		}
	}
}
