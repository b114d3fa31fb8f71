package record

import "fmt"

// Validate checks that b is exactly one well-formed v2 batch as a producer
// must send it, and returns its header. Errors wrap ErrCorrupt (the batch's
// size or CRC, or compressed records that do not decompress:
// CORRUPT_MESSAGE) or ErrInvalid/ErrMagic (INVALID_RECORD: the header's
// fields, or records that do not parse; see framing.go for which and why).
//
// Every record is read, as Kafka's LogValidator does: in place for an
// uncompressed batch, allocating nothing; decompressed through a pooled,
// bounded decoder for a compressed one (see inflate.go). The batch is
// stored as sent either way.
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
	if err := checkBatchRecords(&h, b[HeaderSize:], true); err != nil {
		return h, err
	}
	return h, nil
}

// checkBatchRecords checks the records of the batch with header h, body
// being the bytes after the header; exact as for checkRecords.
func checkBatchRecords(h *Header, body []byte, exact bool) error {
	if c := h.Codec(); c != CodecNone {
		return checkCompressed(c, body, h.NumRecords, h.LastOffsetDelta, exact)
	}
	var rr recordReader
	rr.resetSlice(body)
	return checkRecords(&rr, h.NumRecords, h.LastOffsetDelta, exact)
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
