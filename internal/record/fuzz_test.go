package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// FuzzRecordValidate: Validate accepts only batches that every reader can
// read whole (checkAccepted); Next never returns an empty batch.
func FuzzRecordValidate(f *testing.F) {
	f.Add(buildBatch(1, -1, -1))
	f.Add(buildBatch(4, 3, 0))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := Validate(b); err == nil {
			checkAccepted(t, b, h)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error wraps neither ErrCorrupt nor ErrInvalid: %v", err)
		}
		for rest := b; len(rest) > 0; {
			_, batch, r, err := Next(rest)
			if err != nil {
				break
			}
			if len(batch) == 0 {
				t.Fatal("Next returned an empty batch without error")
			}
			rest = r
		}
	})
}

// FuzzRecordValidateSealed fuzzes the records inside a batch whose length
// and CRC are right, so that every input reaches the record framing: recs
// are the records, compressed by codec, or (raw) the compressed body as it
// is, to fuzz the decoders. Besides checkAccepted: compressing records
// does not change whether they are accepted, nor the error's class.
func FuzzRecordValidateSealed(f *testing.F) {
	f.Add(recordtest.Records(five()...), uint16(5), uint8(0), false)
	f.Add(recordtest.Records(five()...), uint16(5), uint8(4), false)
	f.Fuzz(func(t *testing.T, recs []byte, count uint16, codec uint8, raw bool) {
		c := Codec(codec % 5)
		b := recordtest.Sealed{
			Records: recs, Compressed: raw, NumRecords: int32(count), LastOffsetDelta: int32(count) - 1,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Codec: int8(c),
		}.Seal()
		h, err := Validate(b)
		if err == nil {
			checkAccepted(t, b, h)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error wraps neither ErrCorrupt nor ErrInvalid: %v", err)
		}
		if raw || c == CodecNone {
			return
		}
		plain := recordtest.Sealed{Records: recs, NumRecords: int32(count), LastOffsetDelta: int32(count) - 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}.Seal()
		_, perr := Validate(plain)
		if (err == nil) != (perr == nil) || errors.Is(err, ErrCorrupt) != errors.Is(perr, ErrCorrupt) {
			t.Fatalf("%s: %v; uncompressed: %v", c, err, perr)
		}
	})
}

// checkAccepted checks what Validate promises of a batch it accepts: it is
// whole, and its records can be read by this package's iterator, by the
// cleaner's stored-batch check and by franz-go (kmsg, decompressed the way
// its consumer does), with the same count, offsets, keys and values, and
// re-encoded by kmsg they are accepted again.
func checkAccepted(t *testing.T, b []byte, h Header) {
	t.Helper()
	if h.Size() != int64(len(b)) || CheckCRC(b) != nil {
		t.Fatalf("accepted an inconsistent batch: %+v", h)
	}
	if err := checkBatchRecords(&h, b[HeaderSize:], false); err != nil {
		t.Fatalf("accepted, but not as a stored batch: %v", err)
	}
	var mine []Record
	if err := EachRecord(b, func(r *Record) bool {
		mine = append(mine, Record{Offset: r.Offset, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)})
		return true
	}); err != nil || len(mine) != int(h.NumRecords) {
		t.Fatalf("accepted, EachRecord: %d of %d records, %v", len(mine), h.NumRecords, err)
	}

	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatalf("accepted, kmsg.RecordBatch: %v", err)
	}
	body, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(h.Codec()))
	if err != nil {
		t.Fatalf("accepted, franz-go cannot decompress: %v", err)
	}
	var recs []byte
	for i := int32(0); i < kb.NumRecords; i++ {
		// As franz-go's consumer splits records (readRawRecords): it
		// silently drops the rest of a batch at the first that fails.
		l, n := binary32Varint(body)
		if n <= 0 || l < 0 || int(l) > len(body)-n {
			t.Fatalf("accepted, franz-go cannot split record %d", i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(body[:n+int(l)]); err != nil {
			t.Fatalf("accepted, kmsg.Record %d: %v", i, err)
		}
		body = body[n+int(l):]
		if kr.OffsetDelta != i || !bytes.Equal(kr.Key, mine[i].Key) || (kr.Key == nil) != (mine[i].Key == nil) ||
			!bytes.Equal(kr.Value, mine[i].Value) || (kr.Value == nil) != (mine[i].Value == nil) {
			t.Fatalf("accepted, record %d reads differently: kmsg %+v, EachRecord %+v", i, kr, mine[i])
		}
		kr.Length = 0 // encoded once with a one-byte length to learn the body's
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		recs = kr.AppendTo(recs)
	}
	if len(body) != 0 {
		t.Fatalf("accepted, %d bytes left after kmsg read the records", len(body))
	}
	again := recordtest.Sealed{Records: recs, NumRecords: h.NumRecords, LastOffsetDelta: h.LastOffsetDelta, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}.Seal()
	if _, err := Validate(again); err != nil {
		t.Fatalf("accepted, but not once re-encoded by kmsg: %v", err)
	}
}

// binary32Varint is kbin.Varint: a zig-zag varint int32 of at most 5
// bytes.
func binary32Varint(b []byte) (int32, int) {
	var u uint32
	for i := 0; i < 5 && i < len(b); i++ {
		u |= uint32(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, 0
}
