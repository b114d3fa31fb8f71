package storage

import (
	"bytes"
	"testing"
)

// FuzzStorageCheckpoints feeds arbitrary bytes to the checkpoint decoders
// (start offset / recovery point, leader epochs): no panic, and what decodes
// encodes back to the same entries.
func FuzzStorageCheckpoints(f *testing.F) {
	f.Add([]byte("0\n42\n"))
	f.Add([]byte("0\n2\n0 0\n3 17\n"))
	f.Add([]byte("1\n5\n"))
	f.Add([]byte("0\n1\n4 -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if off, err := decodeOffset(startOffsetFile, data); err == nil {
			if back, err := decodeOffset(startOffsetFile, encodeStartOffset(off)); err != nil || back != off {
				t.Fatalf("offset %d does not round-trip: %d %v", off, back, err)
			}
		}
		var c epochCache
		if err := c.decode(data); err == nil {
			var d epochCache
			if err := d.decode(c.encode()); err != nil || !bytes.Equal(d.encode(), c.encode()) {
				t.Fatalf("epochs do not round-trip: %v", err)
			}
		}
	})
}
