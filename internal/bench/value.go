package bench

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Record value layout, big-endian, written by encodeHeader:
//
//	[0, 8)   intended send time, Unix nanoseconds (see timebase)
//	[8, 16)  sequence number in the run, from 0, across all producers
//	[16, N)  random bytes generated once per run (so compression sees
//	         incompressible data, as most real payloads after encoding)

// newPayload returns the per-run random template of size bytes.
func newPayload(size int) []byte {
	b := make([]byte, size)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// encodeHeader stamps the time and sequence into a value.
func encodeHeader(value []byte, UnixNano, seq int64) {
	binary.BigEndian.PutUint64(value[0:8], uint64(UnixNano))
	binary.BigEndian.PutUint64(value[8:16], uint64(seq))
}

// decodeHeader reads back what encodeHeader wrote.
func decodeHeader(value []byte) (UnixNano, seq int64, err error) {
	if len(value) < HeaderSize {
		return 0, 0, fmt.Errorf("%w: %d bytes", errBadHeaderLength, len(value))
	}
	return int64(binary.BigEndian.Uint64(value[0:8])), int64(binary.BigEndian.Uint64(value[8:16])), nil
}
