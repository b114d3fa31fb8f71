package record

import (
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

func TestRecordFindTimestampEveryCodec(t *testing.T) {
	for codec := int8(0); codec <= 4; codec++ {
		b := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Codec: codec}
		for i, ts := range []int64{100, 90, 130, 120, 200} { // out of order on purpose
			b.Records = append(b.Records, recordtest.Record{Key: []byte{byte(i)}, Value: []byte("v"), Timestamp: ts})
		}
		raw := b.Encode()
		SetBaseOffset(raw, 1000)
		h, err := Validate(raw)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if h.Codec() != Codec(codec) {
			t.Fatalf("codec %d: header says %v", codec, h.Codec())
		}
		for _, c := range []struct {
			target, off, ts int64
			ok              bool
		}{{0, 1000, 100, true}, {95, 1000, 100, true}, {101, 1002, 130, true}, {125, 1002, 130, true}, {131, 1004, 200, true}, {201, 0, 0, false}} {
			off, ts, ok, err := FindTimestamp(raw, c.target)
			if err != nil || ok != c.ok || ok && (off != c.off || ts != c.ts) {
				t.Errorf("codec %d target %d: got (%d,%d,%v,%v), want (%d,%d,%v)", codec, c.target, off, ts, ok, err, c.off, c.ts, c.ok)
			}
		}
		SetLogAppendTime(raw, 5000)
		if off, ts, ok, err := FindTimestamp(raw, 4000); err != nil || !ok || off != 1000 || ts != 5000 {
			t.Errorf("codec %d log append time: got (%d,%d,%v,%v)", codec, off, ts, ok, err)
		}
	}
}
