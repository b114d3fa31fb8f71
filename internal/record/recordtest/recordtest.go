// Package recordtest builds RecordBatch v2 bytes for tests, encoded the way
// a client does (with franz-go's kmsg), optionally compressed.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record to encode.
type Record struct {
	Key, Value []byte
	Timestamp  int64 // absolute, ms
	Headers    []Header
}

// Header is a record header; a nil Value is a null one.
type Header struct {
	Key   string
	Value []byte
}

// Batch describes a batch to encode.
type Batch struct {
	Records       []Record
	ProducerID    int64 // -1: not idempotent
	ProducerEpoch int16
	BaseSequence  int32
	Codec         int8 // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
}

// Simple returns n records "k<i>"/"v<i>" with timestamps base+i.
func Simple(n int, base int64) Batch {
	b := Batch{ProducerID: -1, BaseSequence: -1}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, Record{Key: []byte{'k', byte('0' + i%10)}, Value: []byte("value-" + string(rune('a'+i%26))), Timestamp: base + int64(i)})
	}
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the batch bytes with base offset 0 and a correct CRC.
func (b Batch) Encode() []byte {
	first, maxTS := b.Records[0].Timestamp, b.Records[0].Timestamp
	for _, r := range b.Records {
		first, maxTS = min(first, r.Timestamp), max(maxTS, r.Timestamp)
	}
	var recs []byte
	for i, r := range b.Records {
		kr := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: r.Timestamp - first, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // encoded once with length 0 (one byte)
		recs = kr.AppendTo(recs)
	}
	return Sealed{
		Records: recs, NumRecords: int32(len(b.Records)), LastOffsetDelta: int32(len(b.Records) - 1),
		FirstTimestamp: first, MaxTimestamp: maxTS,
		ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, BaseSequence: b.BaseSequence,
		Codec: b.Codec,
	}.Seal()
}

// Sealed describes a batch around record bytes given as they are, well
// formed or not, so that tests can build batches a client would not.
type Sealed struct {
	Records         []byte // uncompressed; concatenated records
	Compressed      bool   // Records are the compressed body as it is, not to compress
	NumRecords      int32
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64 // -1: not idempotent
	ProducerEpoch   int16
	BaseSequence    int32
	Codec           int8
}

// Seal returns the batch bytes: base offset 0, the records compressed by
// the codec (unless Compressed), a correct length and CRC.
func (s Sealed) Seal() []byte {
	recs := s.Records
	if s.Codec != 0 && !s.Compressed {
		out, _ := compressor(s.Codec).Compress(new(bytes.Buffer), recs)
		recs = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		Magic: 2, Attributes: int16(s.Codec), LastOffsetDelta: s.LastOffsetDelta,
		FirstTimestamp: s.FirstTimestamp, MaxTimestamp: s.MaxTimestamp,
		ProducerID: s.ProducerID, ProducerEpoch: s.ProducerEpoch, FirstSequence: s.BaseSequence,
		NumRecords: s.NumRecords, Records: recs,
	}
	raw := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

// RawRecord is a record encoded field by field as given, unchecked, so
// that tests can build malformed ones. Lengths are written as they are
// (zig-zag varints of any int64), the bytes after them separately.
type RawRecord struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int64
	KeyLength      int64
	Key            []byte
	ValueLength    int64
	Value          []byte
	HeaderCount    int64
	Headers        []RawHeader
	Trailing       []byte // after the headers, inside the record
	LengthDelta    int64  // added to the record's true length in its prefix
}

// RawHeader is a header of a RawRecord.
type RawHeader struct {
	KeyLength   int64
	Key         []byte
	ValueLength int64
	Value       []byte
}

// Raw returns the well-formed record with offset delta i and key and
// value (nil: null).
func Raw(i int, key, value []byte) RawRecord {
	return RawRecord{OffsetDelta: int64(i), KeyLength: bytesLength(key), Key: key, ValueLength: bytesLength(value), Value: value}
}

// WithHeader returns r with a well-formed header appended.
func (r RawRecord) WithHeader(key string, value []byte) RawRecord {
	r.Headers = append(r.Headers[:len(r.Headers):len(r.Headers)], RawHeader{KeyLength: int64(len(key)), Key: []byte(key), ValueLength: bytesLength(value), Value: value})
	r.HeaderCount = int64(len(r.Headers))
	return r
}

func bytesLength(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}

// AppendTo appends the encoded record, length prefix first.
func (r RawRecord) AppendTo(dst []byte) []byte {
	body := []byte{byte(r.Attributes)}
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, r.OffsetDelta)
	body = append(binary.AppendVarint(body, r.KeyLength), r.Key...)
	body = append(binary.AppendVarint(body, r.ValueLength), r.Value...)
	body = binary.AppendVarint(body, r.HeaderCount)
	for _, h := range r.Headers {
		body = append(binary.AppendVarint(body, h.KeyLength), h.Key...)
		body = append(binary.AppendVarint(body, h.ValueLength), h.Value...)
	}
	body = append(body, r.Trailing...)
	dst = binary.AppendVarint(dst, int64(len(body))+r.LengthDelta)
	return append(dst, body...)
}

// Records encodes rs one after the other.
func Records(rs ...RawRecord) []byte {
	var b []byte
	for _, r := range rs {
		b = r.AppendTo(b)
	}
	return b
}

// compressors are franz-go's, one per codec, made once: making one (a zstd
// encoder's tables above all) costs more than most batches they compress,
// and a fuzz target seals a batch per execution.
var compressors [5]struct {
	once sync.Once
	c    kgo.Compressor
}

func compressor(c int8) kgo.Compressor {
	e := &compressors[c]
	e.once.Do(func() {
		var err error
		if e.c, err = kgo.DefaultCompressor(codec(c)); err != nil {
			panic(err)
		}
	})
	return e.c
}

func codec(c int8) kgo.CompressionCodec {
	switch c {
	case 1:
		return kgo.GzipCompression()
	case 2:
		return kgo.SnappyCompression()
	case 3:
		return kgo.Lz4Compression()
	case 4:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}
