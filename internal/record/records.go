package record

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// decompressor is franz-go's pooled decompressor for every Kafka codec.
var decompressor = kgo.DefaultDecompressor()

// Records returns the batch's record bytes, decompressed. Off the hot path:
// used by offset-for-timestamp lookups, never by produce or fetch.
func Records(batch []byte) ([]byte, error) {
	h, err := ReadHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() > int64(len(batch)) {
		return nil, ErrTruncated
	}
	body := batch[HeaderSize:h.Size()]
	if h.Codec() == CodecNone {
		return body, nil
	}
	out, err := decompressor.Decompress(body, kgo.CompressionCodecType(h.Codec()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, h.Codec(), err)
	}
	return out, nil
}

// EachRecordTime calls fn with the offset and timestamp of each record of the
// batch, in order, until fn returns false. Under LogAppendTime every record
// carries the batch's max timestamp.
func EachRecordTime(batch []byte, fn func(offset, timestamp int64) bool) error {
	h, err := ReadHeader(batch)
	if err != nil {
		return err
	}
	body, err := Records(batch)
	if err != nil {
		return err
	}
	for i := int32(0); i < h.NumRecords; i++ {
		l, w := binary.Varint(body)
		if w <= 0 || l < 0 || l > int64(len(body)-w) {
			return fmt.Errorf("%w: record %d length", ErrCorrupt, i)
		}
		rec := body[w : w+int(l)]
		body = body[w+int(l):]
		if len(rec) < 1 {
			return fmt.Errorf("%w: record %d empty", ErrCorrupt, i)
		}
		tsDelta, n1 := binary.Varint(rec[1:]) // after the attributes byte
		if n1 <= 0 {
			return fmt.Errorf("%w: record %d timestamp", ErrCorrupt, i)
		}
		offDelta, n2 := binary.Varint(rec[1+n1:])
		if n2 <= 0 {
			return fmt.Errorf("%w: record %d offset delta", ErrCorrupt, i)
		}
		ts := h.BaseTimestamp + tsDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		if !fn(h.BaseOffset+offDelta, ts) {
			return nil
		}
	}
	return nil
}

// FindTimestamp returns the offset and timestamp of the batch's first record
// whose timestamp is at least target.
func FindTimestamp(batch []byte, target int64) (offset, timestamp int64, ok bool, err error) {
	err = EachRecordTime(batch, func(off, ts int64) bool {
		if ts >= target {
			offset, timestamp, ok = off, ts, true
			return false
		}
		return true
	})
	return offset, timestamp, ok, err
}
