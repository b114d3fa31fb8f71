package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wireConn is a raw Kafka protocol connection.
type wireConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialWire(t *testing.T, addr string) *wireConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, conn: c}
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("gregor-e2e-wire"))

// send writes req framed with the next correlation ID and returns that ID.
func (w *wireConn) send(req kmsg.Request) int32 {
	w.t.Helper()
	w.corr++
	w.write(formatter.AppendRequest(nil, req, w.corr))
	return w.corr
}

func (w *wireConn) write(b []byte) {
	w.t.Helper()
	_ = w.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one size-prefixed response and returns its correlation ID
// and the bytes after it.
func (w *wireConn) readFrame() (int32, []byte) {
	w.t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(w.conn, size[:]); err != nil {
		w.t.Fatalf("reading a response size: %v", err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		w.t.Fatalf("response size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(w.conn, buf); err != nil {
		w.t.Fatalf("reading a %d-byte response: %v", n, err)
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:]
}

// apiVersions sends an ApiVersions request at version and decodes the
// answer (whose header never has tagged fields).
func (w *wireConn) apiVersions(version int16) *kmsg.ApiVersionsResponse {
	w.t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName = "gregor-e2e"
	req.ClientSoftwareVersion = "1.0"
	corr := w.send(req)
	gotCorr, body := w.readFrame()
	if gotCorr != corr {
		w.t.Fatalf("ApiVersions v%d: correlation ID %d, want %d", version, gotCorr, corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	if version > resp.MaxVersion() {
		// The broker answers versions it does not know with v0.
		resp.Version = 0
	}
	if err := resp.ReadFrom(body); err != nil {
		w.t.Fatalf("decoding the ApiVersions v%d response (as v%d, %d bytes): %v", version, resp.Version, len(body), err)
	}
	return resp
}

// expectClosed asserts that the broker closes the connection within a few
// seconds; bytes it sends first are tolerated but reported.
func (w *wireConn) expectClosed(what string) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	_ = w.conn.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	var extra int
	for {
		n, err := w.conn.Read(buf)
		extra += n
		if err == nil {
			continue
		}
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			if extra > 0 {
				w.t.Logf("%s: broker sent %d bytes before closing", what, extra)
			}
			return
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
			w.t.Errorf("%s: broker kept the connection open for 10s (read %d bytes)", what, extra)
			return
		default:
			w.t.Errorf("%s: unexpected read error %v", what, err)
			return
		}
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// frame prefixes body with its length.
func frame(body []byte) []byte { return append(be32(uint32(len(body))), body...) }

// header is a v1 request header (key, version, correlation ID, client ID).
func header(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return append(b, 0, 3, 'e', '2', 'e')
}

// TestE2EWireMalformedFrames sends broken frames on fresh connections: the
// broker closes each of them and keeps serving other connections.
func TestE2EWireMalformedFrames(t *testing.T) {
	t.Parallel()
	const maxBytes = 65536
	b := startBroker(t, withSet(fmt.Sprintf("socket.request.max.bytes=%d", maxBytes)))

	// A healthy connection opened before the abuse, used after each case.
	healthy := dialWire(t, b.Addr)
	if r := healthy.apiVersions(0); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions v0: error %d", r.ErrorCode)
	}

	produceGarbage := append(header(0, 9, 7), bytes.Repeat([]byte{0xff}, 40)...)
	cases := []struct {
		name string
		data []byte
	}{
		{"negative size -1", be32(0xffffffff)},
		{"negative size min int32", be32(0x80000000)},
		{"size over socket.request.max.bytes", be32(maxBytes + 1)},
		{"size max int32", be32(0x7fffffff)},
		{"zero size", be32(0)},
		{"header cut short", frame([]byte{0x00, 0x12})},
		{"unknown api key", frame(header(0x7abc, 0, 1))},
		{"garbage", frame([]byte("\xde\xad\xbe\xef this is not a kafka request at all \x00\x01\x02"))},
		{"produce v9 with a garbage body", frame(produceGarbage)},
		{"metadata at an unsupported version", frame(append(header(3, 999, 1), 0, 0, 0, 0))},
	}
	parent := t
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			healthy.t = t // subtests run one at a time
			defer func() { healthy.t = parent }()
			w := dialWire(t, b.Addr)
			w.write(c.data)
			w.expectClosed(c.name)
			b.assertRunning(t)
			if r := healthy.apiVersions(3); r.ErrorCode != 0 || len(r.ApiKeys) == 0 {
				t.Errorf("after %s: the healthy connection's ApiVersions: error %d, %d keys", c.name, r.ErrorCode, len(r.ApiKeys))
			}
			fresh := dialWire(t, b.Addr)
			if r := fresh.apiVersions(3); r.ErrorCode != 0 {
				t.Errorf("after %s: a new connection's ApiVersions: error %d", c.name, r.ErrorCode)
			}
		})
	}

	// A request just under the limit is read, not rejected for its size:
	// a Metadata request padded with a 30000-byte client ID.
	w := dialWire(t, b.Addr)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(string(bytes.Repeat([]byte("c"), 30000))))
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 4
	w.write(f.AppendRequest(nil, req, 99))
	if corr, _ := w.readFrame(); corr != 99 {
		t.Errorf("large Metadata request: correlation ID %d, want 99", corr)
	}
	b.assertRunning(t)
}

// TestE2EWireApiVersionsFallback sends ApiVersions at a version the broker
// cannot know: it must answer in v0 with UNSUPPORTED_VERSION and its version
// table, and keep the connection usable (as KIP-511 clients expect).
func TestE2EWireApiVersionsFallback(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	w := dialWire(t, b.Addr)

	for _, v := range []int16{127, 32767} {
		r := w.apiVersions(v)
		if r.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("ApiVersions v%d: error code %d, want UNSUPPORTED_VERSION (35)", v, r.ErrorCode)
		}
		var found bool
		for _, k := range r.ApiKeys {
			if k.ApiKey == 18 {
				found = true
				if k.MinVersion != 0 || k.MaxVersion < 3 {
					t.Errorf("ApiVersions v%d fallback: ApiVersions versions %d..%d, want 0..>=3", v, k.MinVersion, k.MaxVersion)
				}
			}
		}
		if !found {
			t.Errorf("ApiVersions v%d fallback lists %d keys and not ApiVersions (18)", v, len(r.ApiKeys))
		}
	}

	// The same connection then negotiates normally.
	r := w.apiVersions(3)
	if r.ErrorCode != 0 {
		t.Fatalf("ApiVersions v3 after the fallback: error code %d", r.ErrorCode)
	}
	keys := map[int16][2]int16{}
	for _, k := range r.ApiKeys {
		if k.MinVersion > k.MaxVersion {
			t.Errorf("ApiVersions: key %d has min %d > max %d", k.ApiKey, k.MinVersion, k.MaxVersion)
		}
		keys[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	// Each advertised API, asked at its highest version, gets an answer
	// with the right correlation ID (the rest of the answer is each
	// client test's business); probe the cheap read-only ones.
	for _, key := range []int16{3, 18, 60} {
		vr, ok := keys[key]
		if !ok {
			t.Errorf("ApiVersions does not list key %d", key)
			continue
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(vr[1])
		corr := w.send(req)
		if got, _ := w.readFrame(); got != corr {
			t.Errorf("%s v%d: correlation ID %d, want %d", kmsg.NameForKey(key), vr[1], got, corr)
		}
	}
	b.assertRunning(t)
}

// TestE2EWirePipelining sends several requests before reading any answer:
// the answers come back in request order.
func TestE2EWirePipelining(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	w := dialWire(t, b.Addr)
	var want []int32
	var batch []byte
	for i := 0; i < 20; i++ {
		w.corr++
		var req kmsg.Request
		if i%2 == 0 {
			av := kmsg.NewPtrApiVersionsRequest()
			av.Version = 0
			req = av
		} else {
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 1
			req = md
		}
		// AppendRequest writes the size at dst[0:4], so each request
		// is formatted on its own.
		batch = append(batch, formatter.AppendRequest(nil, req, w.corr)...)
		want = append(want, w.corr)
	}
	w.write(batch)
	for i, corr := range want {
		if got, _ := w.readFrame(); got != corr {
			t.Fatalf("answer %d has correlation ID %d, want %d", i, got, corr)
		}
	}
}
