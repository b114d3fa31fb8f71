package protocol

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
)

var errBadUvarint = errors.New("protocol: bad unsigned varint")

// SkipTags skips a tagged-field section (KIP-482) at the start of b and
// returns what follows it: a count, then per field a tag and a size
// (unsigned varints) and that many bytes. Counts, tags and sizes above
// int32's range are rejected, as Kafka reads them into an int. A count
// larger than the bytes left is rejected before any field is read, so a
// huge count costs nothing.
func SkipTags(b []byte) ([]byte, error) {
	n, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(b))/2 { // every field takes at least two bytes
		return nil, io.ErrUnexpectedEOF
	}
	for ; n > 0; n-- {
		if _, b, err = uvarint(b); err != nil { // tag
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, io.ErrUnexpectedEOF
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, io.ErrUnexpectedEOF
	case n < 0 || v > math.MaxInt32:
		return 0, nil, errBadUvarint
	}
	return v, b[n:], nil
}
