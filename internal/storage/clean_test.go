package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// kv is one record as the cleaner tests write and read them.
type kv struct {
	off   int64
	key   string
	value []byte // nil: tombstone
	ts    int64
}

func (r kv) String() string {
	if r.value == nil {
		return fmt.Sprintf("%d:%s=<nil>", r.off, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.off, r.key, r.value)
}

// appendKV appends one batch of the records (offsets assigned by the log)
// and returns them with their offsets.
func appendKV(t testing.TB, l *Log, codec int8, recs []kv) []kv {
	t.Helper()
	b := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Codec: codec}
	for _, r := range recs {
		var key []byte
		if r.key != "" {
			key = []byte(r.key)
		}
		b.Records = append(b.Records, recordtest.Record{Key: key, Value: r.value, Timestamp: r.ts})
	}
	base, err := l.Append(b.Encode())
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	out := slices.Clone(recs)
	for i := range out {
		out[i].off = base + int64(i)
	}
	return out
}

// readKV reads the whole log with Read, checking every batch (CRC,
// strictly increasing offsets) and returning its records and headers.
func readKV(t testing.TB, l *Log) ([]kv, []record.Header) {
	t.Helper()
	var (
		recs []kv
		hdrs []record.Header
	)
	next := l.StartOffset()
	for next < l.EndOffset() {
		res, err := l.Read(next, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if res.Slice.Size == 0 {
			t.Fatalf("Read(%d): empty below LEO %d", next, l.EndOffset())
		}
		buf, err := res.Slice.ReadInto(nil)
		if err != nil {
			t.Fatal(err)
		}
		for rest := buf; len(rest) > 0; {
			h, b, r, err := record.Next(rest)
			if err != nil {
				t.Fatalf("Read(%d): %v", next, err)
			}
			if err := record.CheckCRC(b); err != nil {
				t.Fatalf("batch at %d: %v", h.BaseOffset, err)
			}
			if len(hdrs) > 0 && h.BaseOffset <= hdrs[len(hdrs)-1].LastOffset() {
				t.Fatalf("batch at %d overlaps the one before, ending at %d", h.BaseOffset, hdrs[len(hdrs)-1].LastOffset())
			}
			hdrs = append(hdrs, h)
			n := 0
			err = record.EachRecord(b, func(r *record.Record) bool {
				n++
				var v []byte
				if r.Value != nil {
					v = slices.Clone(r.Value)
				}
				recs = append(recs, kv{off: r.Offset, key: string(r.Key), value: v, ts: r.Timestamp})
				return true
			})
			if err != nil || n != int(h.NumRecords) {
				t.Fatalf("batch at %d: %d of %d records: %v", h.BaseOffset, n, h.NumRecords, err)
			}
			next, rest = h.NextOffset(), r
		}
	}
	return recs, hdrs
}

// compacted is what compaction should leave of recs when every offset
// below end was mapped: the newest record of each key below end, every
// record at or after end, tombstones dropped below end if dropTombstones.
func compacted(recs []kv, end int64, dropTombstones bool) []kv {
	latest := map[string]int64{}
	for _, r := range recs {
		if r.off < end {
			latest[r.key] = r.off
		}
	}
	var out []kv
	for _, r := range recs {
		if r.off < end && (latest[r.key] != r.off || r.value == nil && dropTombstones) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func equalKV(t testing.TB, got, want []kv) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.off != w.off || g.key != w.key || !bytes.Equal(g.value, w.value) || (g.value == nil) != (w.value == nil) || g.ts != w.ts {
			t.Fatalf("record %d: got %v (ts %d), want %v (ts %d)", i, g, g.ts, w, w.ts)
		}
	}
}

// cleanOpts are pass options with a map of mapBytes and tombstones kept.
func cleanOpts(mapBytes int) CleanOptions {
	return CleanOptions{Map: NewOffsetMap(mapBytes), DeleteRetentionMs: math.MaxInt64 / 2}
}

func mustClean(t testing.TB, l *Log, o CleanOptions) CleanStats {
	t.Helper()
	st, err := l.Clean(context.Background(), o)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return st
}

// fillKeyed writes batches of 1-6 records over keys k0..k<keys-1>, some of
// them tombstones when tombstoneEvery > 0, then rolls so that all of it is
// in closed segments.
func fillKeyed(t testing.TB, l *Log, r *rand.Rand, codec int8, batches, keys, tombstoneEvery int, ts int64) []kv {
	t.Helper()
	var all []kv
	for i := 0; i < batches; i++ {
		var recs []kv
		for j := 0; j < 1+r.IntN(6); j++ {
			k := fmt.Sprintf("k%d", r.IntN(keys))
			v := []byte(fmt.Sprintf("v%d-%d-%s", i, j, bytes.Repeat([]byte{'x'}, r.IntN(40))))
			if tombstoneEvery > 0 && r.IntN(tombstoneEvery) == 0 {
				v = nil
			}
			recs = append(recs, kv{key: k, value: v, ts: ts + int64(i)})
		}
		all = append(all, appendKV(t, l, codec, recs)...)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	return all
}

func TestStorageCleanKeepsLatestEveryCodec(t *testing.T) {
	for codec := int8(0); codec <= 4; codec++ {
		t.Run(record.Codec(codec).String(), func(t *testing.T) {
			c := newClock()
			dir := t.TempDir()
			l := mustOpen(t, OS, dir, testOpts(c))
			r := rand.New(rand.NewPCG(uint64(codec), 7))
			all := fillKeyed(t, l, r, codec, 150, 25, 0, 1000)
			_, before := readKV(t, l)
			nsegs := len(l.segments())
			if nsegs < 4 {
				t.Fatalf("only %d segments", nsegs)
			}
			end := l.segments()[nsegs-1].base
			st := mustClean(t, l, cleanOpts(1<<20))
			if st.End != end || st.MapFull || st.SegmentsRewritten == 0 || st.RecordsRemoved == 0 ||
				st.BytesWritten != st.SizeAfter || st.BytesRead < st.SizeBefore || st.SizeAfter >= st.SizeBefore {
				t.Fatalf("stats %+v, want End %d and records removed", st, end)
			}
			want := compacted(all, end, false)
			got, after := readKV(t, l)
			equalKV(t, got, want)
			if int64(len(all)-len(want)) != st.RecordsRemoved {
				t.Fatalf("RecordsRemoved %d, want %d", st.RecordsRemoved, len(all)-len(want))
			}
			checkBatchesKept(t, before, after, record.Codec(codec))
			checkSegmentsChain(t, l)
			if fd := l.FirstDirtyOffset(); fd != end {
				t.Fatalf("first dirty offset %d, want %d", fd, end)
			}

			// A second pass over a clean log changes nothing.
			st = mustClean(t, l, cleanOpts(1<<20))
			if st.SegmentsRewritten != 0 || st.End != end {
				t.Fatalf("second pass %+v", st)
			}
			// Reopened, cleanly and after a crash (every segment rescanned,
			// gaps and all), the log reads the same.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, OS, dir, testOpts(c))
			got, _ = readKV(t, l)
			equalKV(t, got, want)
			crash(l)
			if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, OS, dir, testOpts(c))
			got, _ = readKV(t, l)
			equalKV(t, got, want)
			if l.FirstDirtyOffset() != end || len(l.segments()) != nsegs {
				t.Fatalf("after recovery: first dirty %d, %d segments; want %d, %d", l.FirstDirtyOffset(), len(l.segments()), end, nsegs)
			}
			// Appends go on where they were.
			more := appendKV(t, l, codec, []kv{{key: "k1", value: []byte("again"), ts: 5000}})
			if more[0].off != all[len(all)-1].off+1 {
				t.Fatalf("appended at %d, want %d", more[0].off, all[len(all)-1].off+1)
			}
		})
	}
}

// checkBatchesKept checks that every batch after cleaning was a batch
// before, with the same offset range and producer fields, in the original
// codec unless emptied.
func checkBatchesKept(t testing.TB, before, after []record.Header, codec record.Codec) {
	t.Helper()
	orig := map[int64]record.Header{}
	for _, h := range before {
		orig[h.BaseOffset] = h
	}
	for _, h := range after {
		o, ok := orig[h.BaseOffset]
		switch {
		case !ok:
			t.Fatalf("batch at %d did not exist", h.BaseOffset)
		case h.LastOffsetDelta != o.LastOffsetDelta || h.ProducerID != o.ProducerID || h.BaseSequence != o.BaseSequence || h.PartitionLeaderEpoch != o.PartitionLeaderEpoch:
			t.Fatalf("batch at %d: header %+v, was %+v", h.BaseOffset, h, o)
		case h.NumRecords > 0 && h.Codec() != codec:
			t.Fatalf("batch at %d: codec %s, want %s", h.BaseOffset, h.Codec(), codec)
		case h.NumRecords > 0 && h.MaxTimestamp > o.MaxTimestamp:
			t.Fatalf("batch at %d: max timestamp grew", h.BaseOffset)
		}
	}
}

// checkSegmentsChain checks that every segment's batches end where the next
// segment begins.
func checkSegmentsChain(t testing.TB, l *Log) {
	t.Helper()
	segs := l.segments()
	for i := 0; i+1 < len(segs); i++ {
		if segs[i].next != segs[i+1].base {
			t.Fatalf("segment %d ends at %d, next begins at %d", segs[i].base, segs[i].next, segs[i+1].base)
		}
	}
}

func TestStorageCleanReadsAcrossGaps(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	var all []kv
	for i := 0; i < 40; i++ {
		all = append(all, appendKV(t, l, 0, []kv{
			{key: "hot", value: []byte(fmt.Sprintf("h%d", i)), ts: 1000 + 10*int64(i)},
			{key: fmt.Sprintf("cold%d", i), value: bytes.Repeat([]byte{'c'}, 100), ts: 1000 + 10*int64(i) + 1},
		})...)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, l, cleanOpts(1<<20))
	got, _ := readKV(t, l)
	equalKV(t, got, compacted(all, l.EndOffset(), false))
	// Every offset of a removed "hot" record lies in a gap: Read from it
	// starts at the batch holding the next offset kept.
	for _, r := range all[:len(all)-2] {
		if r.key != "hot" {
			continue
		}
		res, err := l.Read(r.off, 1, math.MaxInt64, true)
		if err != nil {
			t.Fatal(err)
		}
		// The batch spans its original range, so it still holds r.off.
		buf, _ := res.Slice.ReadInto(nil)
		h, _ := record.ReadHeader(buf)
		if h.BaseOffset != r.off || h.NumRecords != 1 {
			t.Fatalf("Read(%d): batch at %d with %d records", r.off, h.BaseOffset, h.NumRecords)
		}
		// ListOffsets by the removed record's timestamp finds the kept
		// record after it.
		b, ok, err := l.FindTimestamp(r.ts)
		if err != nil || !ok {
			t.Fatalf("FindTimestamp(%d): %v %v", r.ts, ok, err)
		}
		off, ts, found, err := record.FindTimestamp(b, r.ts)
		if err != nil || !found || off != r.off+1 || ts != r.ts+1 {
			t.Fatalf("FindTimestamp(%d): offset %d ts %d found %v err %v, want %d", r.ts, off, ts, found, err, r.off+1)
		}
	}
}

func TestStorageCleanTombstones(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	l := mustOpen(t, OS, dir, testOpts(c))
	const retention = time.Hour
	o := cleanOpts(1 << 20)
	o.DeleteRetentionMs = retention.Milliseconds()

	var all []kv
	all = append(all, appendKV(t, l, 0, []kv{{key: "a", value: []byte("a1"), ts: 1}, {key: "b", value: []byte("b1"), ts: 1}})...)
	all = append(all, appendKV(t, l, 2, []kv{{key: "a", value: nil, ts: 2}, {key: "c", value: []byte("c1"), ts: 2}})...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	first := l.segments()[0]
	// The segment was last written "now" by the log's clock.
	setMtime(t, first, c.now())
	mustClean(t, l, o)
	got, _ := readKV(t, l)
	equalKV(t, got, compacted(all, 4, false)) // a1 gone, the tombstone kept
	if mt := mtime(t, l.segments()[0]); !mt.Equal(c.now()) {
		t.Fatalf("cleaned segment's mtime %v, want the original %v", mt, c.now())
	}

	// Not yet past delete.retention.ms: the next pass keeps it.
	c.advance(retention)
	all = append(all, appendKV(t, l, 0, []kv{{key: "b", value: []byte("b2"), ts: 3}})...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	setMtime(t, l.segments()[1], c.now())
	st := mustClean(t, l, o)
	got, _ = readKV(t, l)
	equalKV(t, got, compacted(all, 5, false))
	if st.TombstonesRemoved != 0 {
		t.Fatalf("tombstones removed early: %+v", st)
	}

	// Past it: dropped, from the first segment only.
	c.advance(time.Millisecond)
	all = append(all, appendKV(t, l, 0, []kv{{key: "d", value: nil, ts: 4}})...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	setMtime(t, l.segments()[2], c.now())
	st = mustClean(t, l, o)
	got, _ = readKV(t, l)
	want := []kv{all[3], all[4], all[5]} // c1, b2 and the fresh tombstone of d
	equalKV(t, got, want)
	if st.TombstonesRemoved != 1 {
		t.Fatalf("stats %+v, want 1 tombstone removed", st)
	}
	// The first segment kept its last batch, emptied, so that it still
	// ends where the second begins.
	checkSegmentsChain(t, l)
}

func setMtime(t testing.TB, s *segment, at time.Time) {
	t.Helper()
	if err := os.Chtimes(s.log.Name(), at, at); err != nil {
		t.Fatal(err)
	}
}

func mtime(t testing.TB, s *segment) time.Time {
	t.Helper()
	fi, err := s.log.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestStorageCleanEmptiedBatches(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	idem := func(seq int32, recs ...recordtest.Record) []byte {
		return recordtest.Batch{ProducerID: 7, ProducerEpoch: 1, BaseSequence: seq, Codec: 1, Records: recs}.Encode()
	}
	rec := func(k, v string) recordtest.Record {
		return recordtest.Record{Key: []byte(k), Value: []byte(v), Timestamp: 10}
	}
	for _, b := range [][]byte{
		idem(0, rec("a", "1"), rec("b", "1")), // 0-1: superseded, not the producer's last
		idem(2, rec("a", "2"), rec("b", "2")), // 2-3: superseded, the producer's last
	} {
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	appendKV(t, l, 0, []kv{{key: "x", value: []byte("1")}})                                 // 4: superseded, not last in its segment
	appendKV(t, l, 0, []kv{{key: "a", value: []byte("3")}, {key: "b", value: []byte("3")}}) // 5-6
	appendKV(t, l, 0, []kv{{key: "x", value: []byte("2")}})                                 // 7: the segment's last
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendKV(t, l, 0, []kv{{key: "x", value: []byte("3")}}) // 8
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	o := cleanOpts(1 << 20)
	o.ProducerLastOffsets = map[int64]int64{7: 3}
	mustClean(t, l, o)
	_, hdrs := readKV(t, l)
	var got []string
	for _, h := range hdrs {
		got = append(got, fmt.Sprintf("%d-%d:%d", h.BaseOffset, h.LastOffset(), h.NumRecords))
	}
	want := []string{"2-3:0", "5-6:2", "7-7:0", "8-8:1"}
	if !slices.Equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	// Offsets of dropped batches read as the next batch kept.
	for _, c := range [][2]int64{{0, 2}, {1, 2}, {4, 5}} {
		res, err := l.Read(c[0], 1, math.MaxInt64, true)
		if err != nil || res.FirstOffset != c[1] {
			t.Fatalf("Read(%d): first offset %d, %v; want %d", c[0], res.FirstOffset, err, c[1])
		}
	}
	h := hdrs[0]
	if h.ProducerID != 7 || h.ProducerEpoch != 1 || h.BaseSequence != 2 || h.LastSequence() != 3 ||
		h.Codec() != record.CodecNone || h.MaxTimestamp != -1 || h.Size() != record.HeaderSize {
		t.Fatalf("emptied producer batch: %+v", h)
	}
	checkSegmentsChain(t, l)
}

func TestStorageCleanDropsKeylessRecords(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	all := appendKV(t, l, 0, []kv{{key: "", value: []byte("no key")}, {key: "k", value: []byte("v")}, {key: "", value: []byte("tail")}})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, l, cleanOpts(1<<20))
	got, _ := readKV(t, l)
	equalKV(t, got, all[1:2])
}

// TestStorageCleanBoundedMap cleans a log of far more keys than the offset
// map holds: it takes several passes, each mapping what fits, with the
// map's memory fixed, and ends with the newest value of every key.
func TestStorageCleanBoundedMap(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 64 << 10
	l := mustOpen(t, OS, t.TempDir(), o)
	const keys = 3000
	var all []kv
	for round := 0; round < 2; round++ {
		for k := 0; k < keys; k += 10 {
			var recs []kv
			for j := k; j < k+10; j++ {
				recs = append(recs, kv{key: fmt.Sprintf("key-%05d", j), value: []byte(fmt.Sprintf("r%d", round)), ts: int64(round)})
			}
			all = append(all, appendKV(t, l, 4, recs)...)
		}
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	end := l.segments()[len(l.segments())-1].base
	const mapBytes = 400 * offsetMapSlotSize // 360 keys
	co := cleanOpts(mapBytes)
	m := co.Map
	if m.Capacity() != 360 || m.Memory() != mapBytes {
		t.Fatalf("map capacity %d keys in %d bytes", m.Capacity(), m.Memory())
	}
	passes := 0
	for {
		st := mustClean(t, l, co)
		if m.BufferCap() != mapBytes {
			t.Fatalf("pass %d: map buffer holds %d bytes, want %d", passes, m.BufferCap(), mapBytes)
		}
		if st.End == st.FirstDirty {
			break
		}
		passes++
		if st.MapFull != (st.End < end) || st.MapEntries > m.Capacity() {
			t.Fatalf("pass %d: %+v", passes, st)
		}
		if st.MapFull && st.MapEntries != m.Capacity() {
			t.Fatalf("pass %d: map full with %d of %d keys", passes, st.MapEntries, m.Capacity())
		}
		if passes > 100 {
			t.Fatal("no end")
		}
	}
	if want := 2 * keys / m.Capacity(); passes < want {
		t.Fatalf("%d passes, want at least %d", passes, want)
	}
	got, _ := readKV(t, l)
	equalKV(t, got, compacted(all, end, false))
	if len(got) != keys {
		t.Fatalf("%d records, want %d", len(got), keys)
	}
}

func TestStorageCleanMinCompactionLag(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	now := c.now().UnixMilli()
	var all []kv
	all = append(all, appendKV(t, l, 0, []kv{{key: "a", value: []byte("old1"), ts: now - 7200_000}, {key: "b", value: []byte("old1"), ts: now - 7200_000}})...)
	all = append(all, appendKV(t, l, 0, []kv{{key: "a", value: []byte("old2"), ts: now - 7100_000}})...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mid := l.EndOffset()
	all = append(all, appendKV(t, l, 0, []kv{{key: "a", value: []byte("new"), ts: now - 60_000}, {key: "b", value: []byte("new"), ts: now}})...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	o := cleanOpts(1 << 20)
	o.MinCompactionLagMs = time.Hour.Milliseconds()
	info, err := l.Cleanable(o.MinCompactionLagMs)
	if err != nil || info.FirstDirty != 0 || info.FirstUncleanable != mid || info.DirtyBytes != l.segments()[0].size.Load() ||
		info.CleanBytes != 0 || info.FirstDirtyTimestamp != now-7200_000 {
		t.Fatalf("Cleanable: %+v %v", info, err)
	}
	st := mustClean(t, l, o)
	if st.End != mid {
		t.Fatalf("End %d, want %d", st.End, mid)
	}
	got, _ := readKV(t, l)
	equalKV(t, got, compacted(all, mid, false)) // only old1 of a goes
	// An hour later the recent segment is cleanable too.
	c.advance(time.Hour)
	st = mustClean(t, l, o)
	got, _ = readKV(t, l)
	equalKV(t, got, compacted(all, l.EndOffset(), false))
	if info, _ := l.Cleanable(o.MinCompactionLagMs); info.DirtyBytes != 0 || info.DirtyRatio() != 0 {
		t.Fatalf("still dirty: %+v", info)
	}
}

// TestStorageCleanCrash interrupts passes at each step of installing a
// cleaned segment and checks the log, reopened after a crash, holds either
// the old segment or the new one.
func TestStorageCleanCrash(t *testing.T) {
	cases := []struct {
		name    string
		op      storagetest.Op
		pattern string
		failed  bool // the log fails (the .log was already replaced)
		cleaned bool // the first segment is the cleaned one after the crash
	}{
		{"write cleaned log", storagetest.OpWrite, "*.log.cleaned", false, false},
		// The first fsync of the first cleaned segment's files (an index
		// with no entries has nothing to write or fsync).
		{"fsync cleaned files", storagetest.OpSync, "*.cleaned", false, false},
		{"remove old index", storagetest.OpRemove, "*.timeindex", false, false},
		{"rename log", storagetest.OpRename, "*.log", false, false},
		{"rename time index", storagetest.OpRename, "*.timeindex", true, true},
		{"sync dir after renames", storagetest.OpSyncDir, "*", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			dir := t.TempDir()
			ffs := storagetest.NewFaultFS(OS)
			l := mustOpen(t, ffs, dir, testOpts(c))
			r := rand.New(rand.NewPCG(3, 3))
			all := fillKeyed(t, l, r, 3, 60, 10, 0, 1000)
			orig, _ := readKV(t, l)
			l.flush.rolls.Wait() // no background fsync may meet the fault
			end := l.segments()[len(l.segments())-1].base
			firstEnd := l.segments()[1].base
			n := 1
			if tc.op == storagetest.OpSyncDir {
				n = 2 // the first one is after removing the old indexes
			}
			ffs.InjectError(tc.op, tc.pattern, n, nil)
			_, err := l.Clean(context.Background(), cleanOpts(1<<20))
			if !errors.Is(err, storagetest.ErrInjected) {
				t.Fatalf("Clean: %v, want the injected error", err)
			}
			if failed := errors.Is(l.Err(), ErrStorage); failed != tc.failed {
				t.Fatalf("log failed: %v, want %v", l.Err(), tc.failed)
			}
			if !tc.failed {
				// Still serving the original records, no leftovers.
				got, _ := readKV(t, l)
				equalKV(t, got, orig)
				if m, _ := filepath.Glob(filepath.Join(dir, "*.cleaned")); len(m) > 0 {
					t.Fatalf("leftovers %v", m)
				}
			}
			crash(l)
			// A crash may also leave the files of a replacement in the
			// making: recovery deletes them.
			for _, suffix := range []string{".log.cleaned", ".index.cleaned"} {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", 0, suffix)), []byte("partial"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l = mustOpen(t, OS, dir, testOpts(c))
			if m, _ := filepath.Glob(filepath.Join(dir, "*.cleaned")); len(m) > 0 {
				t.Fatalf("leftovers after recovery: %v", m)
			}
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				if _, err := os.Stat(segmentPath(dir, 0, suffix)); err != nil {
					t.Fatalf("index not rebuilt: %v", err)
				}
			}
			want := orig
			if tc.cleaned { // the first segment is clean, the rest not yet
				want = nil
				cleanFirst := compacted(all, end, false)
				for _, r := range cleanFirst {
					if r.off < firstEnd {
						want = append(want, r)
					}
				}
				for _, r := range orig {
					if r.off >= firstEnd {
						want = append(want, r)
					}
				}
			}
			got, _ := readKV(t, l)
			equalKV(t, got, want)
			checkSegmentsChain(t, l)
			// The next pass finishes the job.
			mustClean(t, l, cleanOpts(1<<20))
			got, _ = readKV(t, l)
			equalKV(t, got, compacted(all, end, false))
		})
	}
}

// TestStorageCleanAbortedByTruncation truncates the log while a pass reads
// it (from the throttle's sleep): the pass gives up without replacing
// anything and the first dirty offset follows the truncation down.
func TestStorageCleanAbortedByTruncation(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	r := rand.New(rand.NewPCG(5, 5))
	all := fillKeyed(t, l, r, 0, 60, 10, 0, 1000)
	mustClean(t, l, cleanOpts(1<<20))
	cleanEnd := l.FirstDirtyOffset()
	all = append(all, fillKeyed(t, l, r, 0, 60, 10, 0, 2000)...)
	cut := cleanEnd - 5
	truncated := false
	o := cleanOpts(1 << 20)
	o.Throttle = NewThrottle(1, c.now, func(context.Context, time.Duration) error {
		if !truncated {
			truncated = true
			if err := l.TruncateTo(cut); err != nil {
				t.Errorf("TruncateTo: %v", err)
			}
		}
		return nil
	})
	if _, err := l.Clean(context.Background(), o); !errors.Is(err, ErrCleanAborted) {
		t.Fatalf("Clean: %v, want ErrCleanAborted", err)
	}
	if fd := l.FirstDirtyOffset(); fd != l.EndOffset() || fd > cut {
		t.Fatalf("first dirty offset %d after truncating to %d (LEO %d)", fd, cut, l.EndOffset())
	}
	got, _ := readKV(t, l)
	var want []kv
	for _, r := range compacted(all, cleanEnd, false) {
		if r.off < l.EndOffset() {
			want = append(want, r)
		}
	}
	// Everything below the old first dirty offset was cleaned by the first
	// pass; the second replaced nothing.
	equalKV(t, got, want)
}

// TestStorageCleanConcurrentAppends cleans while appends and reads go on
// (run with -race).
func TestStorageCleanConcurrentAppends(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.FileDeleteDelayMs = 1
	l := mustOpen(t, OS, t.TempDir(), o)
	r := rand.New(rand.NewPCG(9, 9))
	fillKeyed(t, l, r, 0, 100, 20, 0, 1000)
	done := make(chan error)
	go func() {
		for i := 0; i < 200; i++ {
			b := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Records: []recordtest.Record{{Key: []byte(fmt.Sprintf("k%d", i%20)), Value: []byte("w"), Timestamp: 3000}}}
			if _, err := l.Append(b.Encode()); err != nil {
				done <- err
				return
			}
			if _, err := l.Read(int64(i), 1<<10, math.MaxInt64, true); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 5; i++ {
		if _, err := l.Clean(context.Background(), cleanOpts(1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, l, cleanOpts(1<<20))
	got, _ := readKV(t, l)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.key] {
			t.Fatalf("key %s twice after a full clean", r.key)
		}
		seen[r.key] = true
	}
}

func TestStorageCleanThrottle(t *testing.T) {
	c := newClock()
	var slept []time.Duration
	th := NewThrottle(1000, c.now, func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	})
	ctx := context.Background()
	th.Wait(ctx, 500) // within the second's burst
	th.Wait(ctx, 1000)
	c.advance(time.Second) // pays 1000 back
	th.Wait(ctx, 500)
	c.advance(10 * time.Second) // the bucket holds one second at most
	th.Wait(ctx, 3000)
	want := []time.Duration{500 * time.Millisecond, 2 * time.Second}
	if !slices.Equal(slept, want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	for _, rate := range []float64{0, -1, math.MaxFloat64, math.Inf(1)} {
		if NewThrottle(rate, nil, nil) != nil {
			t.Fatalf("rate %v limits", rate)
		}
	}
	var none *Throttle
	if err := none.Wait(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
}

// Truncating into a gap compaction left cuts there: the LEO is the offset
// asked for and appends continue from it.
func TestStorageCleanTruncateIntoGap(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	for i := 0; i < 3; i++ {
		appendKV(t, l, 0, []kv{{key: "hot", value: []byte{byte(i)}}})             // 0, 2, 4
		appendKV(t, l, 0, []kv{{key: fmt.Sprintf("c%d", i), value: []byte("c")}}) // 1, 3, 5
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, l, cleanOpts(1<<20)) // batches 0 and 2 dropped
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 2 {
		t.Fatalf("LEO %d after truncating to 2", l.EndOffset())
	}
	more := appendKV(t, l, 0, []kv{{key: "n", value: []byte("new")}})
	if more[0].off != 2 {
		t.Fatalf("appended at %d, want 2", more[0].off)
	}
	got, _ := readKV(t, l)
	if fmt.Sprint(got) != "[1:c0=c 2:n=new]" {
		t.Fatalf("after the append: %v", got)
	}
}
