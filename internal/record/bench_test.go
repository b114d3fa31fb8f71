package record

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// benchBatch is a batch of 16 records of 1 KiB values (~16 KiB before
// compression), the shape a producer with linger sends.
func benchBatch(codec int8) []byte {
	b := recordtest.Batch{ProducerID: 1, BaseSequence: 0, Codec: codec}
	// Text of words drawn from a small vocabulary, as ordinary payloads
	// (logs, JSON) are: every codec compresses it, none 30:1 as a
	// repeated pattern would (which would hide the decoding cost).
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([][]byte, 64)
	for i := range words {
		words[i] = make([]byte, 3+rng.IntN(6))
		for j := range words[i] {
			words[i][j] = 'a' + byte(rng.IntN(26))
		}
	}
	for i := 0; i < 16; i++ {
		v := make([]byte, 0, 1024+16)
		for len(v) < 1024 {
			v = append(append(v, words[rng.IntN(len(words))]...), ' ')
		}
		v = v[:1024]
		b.Records = append(b.Records, recordtest.Record{Key: []byte("key"), Value: v, Timestamp: 1700000000000 + int64(i)})
	}
	return b.Encode()
}

// BenchmarkRecordValidate measures the produce path's validation of one
// such batch per codec; MB/s counts the batch as sent (compressed).
func BenchmarkRecordValidate(b *testing.B) {
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		raw := benchBatch(int8(codec))
		b.Run(codec.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(raw)), "batch-bytes")
		})
	}
}

// BenchmarkRecordValidateSmallRecords is the per-record cost: a ~16 KiB
// batch of 100-byte values (about 140 records).
func BenchmarkRecordValidateSmallRecords(b *testing.B) {
	for _, codec := range []Codec{CodecNone, CodecLZ4} {
		batch := recordtest.Batch{ProducerID: 1, Codec: int8(codec)}
		v := make([]byte, 100)
		for i := 0; i < 16<<10/len(v)-20; i++ {
			copy(v, fmt.Sprintf("record %d of the batch", i))
			batch.Records = append(batch.Records, recordtest.Record{Key: []byte("key"), Value: v, Timestamp: 1700000000000 + int64(i)})
		}
		raw := batch.Encode()
		b.Run(codec.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(batch.Records)), "records")
		})
	}
}

// BenchmarkRecordRecords is Records (decompression into a new slice, for
// the cleaner, Recompress and timestamp lookups) of the same batches.
func BenchmarkRecordRecords(b *testing.B) {
	for codec := CodecGzip; codec <= CodecZstd; codec++ {
		raw := benchBatch(int8(codec))
		b.Run(codec.String(), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Records(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
