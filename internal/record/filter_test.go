package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// filterBatch is a batch of 6 records at base offset 100: keys k0..k5
// (k3 has none), values v0..v5 (v4 is null), timestamps out of order.
func filterBatch(codec int8, producerID int64) []byte {
	b := recordtest.Batch{ProducerID: producerID, ProducerEpoch: 3, BaseSequence: 40, Codec: codec}
	if producerID < 0 {
		b.ProducerEpoch, b.BaseSequence = -1, -1
	}
	for i, ts := range []int64{500, 520, 510, 530, 505, 515} {
		r := recordtest.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: ts}
		if i == 3 {
			r.Key = nil
		}
		if i == 4 {
			r.Value = nil
		}
		b.Records = append(b.Records, r)
	}
	raw := b.Encode()
	SetBaseOffset(raw, 100)
	SetPartitionLeaderEpoch(raw, 9)
	return raw
}

type seen struct {
	off, ts    int64
	key, value string
	noKey, nul bool
}

func records(t *testing.T, batch []byte) []seen {
	t.Helper()
	var out []seen
	if err := EachRecord(batch, func(r *Record) bool {
		out = append(out, seen{r.Offset, r.Timestamp, string(r.Key), string(r.Value), r.Key == nil, r.Value == nil})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordFilterEveryCodec(t *testing.T) {
	for codec := int8(0); codec <= 4; codec++ {
		raw := filterBatch(codec, 77)
		orig, err := ReadHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		all := records(t, raw)
		if len(all) != 6 || !all[3].noKey || !all[4].nul || all[0].noKey || all[0].nul || all[2].off != 102 || all[5].ts != 515 {
			t.Fatalf("codec %d: records %+v", codec, all)
		}
		cases := []struct {
			name      string
			keep      func(r *Record) bool
			retain    bool
			kept      []int // indexes into all; nil: dropped
			changed   bool
			dropped   bool
			wantEmpty bool
		}{
			{"all", func(*Record) bool { return true }, false, []int{0, 1, 2, 3, 4, 5}, false, false, false},
			{"evens", func(r *Record) bool { return r.Offset%2 == 0 }, false, []int{0, 2, 4}, true, false, false},
			{"first removed", func(r *Record) bool { return r.Offset != 100 }, false, []int{1, 2, 3, 4, 5}, true, false, false},
			{"last only", func(r *Record) bool { return r.Offset == 105 }, false, []int{5}, true, false, false},
			{"keyed values", func(r *Record) bool { return r.Key != nil && r.Value != nil }, false, []int{0, 1, 2, 5}, true, false, false},
			{"none", func(*Record) bool { return false }, false, nil, true, true, false},
			{"none, retained", func(*Record) bool { return false }, true, nil, true, false, true},
		}
		var f Filterer
		for _, tc := range cases {
			name := fmt.Sprintf("codec %d %s", codec, tc.name)
			prefix := []byte("prefix")
			out, res, err := f.Filter(prefix, raw, tc.keep, tc.retain)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(out[:6], prefix) {
				t.Fatalf("%s: dst prefix overwritten", name)
			}
			out = out[6:]
			if res.Changed != tc.changed || res.Dropped != tc.dropped || res.Kept != len(tc.kept) || res.Kept+res.Removed != 6 {
				t.Fatalf("%s: result %+v", name, res)
			}
			if tc.dropped {
				if len(out) != 0 {
					t.Fatalf("%s: %d bytes written for a dropped batch", name, len(out))
				}
				continue
			}
			if !tc.changed && !bytes.Equal(out, raw) {
				t.Fatalf("%s: unchanged batch rewritten", name)
			}
			h, err := ReadHeader(out)
			if err != nil || CheckCRC(out) != nil || h.Size() != int64(len(out)) {
				t.Fatalf("%s: bad batch: %v %v", name, err, CheckCRC(out))
			}
			if h.BaseOffset != 100 || h.LastOffsetDelta != 5 || h.PartitionLeaderEpoch != 9 || h.ProducerID != 77 ||
				h.ProducerEpoch != 3 || h.BaseSequence != 40 || h.NumRecords != int32(len(tc.kept)) {
				t.Fatalf("%s: header %+v", name, h)
			}
			if tc.wantEmpty {
				if h.Codec() != CodecNone || h.BaseTimestamp != -1 || h.MaxTimestamp != -1 || len(out) != HeaderSize {
					t.Fatalf("%s: empty batch header %+v, %d bytes", name, h, len(out))
				}
				continue
			}
			if h.Codec() != Codec(codec) || h.BaseTimestamp != orig.BaseTimestamp {
				t.Fatalf("%s: codec %v base timestamp %d", name, h.Codec(), h.BaseTimestamp)
			}
			got := records(t, out)
			var want []seen
			maxTs := int64(-1)
			for _, i := range tc.kept {
				want = append(want, all[i])
				maxTs = max(maxTs, all[i].ts)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: records %+v, want %+v", name, got, want)
			}
			if h.MaxTimestamp != maxTs {
				t.Fatalf("%s: max timestamp %d, want %d", name, h.MaxTimestamp, maxTs)
			}
			// A filtered batch is one a follower or client accepts as
			// it is, apart from the offset range it keeps.
			if err := checkBatchRecords(&h, out[HeaderSize:], false); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

func TestRecordFilterLogAppendTimeAndControl(t *testing.T) {
	raw := filterBatch(1, -1)
	SetLogAppendTime(raw, 9000)
	var f Filterer
	out, _, err := f.Filter(nil, raw, func(r *Record) bool {
		if r.Timestamp != 9000 {
			t.Fatalf("record timestamp %d under LogAppendTime", r.Timestamp)
		}
		return r.Offset == 101
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := ReadHeader(out); h.MaxTimestamp != 9000 || !h.LogAppendTime() || h.NumRecords != 1 {
		t.Fatalf("header %+v", h)
	}

	ctrl := filterBatch(0, 5)
	attrs := binary.BigEndian.Uint16(ctrl[offAttributes:]) | attrControl | attrTransactional
	binary.BigEndian.PutUint16(ctrl[offAttributes:], attrs)
	binary.BigEndian.PutUint32(ctrl[offCRC:], ComputeCRC(ctrl))
	out, res, err := f.Filter(nil, ctrl, func(*Record) bool { t.Fatal("keep called for a control batch"); return false }, false)
	if err != nil || res.Changed || !bytes.Equal(out, ctrl) {
		t.Fatalf("control batch: %+v %v", res, err)
	}
}

func TestRecordFilterCorrupt(t *testing.T) {
	raw := filterBatch(0, -1)
	var f Filterer
	for name, b := range map[string][]byte{
		"truncated":    raw[:len(raw)-3],
		"record count": func() []byte { b := bytes.Clone(raw); binary.BigEndian.PutUint32(b[offRecordCount:], 9); return b }(),
		"key length": func() []byte {
			b := bytes.Clone(raw)
			b[HeaderSize+4] = 0x7f // first record's key length: 63 > what is left
			return b
		}(),
	} {
		if _, _, err := f.Filter(nil, b, func(*Record) bool { return false }, false); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: %v, want a corrupt batch error", name, err)
		}
	}
}

func TestRecordRequireKeys(t *testing.T) {
	for codec := int8(0); codec <= 4; codec++ {
		if err := RequireKeys(filterBatch(codec, -1)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("codec %d: %v, want ErrInvalid", codec, err)
		}
		b := recordtest.Simple(5, 1000)
		b.Codec = codec
		if err := RequireKeys(b.Encode()); err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		b.Records[2].Key = []byte{} // empty, not null: a key
		if err := RequireKeys(b.Encode()); err != nil {
			t.Fatalf("codec %d empty key: %v", codec, err)
		}
	}
}

func FuzzRecordFilter(f *testing.F) {
	for codec := int8(0); codec <= 4; codec++ {
		f.Add(filterBatch(codec, 1), uint8(0x55))
	}
	f.Fuzz(func(t *testing.T, b []byte, mask uint8) {
		var fl Filterer
		out, res, err := fl.Filter(nil, b, func(r *Record) bool { return mask>>(uint64(r.Offset)&7)&1 == 1 }, mask&1 == 0)
		if err != nil || !res.Changed || res.Dropped {
			return
		}
		h, err := ReadHeader(out)
		if err != nil || CheckCRC(out) != nil || h.Size() != int64(len(out)) || h.NumRecords != int32(res.Kept) {
			t.Fatalf("filtered batch invalid: %+v %v %v", h, err, CheckCRC(out))
		}
		// Records that parse as a stored batch's still do once filtered.
		if in, err := ReadHeader(b); err == nil && checkBatchRecords(&in, b[HeaderSize:], false) == nil {
			if err := checkBatchRecords(&h, out[HeaderSize:], false); err != nil && h.NumRecords > 0 {
				t.Fatalf("filtered records do not parse: %v", err)
			}
		}
	})
}
