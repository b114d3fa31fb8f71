package record

import (
	"errors"
	"fmt"
	"io"
)

// Record framing as Validate checks it.
//
// Every record of a batch must parse exactly, the way Kafka's
// DefaultRecord.readFrom and DefaultRecordBatch's record iterator read it
// (the layout is written out at Record): the length prefix covers the
// record to its last header, every field fits inside it, and the batch's
// records end where the last one does. Kafka throws
// org.apache.kafka.common.InvalidRecordException for all of these, which
// is INVALID_RECORD on the wire (since KIP-467, Kafka 2.5; it was a
// CorruptRecordException before), so these errors wrap ErrInvalid. That is
// also the answer clients should get: CORRUPT_MESSAGE is retriable, and a
// producer would resend a batch whose CRC holds but whose records cannot
// parse until its delivery timeout, to the same answer. ErrCorrupt stays
// for what damaged bytes explain: a CRC or batch length that does not
// match, or compressed records that do not decompress.
//
// Gregor is stricter than Kafka where Kafka lets through what consumers
// then cannot read (the broker stores batches as they come and never
// rewrites them, so what it accepts is what every consumer gets):
//   - a key, value or header value length below -1: Kafka reads any
//     negative length as null, librdkafka takes only -1 as null and fails
//     to parse the batch;
//   - an offset delta other than the record's index: Kafka rebuilds a
//     compressed batch whose inner offsets are not 0..n-1 (LogValidator,
//     "inPlaceAssignment = false") and leaves an uncompressed one as it is,
//     so its consumers see offsets outside the batch or twice; Gregor
//     rewrites nothing and refuses it;
//   - a varint longer than its type allows (5 bytes for an int32, 10 for
//     an int64) or with bits past it: Kafka's ByteUtils drops the extra
//     bits.
//
// Record attributes are unused and timestamps are judged on the batch
// header (message.timestamp.* in the partition), as in Kafka.

// Causes, wrapped with the record and field and ErrInvalid.
var (
	errRecordsEnd   = errors.New("the batch's records end first")
	errRecordEnd    = errors.New("it crosses the end of its record")
	errVarint       = errors.New("malformed varint")
	errRecordsLimit = fmt.Errorf("records decompress to more than %d bytes", maxRecordsSize)
	errNoProgress   = errors.New("decompressor returns no data and no error")
)

// recordReader holds a batch's records for checkRecords: either a slice
// (an uncompressed batch, or decoded snappy; src is nil) or a
// decompressing stream read through buf. The stream's buffer holds one
// whole record at a time: it starts as a pooled window and grows only as
// a record's bytes arrive, so memory follows what the records really
// decompress to, never what they claim, and never passes max.
type recordReader struct {
	buf  []byte    // buf[off:] is read and not yet checked
	off  int       // position in buf
	base int64     // stream position of buf[0]
	max  int64     // the stream may not hold more (len(buf) for a slice)
	src  io.Reader // nil: no more than buf
	err  error     // src's error (io.EOF at its end), or errRecordsLimit
	what string    // the records' codec, for errors: "" or "gzip: "
}

// resetSlice makes rr read the records b.
func (rr *recordReader) resetSlice(b []byte) {
	*rr = recordReader{buf: b, max: int64(len(b))}
}

// resetStream makes rr read src through window, up to max bytes.
func (rr *recordReader) resetStream(src io.Reader, window []byte, max int64) {
	*rr = recordReader{buf: window[:0], max: max, src: src}
}

// pos is the stream position of the next byte to check.
func (rr *recordReader) pos() int64 { return rr.base + int64(rr.off) }

// fill reads from src until buf[off:] holds at least n bytes (n is at
// most max-pos), src ends or fails. It reports whether it does.
func (rr *recordReader) fill(n int) bool {
	if len(rr.buf)-rr.off >= n {
		return true
	}
	if rr.src == nil || rr.err != nil {
		return false
	}
	if rr.off > 0 { // what was checked is no longer needed
		k := copy(rr.buf[:cap(rr.buf)], rr.buf[rr.off:])
		rr.base += int64(rr.off)
		rr.buf, rr.off = rr.buf[:k], 0
	}
	for empty := 0; len(rr.buf) < n && rr.err == nil; {
		if len(rr.buf) == cap(rr.buf) { // a record larger than the window: grow as its bytes come
			grown := make([]byte, len(rr.buf), min(max(2*cap(rr.buf), windowSize), n))
			rr.buf = grown[:copy(grown, rr.buf)]
		}
		room := rr.buf[len(rr.buf):cap(rr.buf)]
		if left := rr.max - rr.base - int64(len(rr.buf)); int64(len(room)) > left {
			room = room[:left+1] // one more: to see the stream does not end at max
		}
		m, err := rr.src.Read(room)
		rr.buf = rr.buf[:len(rr.buf)+m]
		switch {
		case rr.base+int64(len(rr.buf)) > rr.max:
			rr.buf = rr.buf[:rr.max-rr.base]
			rr.err = errRecordsLimit
		case err != nil:
			rr.err = err
		case m == 0:
			if empty++; empty == 100 {
				rr.err = errNoProgress
			}
		}
	}
	return len(rr.buf)-rr.off >= n
}

// short says why fewer bytes came than a record needs: the records end, or
// the stream failed.
func (rr *recordReader) short() error {
	if rr.err == nil || rr.err == io.EOF {
		return errRecordsEnd
	}
	return rr.err
}

// errClass is ErrCorrupt for an error of the decompressor (the records do
// not decompress) and ErrInvalid for the rest (they do not parse).
func (rr *recordReader) errClass(err error) error {
	if rr.err != nil && rr.err != io.EOF && !isLimit(rr.err) && errors.Is(err, rr.err) {
		return ErrCorrupt
	}
	return ErrInvalid
}

// checkRecords reads the n records of a batch from rr and checks that each
// parses exactly and that nothing follows the last one. A producer's batch
// (exact) must number its records' offset deltas 0..n-1; a stored one
// (compacted, or filtered by the cleaner) may have gaps, so its deltas
// need only increase and stay within lastOffsetDelta.
func checkRecords(rr *recordReader, n, lastOffsetDelta int32, exact bool) error {
	for i, prev := int32(0), int32(-1); i < n; i++ {
		lo, hi := prev+1, lastOffsetDelta
		if exact {
			lo, hi = i, i
		}
		delta, field, err := rr.next(lo, hi)
		if err != nil {
			return fmt.Errorf("%w: %srecord %d of %d: %s: %w", rr.errClass(err), rr.what, i, n, field, err)
		}
		prev = delta
	}
	if rr.fill(1) {
		return fmt.Errorf("%w: %sbytes after the last of %d records", ErrInvalid, rr.what, n)
	}
	if rr.err != nil && rr.err != io.EOF {
		return fmt.Errorf("%w: %safter the last of %d records: %w", rr.errClass(rr.err), rr.what, n, rr.err)
	}
	return nil
}

// next checks the record at rr, whose offset delta must lie in [lo, hi],
// and returns that delta or names the field that does not parse.
func (rr *recordReader) next(lo, hi int32) (offsetDelta int32, field string, err error) {
	left := rr.max - rr.pos()
	if len(rr.buf)-rr.off < 5 {
		rr.fill(int(min(5, left)))
	}
	length, w := varint32Short(rr.buf[rr.off:])
	if w == 0 {
		length, w = varint32(rr.buf[rr.off:])
	}
	switch {
	case w == 0:
		return 0, "length", rr.short()
	case w < 0:
		return 0, "length", errVarint
	case length < 0:
		return 0, "length", fmt.Errorf("%d", length)
	case int64(w)+int64(length) > left:
		if rr.src != nil {
			return 0, "length", fmt.Errorf("%d: %w", length, errRecordsLimit)
		}
		return 0, "length", fmt.Errorf("%d with %d bytes left in the batch", length, left-int64(w))
	}
	size := w + int(length)
	if !rr.fill(size) {
		return 0, "length", rr.short()
	}
	rec := rr.buf[rr.off+w : rr.off+size]
	rr.off += size
	return checkRecordBody(rec, lo, hi)
}

// checkRecordBody checks rec, a record after its length, whose offset
// delta must lie in [lo, hi].
func checkRecordBody(rec []byte, lo, hi int32) (offsetDelta int32, field string, err error) {
	if len(rec) == 0 {
		return 0, "attributes", errRecordEnd
	}
	p := 1 // after the attributes
	_, n := varint64(rec[p:])
	if n <= 0 {
		return 0, "timestamp delta", varintErr(n)
	}
	p += n
	if offsetDelta, n = varint32Short(rec[p:]); n == 0 {
		offsetDelta, n = varint32(rec[p:])
	}
	if n <= 0 {
		return 0, "offset delta", varintErr(n)
	}
	p += n
	if offsetDelta < lo || offsetDelta > hi {
		if lo == hi {
			return 0, "offset delta", fmt.Errorf("%d, want %d (a producer numbers its records 0..n-1)", offsetDelta, lo)
		}
		return 0, "offset delta", fmt.Errorf("%d outside [%d, %d]", offsetDelta, lo, hi)
	}
	if p, err = skipBytes(rec, p, true); err != nil {
		return 0, "key", err
	}
	if p, err = skipBytes(rec, p, true); err != nil {
		return 0, "value", err
	}
	count, n := varint32Short(rec[p:])
	if n == 0 {
		count, n = varint32(rec[p:])
	}
	if n <= 0 {
		return 0, "header count", varintErr(n)
	}
	p += n
	// A header takes at least two bytes (its two lengths).
	if count < 0 || int(count) > (len(rec)-p)/2 {
		return 0, "header count", fmt.Errorf("%d with %d bytes left in the record", count, len(rec)-p)
	}
	for h := int32(0); h < count; h++ {
		if p, err = skipBytes(rec, p, false); err != nil {
			return 0, fmt.Sprintf("header %d key", h), err
		}
		if p, err = skipBytes(rec, p, true); err != nil {
			return 0, fmt.Sprintf("header %d value", h), err
		}
	}
	if p != len(rec) {
		return 0, "length", fmt.Errorf("%d bytes left after the last header", len(rec)-p)
	}
	return offsetDelta, "", nil
}

// skipBytes reads the length at rec[p:] and returns the position after
// that many bytes. The length is -1 (null, when nullable) or from 0 to
// what is left of the record.
func skipBytes(rec []byte, p int, nullable bool) (int, error) {
	l, n := varint32Short(rec[p:])
	if n == 0 {
		l, n = varint32(rec[p:])
	}
	if n > 0 && l >= 0 && int(l) <= len(rec)-p-n {
		return p + n + int(l), nil
	}
	if n > 0 && l == -1 && nullable {
		return p + n, nil
	}
	return p, bytesErr(l, n, len(rec)-p-n)
}

func bytesErr(l int32, n, left int) error {
	switch {
	case n <= 0:
		return varintErr(n)
	case l < 0:
		return fmt.Errorf("length %d", l)
	}
	return fmt.Errorf("length %d exceeds the %d bytes left in the record", l, left)
}

func varintErr(n int) error {
	if n == 0 {
		return errRecordEnd
	}
	return errVarint
}

// varint32 decodes a zig-zag varint int32 as Kafka's ByteUtils.readVarint:
// n > 0 bytes read; n == 0: b ends first; n < 0: longer than 5 bytes or
// past 32 bits. Callers first try varint32Short, which is inlined.
func varint32(b []byte) (v int32, n int) {
	u, n := uvarint(b, 5, 32)
	return int32(uint32(u)>>1) ^ -int32(u&1), n
}

// varint32Short decodes the one- and two-byte varints that most of a
// record's are (values from -8192 to 8191); n == 0 for any other, which
// varint32 then reads.
func varint32Short(b []byte) (v int32, n int) {
	var u uint32
	switch {
	case len(b) > 0 && b[0] < 0x80:
		u, n = uint32(b[0]), 1
	case len(b) > 1 && b[1] < 0x80:
		u, n = uint32(b[0]&0x7f)|uint32(b[1])<<7, 2
	default:
		return 0, 0
	}
	return int32(u>>1) ^ -int32(u&1), n
}

// varint64 decodes a zig-zag varint int64 as Kafka's ByteUtils.readVarlong.
func varint64(b []byte) (v int64, n int) {
	u, n := uvarint(b, 10, 64)
	return int64(u>>1) ^ -int64(u&1), n
}

// uvarint decodes an unsigned varint of at most size bytes whose value
// fits in bits bits.
func uvarint(b []byte, size int, bits uint) (uint64, int) {
	var x uint64
	for i, c := range b[:min(len(b), size)] {
		if c < 0x80 {
			if i == size-1 && uint(c) >= 1<<(bits-7*uint(i)) {
				return 0, -1
			}
			return x | uint64(c)<<(7*i), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	if len(b) >= size {
		return 0, -1
	}
	return 0, 0
}
