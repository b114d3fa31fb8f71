package record

import (
	"encoding/binary"
	"fmt"
)

// Validate checks that b is exactly one well-formed v2 batch as a producer
// must send it, and returns its header. Errors wrap ErrCorrupt (sizes, CRC,
// record framing: CORRUPT_MESSAGE) or ErrInvalid/ErrMagic (INVALID_RECORD).
//
// Uncompressed batches have their record framing walked (lengths only, no
// allocation) so the record count is checked against the bytes; compressed
// batches are covered by the CRC and the offset-range check, and are stored
// as sent.
func Validate(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		if len(b) > offMagic {
			if _, err := ReadHeader(b); err != nil && err != ErrTruncated {
				return Header{}, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		}
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorrupt, len(b))
	}
	h, err := ReadHeader(b)
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	size := h.Size()
	switch {
	case h.Length < HeaderSize-LogOverhead || size > int64(len(b)):
		return h, fmt.Errorf("%w: batch length %d does not match %d bytes", ErrCorrupt, h.Length, len(b))
	case size < int64(len(b)):
		return h, fmt.Errorf("%w: more than one batch in a partition's records", ErrInvalid)
	}
	if err := CheckCRC(b); err != nil {
		return h, err
	}
	if h.NumRecords <= 0 {
		return h, fmt.Errorf("%w: record count %d", ErrInvalid, h.NumRecords)
	}
	if h.LastOffsetDelta < 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return h, fmt.Errorf("%w: last offset delta %d inconsistent with %d records", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	if h.Control() {
		return h, fmt.Errorf("%w: clients may not write control batches", ErrInvalid)
	}
	if c := h.Codec(); c > CodecZstd {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
	}
	if h.Codec() == CodecNone {
		if err := checkRecordFraming(b[HeaderSize:], h.NumRecords); err != nil {
			return h, err
		}
	}
	return h, nil
}

// checkRecordFraming walks the length prefixes of n records and checks they
// fill body exactly.
func checkRecordFraming(body []byte, n int32) error {
	for i := int32(0); i < n; i++ {
		l, w := binary.Varint(body)
		if w <= 0 || l < 0 || l > int64(len(body)-w) {
			return fmt.Errorf("%w: record %d of %d has a bad length", ErrCorrupt, i, n)
		}
		body = body[w+int(l):]
	}
	if len(body) != 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorrupt, len(body), n)
	}
	return nil
}

// Next splits the first batch off buf, a concatenation of stored batches. It
// returns the header, the batch bytes and the rest. A trailing partial batch
// returns ErrTruncated; a length or magic that cannot be right returns an
// error wrapping ErrCorrupt or ErrMagic. The CRC is not checked (see CheckCRC).
func Next(buf []byte) (h Header, batch, rest []byte, err error) {
	size, err := BatchSize(buf)
	if err != nil {
		return Header{}, nil, buf, err
	}
	if size > int64(len(buf)) {
		return Header{}, nil, buf, ErrTruncated
	}
	if h, err = ReadHeader(buf[:size]); err != nil {
		return h, nil, buf, err
	}
	return h, buf[:size], buf[size:], nil
}
