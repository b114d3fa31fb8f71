// Package recordtest builds RecordBatch v2 bytes for tests, encoded the way
// a client does (with franz-go's kmsg), optionally compressed.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record to encode.
type Record struct {
	Key, Value []byte
	Timestamp  int64 // absolute, ms
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
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // encoded once with length 0 (one byte)
		recs = kr.AppendTo(recs)
	}
	attrs := int16(b.Codec)
	if b.Codec != 0 {
		comp, err := kgo.DefaultCompressor(codec(b.Codec))
		if err != nil {
			panic(err)
		}
		out, _ := comp.Compress(new(bytes.Buffer), recs)
		recs = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(b.Records) - 1),
		FirstTimestamp: first, MaxTimestamp: maxTS,
		ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, FirstSequence: b.BaseSequence,
		NumRecords: int32(len(b.Records)), Records: recs,
	}
	raw := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
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
