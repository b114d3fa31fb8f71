package protocol

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzProtocolRequest parses arbitrary request frames as a broker serving
// every version kmsg knows would: nothing may panic or spin, and a request
// that parses must frame again into the same header and body.
//
// testdata/fuzz/FuzzProtocolRequest/kmsg-1.15.0-tag-count-spin is a Metadata
// v12 request whose topic claims 2^32-1 tagged fields and then ends: kmsg
// v1.15.0 looped over the whole count after running out of input (seconds
// of CPU per 80-byte request); v1.15.1 stops when the input ends.
func FuzzProtocolRequest(f *testing.F) {
	for i, req := range requestCases() {
		f.Add(AppendRequest(nil, int32(i), kmsg.StringPtr("seed"), req)[4:])
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := ParseRequest(frame, allVersions)
		if err != nil || r.UnsupportedVersion {
			return
		}
		body := r.Body.AppendTo(nil)
		again, err := ParseRequest(AppendRequest(nil, r.CorrelationID, r.ClientID, r.Body)[4:], allVersions)
		if err != nil {
			t.Fatalf("%s v%d: reframed request does not parse: %v", kmsg.NameForKey(r.Key), r.Version, err)
		}
		if again.Key != r.Key || again.Version != r.Version || again.CorrelationID != r.CorrelationID ||
			(again.ClientID == nil) != (r.ClientID == nil) || r.ClientID != nil && *again.ClientID != *r.ClientID {
			t.Fatalf("header %+v reframed as %+v", r.RequestHeader, again.RequestHeader)
		}
		if !bytes.Equal(again.Body.AppendTo(nil), body) {
			t.Fatalf("%s v%d: body changed when reframed", kmsg.NameForKey(r.Key), r.Version)
		}
	})
}

// FuzzProtocolResponse parses arbitrary response frames to a few requests
// of both header versions: nothing may panic, and a response that parses
// must frame again into the same bytes after one decode.
func FuzzProtocolResponse(f *testing.F) {
	reqs := requestCases()
	for i, req := range reqs {
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		f.Add(uint8(i), AppendResponse(nil, int32(i), resp)[4:])
	}
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		req := reqs[int(which)%len(reqs)]
		corr, resp, err := ParseResponse(frame, req)
		if err != nil {
			return
		}
		framed := AppendResponse(nil, corr, resp)
		corr2, again, err := ParseResponse(framed[4:], req)
		if err != nil || corr2 != corr {
			t.Fatalf("%s v%d: reframed response: corr %d err %v", kmsg.NameForKey(req.Key()), req.GetVersion(), corr2, err)
		}
		if !bytes.Equal(AppendResponse(nil, corr, again), framed) {
			t.Fatalf("%s v%d: response changed when reframed", kmsg.NameForKey(req.Key()), req.GetVersion())
		}
	})
}
