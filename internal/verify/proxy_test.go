package verify

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokenProxy is a deliberately broken Kafka cluster: a TCP proxy in front
// of a real broker that passes requests and responses through, except
// where its faults rewrite them. It points Metadata and FindCoordinator
// answers at itself so that clients never bypass it.
//
// Faults are called with the proxy's mutex held, one at a time, so they
// may keep state without locking.
type brokenProxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string
	host     string
	port     int32

	mu     sync.Mutex
	faults faults
}

// faults are the misbehaviours of a brokenProxy; nil ones pass through.
type faults struct {
	// fetch may drop, reorder or rewrite the batches of one partition of
	// a Fetch response to client; it returns the batches to send.
	fetch func(client string, partition int32, batches []*batch) []*batch
	// produce looks at a Produce request from client before it goes to
	// the broker: duplicate sends it twice (the client sees the first
	// answer), fail answers it with INVALID_RECORD for every partition
	// after the broker wrote it.
	produce func(client string, req *kmsg.ProduceRequest) (duplicate, fail bool)
	// offsetFetch may rewrite an OffsetFetch response to client.
	offsetFetch func(client string, resp *kmsg.OffsetFetchResponse)
}

func startProxy(t *testing.T, upstream string, f faults) *brokenProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	p := &brokenProxy{t: t, ln: ln, upstream: upstream, host: addr.IP.String(), port: int32(addr.Port), faults: f}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c, up) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *brokenProxy) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(int(p.port))) }

// inFlight is a request forwarded to the broker whose answer is due.
type inFlight struct {
	key, version int16
	client       string
	swallow      bool // the answer to a duplicate the client did not send
	fail         bool
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func writeFrame(w io.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+n), uint32(n))
	for _, p := range parts {
		out = append(out, p...)
	}
	_, err := w.Write(out)
	return err
}

// skipTags returns the length of the tagged-field section at the start
// of b.
func skipTags(b []byte) (int, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, errors.New("bad tag count")
	}
	off := n
	for range count {
		_, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, errors.New("bad tag")
		}
		off += n
		size, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, errors.New("bad tag size")
		}
		off += n + int(size)
	}
	return off, nil
}

func (p *brokenProxy) serve(c, up net.Conn) {
	defer c.Close()
	defer up.Close()
	due := make(chan inFlight, 256)
	go func() {
		defer up.Close()
		defer close(due)
		rd := bufio.NewReader(c)
		for {
			frame, err := readFrame(rd)
			if err != nil || len(frame) < 10 {
				return
			}
			key := int16(binary.BigEndian.Uint16(frame[0:]))
			version := int16(binary.BigEndian.Uint16(frame[2:]))
			off := 8
			client := ""
			if n := int16(binary.BigEndian.Uint16(frame[off:])); n > 0 {
				client = string(frame[off+2 : off+2+int(n)])
				off += int(n)
			}
			off += 2
			req := kmsg.RequestForKey(key)
			if req == nil {
				return
			}
			req.SetVersion(version)
			if req.IsFlexible() {
				n, err := skipTags(frame[off:])
				if err != nil {
					return
				}
				off += n
			}
			f := inFlight{key: key, version: version, client: client}
			dup := false
			if key == 0 {
				preq := req.(*kmsg.ProduceRequest)
				if err := preq.ReadFrom(frame[off:]); err != nil {
					p.t.Errorf("proxy: produce request: %v", err)
					return
				}
				if p.faults.produce != nil {
					p.mu.Lock()
					dup, f.fail = p.faults.produce(client, preq)
					p.mu.Unlock()
				}
				if preq.Acks == 0 {
					// No answer will come; a duplicate still goes.
					if writeFrame(up, frame) != nil || (dup && writeFrame(up, frame) != nil) {
						return
					}
					continue
				}
			}
			due <- f
			if writeFrame(up, frame) != nil {
				return
			}
			if dup {
				due <- inFlight{key: key, version: version, client: client, swallow: true}
				if writeFrame(up, frame) != nil {
					return
				}
			}
		}
	}()
	rd := bufio.NewReader(up)
	for f := range due {
		frame, err := readFrame(rd)
		if err != nil {
			return
		}
		if f.swallow {
			continue
		}
		out, err := p.rewrite(f, frame)
		if err != nil {
			p.t.Errorf("proxy: response to key %d v%d: %v", f.key, f.version, err)
			return
		}
		if writeFrame(c, out...) != nil {
			return
		}
	}
}

// rewrite returns the response frame to send for f: the broker's, or one
// the faults changed.
func (p *brokenProxy) rewrite(f inFlight, frame []byte) ([][]byte, error) {
	switch f.key {
	case 0, 1, 3, 9, 10:
	default:
		return [][]byte{frame}, nil
	}
	resp := kmsg.ResponseForKey(f.key)
	resp.SetVersion(f.version)
	head := 4
	if resp.IsFlexible() {
		n, err := skipTags(frame[4:])
		if err != nil {
			return nil, err
		}
		head += n
	}
	if err := resp.ReadFrom(frame[head:]); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		if !f.fail {
			return [][]byte{frame}, nil
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].ErrorCode = 87 // INVALID_RECORD
				r.Topics[i].Partitions[j].BaseOffset = -1
			}
		}
	case *kmsg.FetchResponse:
		if p.faults.fetch == nil {
			return [][]byte{frame}, nil
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				rp := &r.Topics[i].Partitions[j]
				batches, tail, err := splitBatches(rp.RecordBatches)
				if err != nil {
					return nil, err
				}
				var out []byte
				for _, b := range p.faults.fetch(f.client, rp.Partition, batches) {
					out = append(out, b.encode()...)
				}
				rp.RecordBatches = append(out, tail...)
			}
		}
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			r.Brokers[i].Host, r.Brokers[i].Port = p.host, p.port
		}
	case *kmsg.FindCoordinatorResponse:
		if r.Host != "" {
			r.Host, r.Port = p.host, p.port
		}
		for i := range r.Coordinators {
			r.Coordinators[i].Host, r.Coordinators[i].Port = p.host, p.port
		}
	case *kmsg.OffsetFetchResponse:
		if p.faults.offsetFetch == nil {
			return [][]byte{frame}, nil
		}
		p.faults.offsetFetch(f.client, r)
	}
	return [][]byte{frame[:head], resp.AppendTo(nil)}, nil
}

// batch is one record batch of a Fetch response, decoded.
type batch struct {
	kmsg.RecordBatch
	records []kmsg.Record
}

func (b *batch) lastOffset() int64 { return b.FirstOffset + int64(b.LastOffsetDelta) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// splitBatches decodes the whole batches of a partition's records; tail
// is a partial batch at the end (cut by the fetch size), passed as is.
func splitBatches(raw []byte) (batches []*batch, tail []byte, err error) {
	for len(raw) >= 12 {
		size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:])))
		if size > len(raw) {
			break
		}
		b := &batch{}
		if err := b.ReadFrom(raw[:size]); err != nil {
			return nil, nil, err
		}
		if b.Attributes&0x07 != 0 {
			return nil, nil, fmt.Errorf("batch at %d is compressed", b.FirstOffset)
		}
		recs := b.Records
		for range b.NumRecords {
			l, n := binary.Varint(recs)
			if n <= 0 || n+int(l) > len(recs) {
				return nil, nil, fmt.Errorf("batch at %d: bad record", b.FirstOffset)
			}
			var rec kmsg.Record
			if err := rec.ReadFrom(recs[:n+int(l)]); err != nil {
				return nil, nil, err
			}
			b.records = append(b.records, rec)
			recs = recs[n+int(l):]
		}
		batches = append(batches, b)
		raw = raw[size:]
	}
	return batches, raw, nil
}

// encode writes the batch back with its records, length and CRC.
func (b *batch) encode() []byte {
	var recs []byte
	for i := range b.records {
		r := b.records[i]
		r.Length = 0
		body := r.AppendTo(nil)[1:] // without the one-byte varint of 0
		r.Length = int32(len(body))
		recs = r.AppendTo(recs)
	}
	b.Records = recs
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out
}

// offset returns the offset of record i of the batch.
func (b *batch) offset(i int) int64 { return b.FirstOffset + int64(b.records[i].OffsetDelta) }
