// Package record reads, validates and edits Kafka RecordBatch v2 bytes in
// place. The broker never re-encodes records on the hot path: a batch
// arrives as bytes, is validated here (sizes, magic, CRC32C, offset range,
// record count, and every record's framing, decompressed through pooled,
// bounded decoders when the batch is compressed, as Kafka's LogValidator
// reads them; see framing.go and inflate.go), gets its base offset and
// leader epoch written in place, and is appended to the log as it came.
// Nothing is allocated per record, and nothing per batch in steady state.
//
// Layout of a v2 batch (all integers big-endian):
//
//	offset  size  field
//	     0     8  baseOffset
//	     8     4  batchLength           bytes after this field
//	    12     4  partitionLeaderEpoch
//	    16     1  magic                 must be 2
//	    17     4  crc                   CRC-32C of bytes [21, end)
//	    21     2  attributes            bits 0-2 codec, 3 timestamp type,
//	                                    4 transactional, 5 control,
//	                                    6 delete horizon set
//	    23     4  lastOffsetDelta
//	    27     8  baseTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  recordCount
//	    61     …  records (compressed as a whole when codec != 0)
//
// baseOffset, batchLength, partitionLeaderEpoch and magic lie outside the CRC,
// so assigning offsets and stamping epochs never recomputes it.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of a v2 batch header, records excluded.
	HeaderSize = 61
	// LogOverhead is the part of a batch not counted by batchLength.
	LogOverhead = 12
)

// Attribute bits.
const (
	codecMask          = 0x07
	attrLogAppendTime  = 0x08
	attrTransactional  = 0x10
	attrControl        = 0x20
	attrDeleteHorizon  = 0x40
	timestampTypeShift = 3
)

// Codec is the compression codec of a batch.
type Codec int8

const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors. ErrCorrupt maps to CORRUPT_MESSAGE, ErrInvalid to INVALID_RECORD.
var (
	ErrCorrupt   = errors.New("record: corrupt batch")
	ErrInvalid   = errors.New("record: invalid batch")
	ErrTruncated = errors.New("record: truncated batch")
	ErrMagic     = errors.New("record: unsupported magic")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded copy of a batch header.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch size in bytes, header included.
func (h *Header) Size() int64 { return int64(h.Length) + LogOverhead }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & codecMask) }

// LogAppendTime reports whether the batch carries broker timestamps.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports the transactional bit.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether this is a control batch (transaction markers).
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// Idempotent reports whether the batch carries a producer id.
func (h *Header) Idempotent() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record,
// wrapping at MaxInt32 as Kafka does.
func (h *Header) LastSequence() int32 {
	return IncSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncSequence adds n to a producer sequence, wrapping to 0 past MaxInt32.
func IncSequence(seq, n int32) int32 {
	if seq > 1<<31-1-n {
		return n - (1<<31 - 1 - seq) - 1
	}
	return seq + n
}

// ReadHeader decodes the header at the start of b. It checks only that the
// header is complete and the magic is 2; Validate checks the rest.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < offMagic+1 {
		return Header{}, ErrTruncated
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w %d", ErrMagic, h.Magic)
	}
	if len(b) < HeaderSize {
		return h, ErrTruncated
	}
	h.CRC = be.Uint32(b[offCRC:])
	h.Attributes = int16(be.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(be.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(be.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(be.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(be.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(be.Uint32(b[offRecordCount:]))
	return h, nil
}

// BatchSize returns the full size of the batch starting at b from its length
// field, or an error if the length field is missing or impossible.
func BatchSize(b []byte) (int64, error) {
	if len(b) < LogOverhead {
		return 0, ErrTruncated
	}
	n := int32(binary.BigEndian.Uint32(b[offLength:]))
	if n < HeaderSize-LogOverhead {
		return 0, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, n)
	}
	return int64(n) + LogOverhead, nil
}

// ComputeCRC returns the CRC-32C the batch b should carry.
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// CheckCRC verifies the batch's CRC. b must be exactly one batch.
func CheckCRC(b []byte) error {
	if len(b) < HeaderSize {
		return ErrTruncated
	}
	if want, got := binary.BigEndian.Uint32(b[offCRC:]), ComputeCRC(b); want != got {
		return fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, want, got)
	}
	return nil
}

// SetBaseOffset writes the batch's base offset in place (outside the CRC).
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetPartitionLeaderEpoch writes the leader epoch in place (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as carrying broker time ts and rewrites
// its max timestamp, then recomputes the CRC, as Kafka does for
// message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | attrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], ComputeCRC(b))
}
