package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Record is one record of a batch as EachRecord and Filter present it. Its
// slices point into the batch (or its decompressed records) and are valid
// only during the callback.
//
// Layout of a record inside a v2 batch (varints are zig-zag, as Kafka's):
//
//	length          varint  bytes after this field
//	attributes      int8    unused, 0
//	timestampDelta  varlong from the batch's base timestamp
//	offsetDelta     varint  from the batch's base offset
//	keyLength       varint  -1: no key
//	key             bytes
//	valueLength     varint  -1: null value (a tombstone)
//	value           bytes
//	headers         varint count, then the headers
type Record struct {
	Offset    int64
	Timestamp int64  // the batch's max timestamp under LogAppendTime
	Key       []byte // nil when the record has no key; empty but not nil for a zero-length key
	Value     []byte // nil for a tombstone
	raw       []byte // the whole record, length prefix included
}

// EachRecord calls fn for each record of the batch, in order, until fn
// returns false. Compressed batches are decompressed first. Control
// batches are walked like any other.
func EachRecord(batch []byte, fn func(r *Record) bool) error {
	h, err := ReadHeader(batch)
	if err != nil {
		return err
	}
	body, err := Records(batch)
	if err != nil {
		return err
	}
	return eachRecord(&h, body, fn)
}

// eachRecord walks the h.NumRecords records in body, the batch's
// decompressed record bytes.
func eachRecord(h *Header, body []byte, fn func(r *Record) bool) error {
	var r Record
	for i := int32(0); i < h.NumRecords; i++ {
		l, w := binary.Varint(body)
		if w <= 0 || l < 1 || l > int64(len(body)-w) {
			return fmt.Errorf("%w: record %d of the batch at %d: length", ErrCorrupt, i, h.BaseOffset)
		}
		rec := body[w : w+int(l)]
		r.raw = body[:w+int(l)]
		body = body[w+int(l):]
		p := 1 // after the attributes
		tsDelta, n := binary.Varint(rec[p:])
		if n <= 0 {
			return fmt.Errorf("%w: record %d of the batch at %d: timestamp", ErrCorrupt, i, h.BaseOffset)
		}
		p += n
		offDelta, n := binary.Varint(rec[p:])
		if n <= 0 {
			return fmt.Errorf("%w: record %d of the batch at %d: offset delta", ErrCorrupt, i, h.BaseOffset)
		}
		p += n
		var ok bool
		if r.Key, p, ok = varBytes(rec, p); !ok {
			return fmt.Errorf("%w: record %d of the batch at %d: key", ErrCorrupt, i, h.BaseOffset)
		}
		if r.Value, _, ok = varBytes(rec, p); !ok {
			return fmt.Errorf("%w: record %d of the batch at %d: value", ErrCorrupt, i, h.BaseOffset)
		}
		r.Offset = h.BaseOffset + offDelta
		r.Timestamp = h.BaseTimestamp + tsDelta
		if h.LogAppendTime() {
			r.Timestamp = h.MaxTimestamp
		}
		if !fn(&r) {
			return nil
		}
	}
	return nil
}

// varBytes reads a length-prefixed byte string (length -1: nil) at rec[p:]
// and returns it with the position after it.
func varBytes(rec []byte, p int) (b []byte, next int, ok bool) {
	l, n := binary.Varint(rec[p:])
	if n <= 0 || l < -1 || l > int64(len(rec)-p-n) {
		return nil, p, false
	}
	p += n
	if l < 0 {
		return nil, p, true
	}
	return rec[p : p+int(l) : p+int(l)], p + int(l), true
}

// RequireKeys checks that every record of the batch has a key, as Kafka
// requires of batches appended to a compacted topic (a record without one
// could never be compacted away). The error wraps ErrInvalid
// (INVALID_RECORD).
func RequireKeys(batch []byte) error {
	var missing int64 = -1
	err := EachRecord(batch, func(r *Record) bool {
		if r.Key == nil {
			missing = r.Offset
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if missing >= 0 {
		h, _ := ReadHeader(batch)
		return fmt.Errorf("%w: compacted topic cannot accept a record without key (offset delta %d)", ErrInvalid, missing-h.BaseOffset)
	}
	return nil
}

// FilterResult says what Filter did with one batch.
type FilterResult struct {
	Kept, Removed int  // records
	Changed       bool // what was written differs from the original batch
	Dropped       bool // nothing was written: every record went
}

// A Filterer rewrites batches keeping only some of their records, as the
// log cleaner does. It reuses its buffers from one call to the next and is
// not safe for concurrent use; the zero value is ready.
type Filterer struct {
	recs []byte       // the kept records, uncompressed
	comp bytes.Buffer // compression output
}

// Filter appends to dst the batch holding only the records keep accepts,
// and says what it did:
//   - every record kept: the original bytes, unchanged;
//   - some kept: a batch with the same base offset, last offset delta (so it
//     still spans the original offset range, which producer-state rebuilds
//     need), leader epoch, attributes and producer id, epoch and base
//     sequence; the kept records byte for byte (offset and timestamp deltas
//     unchanged) compressed again with the batch's codec; the record count,
//     the max timestamp (the kept records' largest, unless LogAppendTime)
//     and the CRC recomputed;
//   - none kept: nothing, unless retainEmpty, which writes the header alone
//     with no records, no codec and no timestamps (-1), keeping the offset
//     range and the producer fields, as Kafka keeps a producer's last batch;
//   - a control batch: unchanged, without calling keep.
func (f *Filterer) Filter(dst, batch []byte, keep func(r *Record) bool, retainEmpty bool) ([]byte, FilterResult, error) {
	h, err := ReadHeader(batch)
	if err != nil {
		return dst, FilterResult{}, err
	}
	if h.Size() != int64(len(batch)) || h.Length < HeaderSize-LogOverhead {
		return dst, FilterResult{}, fmt.Errorf("%w: batch length %d, %d bytes", ErrCorrupt, h.Length, len(batch))
	}
	if h.Control() {
		return append(dst, batch...), FilterResult{Kept: int(h.NumRecords)}, nil
	}
	body, err := Records(batch)
	if err != nil {
		return dst, FilterResult{}, err
	}
	var (
		res    FilterResult
		maxTs  int64 = -1
		copied       = false // f.recs holds the kept records so far
		pos          = 0     // position in body of the record walked
	)
	f.recs = f.recs[:0]
	err = eachRecord(&h, body, func(r *Record) bool {
		if keep(r) {
			res.Kept++
			maxTs = max(maxTs, r.Timestamp)
			if copied {
				f.recs = append(f.recs, r.raw...)
			}
		} else {
			if !copied { // everything before this record was kept
				f.recs = append(f.recs, body[:pos]...)
				copied = true
			}
			res.Removed++
		}
		pos += len(r.raw)
		return true
	})
	if err != nil {
		return dst, FilterResult{}, err
	}
	if res.Removed == 0 {
		return append(dst, batch...), res, nil
	}
	res.Changed = true
	be := binary.BigEndian
	n := len(dst)
	if res.Kept == 0 {
		if !retainEmpty {
			res.Dropped = true
			return dst, res, nil
		}
		dst = append(dst, batch[:HeaderSize]...)
		out := dst[n:]
		be.PutUint16(out[offAttributes:], be.Uint16(out[offAttributes:])&^codecMask)
		be.PutUint64(out[offBaseTimestamp:], ^uint64(0))
		be.PutUint64(out[offMaxTimestamp:], ^uint64(0))
		be.PutUint32(out[offRecordCount:], 0)
		be.PutUint32(out[offLength:], uint32(HeaderSize-LogOverhead))
		be.PutUint32(out[offCRC:], ComputeCRC(out))
		return dst, res, nil
	}
	recs := f.recs
	if c := h.Codec(); c != CodecNone {
		f.comp.Reset()
		comp, got := compressors[c].Compress(&f.comp, f.recs)
		if Codec(got) != c {
			return dst[:n], FilterResult{}, fmt.Errorf("%w: compressing with %s gave %s", ErrInvalid, c, Codec(got))
		}
		recs = comp
	}
	dst = append(dst, batch[:HeaderSize]...)
	dst = append(dst, recs...)
	out := dst[n:]
	be.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	be.PutUint32(out[offRecordCount:], uint32(res.Kept))
	if !h.LogAppendTime() {
		be.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	}
	be.PutUint32(out[offCRC:], ComputeCRC(out))
	return dst, res, nil
}
