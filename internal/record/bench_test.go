package record

import (
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// benchBatch is a 16-record uncompressed batch of 1 KiB values (~16 KiB), the
// shape a producer with linger sends.
func benchBatch(codec int8) []byte {
	b := recordtest.Batch{ProducerID: 1, BaseSequence: 0, Codec: codec}
	v := make([]byte, 1024)
	for i := range v {
		v[i] = byte(i * 7)
	}
	for i := 0; i < 16; i++ {
		b.Records = append(b.Records, recordtest.Record{Key: []byte("key"), Value: v, Timestamp: 1700000000000 + int64(i)})
	}
	return b.Encode()
}

func BenchmarkRecordValidate(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec int8
	}{{"none", 0}, {"lz4", 3}} {
		raw := benchBatch(c.codec)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
