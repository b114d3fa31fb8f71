package record

import (
	"bytes"
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

func TestRecordRecompressEveryPair(t *testing.T) {
	for from := Codec(0); from <= CodecZstd; from++ {
		b := recordtest.Simple(20, 1000)
		b.Codec = int8(from)
		raw := b.Encode()
		want, err := Records(raw)
		if err != nil {
			t.Fatal(err)
		}
		for to := Codec(0); to <= CodecZstd; to++ {
			out, err := Recompress(raw, to)
			if err != nil {
				t.Fatalf("%s -> %s: %v", from, to, err)
			}
			h, err := Validate(out)
			if err != nil {
				t.Fatalf("%s -> %s: result invalid: %v", from, to, err)
			}
			if h.Codec() != to || h.NumRecords != 20 || h.MaxTimestamp != 1019 {
				t.Fatalf("%s -> %s: header %+v", from, to, h)
			}
			got, err := Records(out)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s -> %s: records changed (%v)", from, to, err)
			}
		}
	}
}
