package record

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildBatch encodes n uncompressed records with kmsg, as a client would.
func buildBatch(n int, producerID int64, seq int32) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte{byte('a' + i%26)}, Value: []byte("value")}
		// AppendTo writes Length as given: encode once with 0 (one byte) to
		// learn the body size.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000, MaxTimestamp: 1000 + int64(n-1),
		ProducerID: producerID, ProducerEpoch: 0, FirstSequence: seq, NumRecords: int32(n), Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[offLength:], uint32(len(raw)-LogOverhead))
	binary.BigEndian.PutUint32(raw[offCRC:], ComputeCRC(raw))
	return raw
}

func TestRecordValidate(t *testing.T) {
	good := buildBatch(5, -1, -1)
	if _, err := Validate(good); err != nil {
		t.Fatalf("valid batch rejected: %v", err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:30], ErrCorrupt},
		{"bad magic", mutate(func(b []byte) []byte { b[offMagic] = 1; return b }), ErrInvalid},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), ErrCorrupt},
		{"length too long", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)))
			return b
		}), ErrCorrupt},
		{"two batches", append(append([]byte(nil), good...), good...), ErrInvalid},
		{"count mismatch", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 4)
			binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
			return b
		}), ErrInvalid},
		// Bytes after the last record: INVALID_RECORD, as Kafka's
		// "Incorrect declared batch size, records still remaining".
		{"framing mismatch", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 4)
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 3)
			binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
			return b
		}), ErrInvalid},
		{"control", mutate(func(b []byte) []byte {
			b[offAttributes+1] |= attrControl
			binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
			return b
		}), ErrInvalid},
	}
	for _, c := range cases {
		if _, err := Validate(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestRecordInPlaceEdits(t *testing.T) {
	b := buildBatch(3, 7, 10)
	SetBaseOffset(b, 42)
	SetPartitionLeaderEpoch(b, 5)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("offset/epoch edits broke the batch: %v", err)
	}
	if h.BaseOffset != 42 || h.LastOffset() != 44 || h.PartitionLeaderEpoch != 5 || h.ProducerID != 7 || h.LastSequence() != 12 {
		t.Fatalf("header after edits: %+v", h)
	}
	SetLogAppendTime(b, 99999)
	h, err = Validate(b)
	if err != nil {
		t.Fatalf("log append time broke the batch: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 99999 {
		t.Fatalf("log append time not set: %+v", h)
	}
}

func TestRecordNextSplitsBatches(t *testing.T) {
	a, b := buildBatch(2, -1, -1), buildBatch(3, -1, -1)
	buf := append(append([]byte(nil), a...), b[:len(b)-4]...)
	h, first, rest, err := Next(buf)
	if err != nil || len(first) != len(a) || h.NumRecords != 2 {
		t.Fatalf("first batch: %v %d %+v", err, len(first), h)
	}
	if _, _, _, err := Next(rest); !errors.Is(err, ErrTruncated) {
		t.Fatalf("torn batch: got %v, want ErrTruncated", err)
	}
}

func TestRecordIncSequenceWraps(t *testing.T) {
	for _, c := range []struct{ seq, n, want int32 }{{0, 5, 5}, {1<<31 - 1, 1, 0}, {1<<31 - 3, 4, 1}} {
		if got := IncSequence(c.seq, c.n); got != c.want {
			t.Errorf("IncSequence(%d,%d)=%d want %d", c.seq, c.n, got, c.want)
		}
	}
}
