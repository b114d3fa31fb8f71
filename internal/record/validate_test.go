package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// sealed wraps record bytes in a batch of count records (last offset delta
// count-1) compressed by codec, with a valid CRC.
func sealed(codec Codec, count int32, recs []byte) []byte {
	return recordtest.Sealed{
		Records: recs, NumRecords: count, LastOffsetDelta: count - 1,
		FirstTimestamp: 1000, MaxTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Codec: int8(codec),
	}.Seal()
}

// five is five well-formed records 0..4, with keys and values.
func five() []recordtest.RawRecord {
	var rs []recordtest.RawRecord
	for i := 0; i < 5; i++ {
		rs = append(rs, recordtest.Raw(i, []byte{'k', byte('0' + i)}, []byte("value")))
	}
	return rs
}

// edit returns five records with the i-th changed by f.
func edit(i int, f func(r *recordtest.RawRecord)) []recordtest.RawRecord {
	rs := five()
	f(&rs[i])
	return rs
}

// framingCase is a batch's records that must be refused as INVALID_RECORD
// with an error saying msg.
type framingCase struct {
	name  string
	recs  []byte
	count int32 // 0: 5
	msg   string
}

// framingCases are TestRecordValidateFraming's, also fuzz seeds.
func framingCases() []framingCase {
	return []framingCase{
		{name: "value length 2^31-1", recs: recordtest.Records(edit(2, func(r *recordtest.RawRecord) { r.ValueLength = math.MaxInt32 })...), msg: "record 2 of 5: value: length 2147483647 exceeds"},
		{name: "header count 2^31-1", recs: recordtest.Records(edit(2, func(r *recordtest.RawRecord) { r.HeaderCount = math.MaxInt32 })...), msg: "record 2 of 5: header count: 2147483647"},
		{name: "header count -1", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { r.HeaderCount = -1 })...), msg: "header count: -1"},
		{name: "header count beyond headers", recs: recordtest.Records(edit(4, func(r *recordtest.RawRecord) { *r = r.WithHeader("h", []byte("v")); r.HeaderCount = 2 })...), msg: "record 4 of 5: header 1 key"},
		{name: "key length -2", recs: recordtest.Records(edit(1, func(r *recordtest.RawRecord) { r.KeyLength = -2; r.Key = nil })...), msg: "record 1 of 5: key: length -2"},
		{name: "key length 2^31-1", recs: recordtest.Records(edit(1, func(r *recordtest.RawRecord) { r.KeyLength = math.MaxInt32 })...), msg: "record 1 of 5: key: length 2147483647 exceeds"},
		{name: "key longer than record", recs: recordtest.Records(edit(3, func(r *recordtest.RawRecord) { r.KeyLength = 20 })...), msg: "record 3 of 5: key: length 20 exceeds"},
		{name: "value length -7", recs: recordtest.Records(edit(4, func(r *recordtest.RawRecord) { r.ValueLength = -7; r.Value = nil })...), msg: "record 4 of 5: value: length -7"},
		{name: "header key null", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { *r = r.WithHeader("", []byte("v")); r.Headers[0].KeyLength = -1 })...), msg: "record 0 of 5: header 0 key: length -1"},
		{name: "header value length -2", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { *r = r.WithHeader("h", nil); r.Headers[0].ValueLength = -2 })...), msg: "record 0 of 5: header 0 value: length -2"},
		{name: "header value past record", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { *r = r.WithHeader("h", []byte("v")); r.Headers[0].ValueLength = 2 })...), msg: "header 0 value: length 2 exceeds"},
		{name: "record length one short", recs: recordtest.Records(edit(2, func(r *recordtest.RawRecord) { r.LengthDelta = -1 })...), msg: "record 2 of 5: "},
		{name: "record length one long", recs: recordtest.Records(edit(2, func(r *recordtest.RawRecord) { r.LengthDelta = 1 })...), msg: "record 2 of 5: length: 1 bytes left after the last header"},
		{name: "last record length one long", recs: recordtest.Records(edit(4, func(r *recordtest.RawRecord) { r.LengthDelta = 1 })...), msg: "record 4 of 5: length"},
		{name: "record length negative", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { r.LengthDelta = -100 })...), msg: "record 0 of 5: length: -"},
		{name: "record length zero", recs: append(recordtest.Records(five()[:4]...), 0), msg: "record 4 of 5: attributes"},
		{name: "record length 2^31-1", recs: append(recordtest.Records(five()[:4]...), binary.AppendVarint(nil, math.MaxInt32)...), msg: "record 4 of 5: length: 2147483647"},
		{name: "trailing bytes in record", recs: recordtest.Records(edit(1, func(r *recordtest.RawRecord) { r.Trailing = []byte{0, 0} })...), msg: "record 1 of 5: length: 2 bytes left after the last header"},
		{name: "trailing bytes after last record", recs: withRaw(five(), 0), msg: "bytes after the last of 5 records"},
		{name: "count above records", recs: recordtest.Records(five()...), count: 6, msg: "record 5 of 6: length: the batch's records end first"},
		{name: "count below records", recs: recordtest.Records(five()...), count: 4, msg: "bytes after the last of 4 records"},
		{name: "offset deltas swapped", recs: recordtest.Records(edit(1, func(r *recordtest.RawRecord) { r.OffsetDelta = 2 })...), msg: "record 1 of 5: offset delta: 2, want 1"},
		{name: "offset delta repeated", recs: recordtest.Records(edit(3, func(r *recordtest.RawRecord) { r.OffsetDelta = 2 })...), msg: "record 3 of 5: offset delta: 2, want 3"},
		{name: "offset delta negative", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { r.OffsetDelta = -1 })...), msg: "record 0 of 5: offset delta: -1"},
		{name: "offset delta past int32", recs: recordtest.Records(edit(0, func(r *recordtest.RawRecord) { r.OffsetDelta = 1 << 32 })...), msg: "record 0 of 5: offset delta: malformed varint"},
		{name: "six-byte varint", recs: append(recordtest.Records(five()[:4]...), 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), msg: "record 4 of 5: length: malformed varint"},
		{name: "records end inside a varint", recs: append(recordtest.Records(five()[:4]...), 0x80), msg: "record 4 of 5: length: the batch's records end first"},
	}
}

// withRaw appends bytes to the encoded records.
func withRaw(rs []recordtest.RawRecord, tail ...byte) []byte {
	return append(recordtest.Records(rs...), tail...)
}

// TestRecordValidateFraming: batches whose CRC holds and whose records do
// not parse exactly are refused, for every codec. Before Validate walked
// every field, most of these were stored (and stalled librdkafka or were
// dropped by franz-go), and compressed batches were not read at all.
func TestRecordValidateFraming(t *testing.T) {
	cases := framingCases()
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		for _, c := range cases {
			count := c.count
			if count == 0 {
				count = 5
			}
			b := sealed(codec, count, c.recs)
			_, err := Validate(b)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s, %s: got %v, want INVALID_RECORD with %q", codec, c.name, err, c.msg)
			}
		}
	}
}

// TestRecordValidateWellFormed: what clients send passes, for every codec:
// null, empty and large keys and values, headers (null values too), one
// record larger than the decompression window, many small records.
func TestRecordValidateWellFormed(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes
	batches := map[string]recordtest.Batch{
		"nulls and empties": {Records: []recordtest.Record{
			{Key: nil, Value: []byte("v")}, {Key: []byte{}, Value: nil}, {Key: []byte("k"), Value: []byte{}},
		}},
		"headers": {Records: []recordtest.Record{
			{Key: []byte("k"), Value: []byte("v"), Headers: []recordtest.Header{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}, {Key: "c", Value: []byte{}}}},
			{Value: []byte("v2"), Headers: []recordtest.Header{{Key: "h", Value: bytes.Repeat([]byte{'x'}, 300)}}},
		}},
		"large record": {Records: []recordtest.Record{{Key: []byte("a"), Value: []byte("small")}, {Key: []byte("b"), Value: big}, {Value: []byte("after")}}},
	}
	many := recordtest.Batch{}
	for i := 0; i < 3000; i++ {
		many.Records = append(many.Records, recordtest.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("v"), Timestamp: int64(i)})
	}
	batches["3000 records"] = many
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		for name, b := range batches {
			b.ProducerID, b.BaseSequence, b.Codec = -1, -1, int8(codec)
			raw := b.Encode()
			h, err := Validate(raw)
			if err != nil {
				t.Errorf("%s, %s: %v", codec, name, err)
				continue
			}
			if n := countRecords(t, raw); n != int(h.NumRecords) || n != len(b.Records) {
				t.Errorf("%s, %s: %d records iterated, header %d, want %d", codec, name, n, h.NumRecords, len(b.Records))
			}
		}
	}
}

func countRecords(t *testing.T, raw []byte) int {
	t.Helper()
	n := 0
	if err := EachRecord(raw, func(*Record) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRecordValidateUndecodable: compressed records that do not decompress
// are CORRUPT_MESSAGE (the CRC holds, the codec's own checks do not).
func TestRecordValidateUndecodable(t *testing.T) {
	for codec := CodecGzip; codec <= CodecZstd; codec++ {
		good := sealed(codec, 5, recordtest.Records(five()...))
		body := good[HeaderSize:]
		for name, mutated := range map[string][]byte{
			"garbage":   bytes.Repeat([]byte{0xa5}, 40),
			"truncated": body[:len(body)/2],
			"empty":     {},
		} {
			b := recordtest.Sealed{Records: mutated, Compressed: true, NumRecords: 5, LastOffsetDelta: 4, ProducerID: -1, Codec: int8(codec)}.Seal()
			_, err := Validate(b)
			switch {
			case name == "garbage" && !errors.Is(err, ErrCorrupt):
				t.Errorf("%s, %s: got %v, want CORRUPT_MESSAGE", codec, name, err)
			case !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid):
				// An empty or cut stream may read as fewer records.
				t.Errorf("%s, %s: got %v", codec, name, err)
			}
		}
	}
}

// TestRecordValidateSnappyStrict: snappy is decoded as snappy is defined
// (by Validate and Records alike), not as S2 (klauspost's Decode takes S2's repeat-offset copies, which
// Java's and librdkafka's snappy refuse).
func TestRecordValidateSnappyStrict(t *testing.T) {
	// "abcd", a copy of it (offset 4), then S2's repeat of the last
	// offset (a copy with offset 0, invalid snappy).
	block := []byte{12, 3 << 2, 'a', 'b', 'c', 'd', 0x01, 4, 0x01, 0}
	b := recordtest.Sealed{Records: block, Compressed: true, NumRecords: 1, ProducerID: -1, Codec: int8(CodecSnappy)}.Seal()
	if got, err := kgo.DefaultDecompressor().Decompress(block, kgo.CodecSnappy); err != nil || string(got) != "abcdabcdabcd" {
		t.Fatalf("s2 decodes the block to %q, %v (the test needs a block S2 accepts)", got, err)
	}
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("S2-only snappy block: got %v, want CORRUPT_MESSAGE", err)
	}
	if _, err := Records(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records of an S2-only snappy block: got %v, want CORRUPT_MESSAGE", err)
	}
}

// TestRecordValidateBomb: records that decompress past maxRecordsSize are
// refused, without holding them: memory stays near one record's size.
func TestRecordValidateBomb(t *testing.T) {
	value := make([]byte, 1<<20)
	n := maxRecordsSize>>20 + 2
	var recs []byte
	for i := 0; i < n; i++ {
		recs = recordtest.Raw(i, nil, value).AppendTo(recs)
	}
	for codec := CodecGzip; codec <= CodecZstd; codec++ {
		b := recordtest.Sealed{Records: recs, NumRecords: int32(n), LastOffsetDelta: int32(n - 1), ProducerID: -1, Codec: int8(codec)}.Seal()
		_, _ = Validate(b) // warm the pools
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Validate(b)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "decompress to more than") {
			t.Errorf("%s: %d-byte batch of %d MiB of records: got %v", codec, len(b), len(recs)>>20, err)
		}
		// Far below the bomb's 66 MiB; the slack covers a decoder the
		// pool dropped (sync.Pool drops at random under -race) and
		// allocated again, such as lz4's 4 MiB block buffer.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 12<<20 {
			t.Errorf("%s: validating the bomb allocated %d bytes", codec, alloc)
		}
		if codec == CodecZstd {
			if _, err := Records(b); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: Records of the bomb: got %v", codec, err)
			}
		}
	}
}

// TestRecordValidateSnappyClaims: a raw snappy block's declared length is
// checked before anything is allocated for it.
func TestRecordValidateSnappyClaims(t *testing.T) {
	for _, c := range []struct {
		claim int
		want  error
	}{{maxRecordsSize + 1, ErrInvalid}, {64 * snappyMaxExpansion * 4, ErrCorrupt}} {
		block := append(binary.AppendUvarint(nil, uint64(c.claim)), make([]byte, 64)...)
		b := recordtest.Sealed{Records: block, Compressed: true, NumRecords: 1, ProducerID: -1, Codec: int8(CodecSnappy)}.Seal()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Validate(b)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, c.want) {
			t.Errorf("claim %d: got %v, want %v", c.claim, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("claim %d: allocated %d bytes", c.claim, alloc)
		}
	}
}

// TestRecordValidateAllocs: validating a batch allocates nothing in steady
// state, compressed or not.
func TestRecordValidateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		raw := benchBatch(int8(codec))
		if _, err := Validate(raw); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = Validate(raw) }); n > 0 {
			t.Errorf("%s: %.1f allocations per Validate", codec, n)
		}
	}
}

// TestRecordValidateZstdWindow: a zstd frame whose window passes
// maxZstdWindow is refused as a bound (INVALID_RECORD), whatever it holds;
// one within it passes.
func TestRecordValidateZstdWindow(t *testing.T) {
	recs := recordtest.Records(five()...)
	for _, c := range []struct {
		window int
		want   error
	}{{maxZstdWindow, nil}, {2 * maxZstdWindow, ErrInvalid}} {
		var buf bytes.Buffer
		w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(c.window), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(recs)
		_ = w.Flush() // a header before the end: no content size, so the window is declared
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b := recordtest.Sealed{Records: buf.Bytes(), Compressed: true, NumRecords: 5, LastOffsetDelta: 4, ProducerID: -1, Codec: int8(CodecZstd)}.Seal()
		if _, err = Validate(b); !errors.Is(err, c.want) || c.want == nil && err != nil || errors.Is(err, ErrCorrupt) {
			t.Errorf("window %d: got %v, want %v", c.window, err, c.want)
		}
	}
}

// TestRecordVarints: the record decoder reads Kafka's varints as
// encoding/binary writes them, and refuses what does not fit the type.
func TestRecordVarints(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, math.MaxInt32, math.MinInt32} {
		b := binary.AppendVarint(nil, v)
		got, n := varint32Short(b)
		if n == 0 {
			got, n = varint32(b)
		}
		if n != len(b) || int64(got) != v {
			t.Errorf("varint32 of %d (% x): %d, %d bytes", v, b, got, n)
		}
		if got, n := varint32(b); n != len(b) || int64(got) != v {
			t.Errorf("varint32 (long path) of %d: %d, %d bytes", v, got, n)
		}
		if _, n := varint32(b[:len(b)-1]); n != 0 {
			t.Errorf("varint32 of %d cut short: n %d, want 0", v, n)
		}
	}
	for _, v := range []int64{math.MaxInt64, math.MinInt64, 1 << 40, -(1 << 40)} {
		b := binary.AppendVarint(nil, v)
		if got, n := varint64(b); n != len(b) || got != v {
			t.Errorf("varint64 of %d: %d, %d bytes", v, got, n)
		}
	}
	for name, b := range map[string][]byte{
		"2^31":               binary.AppendVarint(nil, 1<<31),
		"-2^31-1":            binary.AppendVarint(nil, -(1<<31)-1),
		"six bytes":          {0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
		"fifth byte 0x10":    {0xff, 0xff, 0xff, 0xff, 0x10},
		"five continuations": {0x80, 0x80, 0x80, 0x80, 0x80},
	} {
		if _, n := varint32(b); n >= 0 {
			t.Errorf("varint32 %s (% x): n %d, want < 0", name, b, n)
		}
	}
	if _, n := varint64([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}); n >= 0 {
		t.Errorf("varint64 past 64 bits: n %d, want < 0", n)
	}
}
