package storage

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

func TestStorageAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, OS, dir, testOpts(c))
	var want [][]byte
	for i := 0; i < 120; i++ { // 1 to 7 records, values up to ~300 bytes
		b := makeBatch(t, 1+i%7, seqTs(i), -1, (i*37)%300)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	if n := len(segmentFiles(t, dir, logSuffix)); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	var records int64
	for _, b := range want {
		h, _ := record.ReadHeader(b)
		records += int64(h.NumRecords)
	}
	if l.EndOffset() != records || l.StartOffset() != 0 {
		t.Fatalf("LEO %d start %d, want %d 0", l.EndOffset(), l.StartOffset(), records)
	}
	var size int64
	for _, b := range want {
		size += int64(len(b))
	}
	if l.Size() != size {
		t.Fatalf("Size %d, want %d", l.Size(), size)
	}
	equalBatches(t, readAll(t, l, 0), want)
	for _, seg := range l.segments() { // every read stays within one segment
		res, err := l.Read(seg.base, math.MaxInt32, math.MaxInt64, true)
		if err != nil || res.Slice.Pos != 0 || res.Slice.Size != seg.size.Load() {
			t.Fatalf("Read(%d): %+v %v, want the whole segment of %d bytes", seg.base, res, err, seg.size.Load())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, OS, dir, testOpts(c))
	equalBatches(t, readAll(t, l, 0), want)
	b := makeBatch(t, 2, 5000, -1, 10)
	if base, err := l.Append(b); err != nil || base != records {
		t.Fatalf("append after reopen: %d %v, want %d", base, err, records)
	}
}

func TestStorageReadLimits(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, OS, t.TempDir(), o)
	// Batches of 3 records each: offsets [0,3) [3,6) [6,9) [9,12).
	batches := appendBatches(t, l, 4, 3, 100, seqTs)
	size := int64(len(batches[0]))
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int32
		maxOffset int64
		minOne    bool
		first     int64 // -1: empty
		batches   int64
		err       error
	}{
		{"all", 0, 1 << 20, math.MaxInt64, false, 0, 4, nil},
		{"middle of batch", 4, 1 << 20, math.MaxInt64, false, 3, 3, nil},
		{"last offset of batch", 5, 1 << 20, math.MaxInt64, false, 3, 3, nil},
		{"two batches fit exactly", 0, int32(2 * size), math.MaxInt64, false, 0, 2, nil},
		{"two and a bit", 0, int32(2*size + size/2), math.MaxInt64, false, 0, 2, nil},
		{"first too big, minOne", 3, int32(size - 1), math.MaxInt64, true, 3, 1, nil},
		{"first too big", 3, int32(size - 1), math.MaxInt64, false, -1, 0, nil},
		{"zero bytes, minOne", 0, 0, math.MaxInt64, true, 0, 1, nil},
		{"high watermark at batch end", 0, 1 << 20, 6, false, 0, 2, nil},
		{"high watermark inside batch", 0, 1 << 20, 7, false, 0, 2, nil},
		{"offset at high watermark", 6, 1 << 20, 6, true, -1, 0, nil},
		{"offset above high watermark", 9, 1 << 20, 6, true, -1, 0, nil},
		{"offset at LEO", 12, 1 << 20, math.MaxInt64, true, -1, 0, nil},
		{"offset above LEO", 13, 1 << 20, math.MaxInt64, true, -1, 0, ErrOffsetOutOfRange},
		{"negative offset", -1, 1 << 20, math.MaxInt64, true, -1, 0, ErrOffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset, tc.minOne)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if res.FirstOffset != tc.first || res.Slice.Size != tc.batches*size {
				t.Fatalf("got first %d, %d bytes; want first %d, %d batches of %d", res.FirstOffset, res.Slice.Size, tc.first, tc.batches, size)
			}
			if tc.batches > 0 && res.Slice.Pos != tc.first/3*size {
				t.Fatalf("pos %d, want %d", res.Slice.Pos, tc.first/3*size)
			}
		})
	}
}

func TestStorageIndexLookup(t *testing.T) {
	for _, interval := range []int32{1, 100, 1000, 1 << 20} {
		c := newClock()
		o := testOpts(c)
		o.IndexIntervalBytes = interval
		o.SegmentBytes = 16 << 10
		l := mustOpen(t, OS, t.TempDir(), o)
		type span struct{ base, last int64 }
		var spans []span
		for i := 0; i < 150; i++ {
			b := makeBatch(t, 1+i%5, seqTs(i), -1, 50+i%90)
			base, err := l.Append(b)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := record.ReadHeader(b)
			spans = append(spans, span{base, h.LastOffset()})
		}
		entries := 0
		for _, s := range l.segments() {
			entries += s.idx.len()
		}
		if (interval <= 1000) != (entries > 0) {
			t.Fatalf("interval %d: %d index entries", interval, entries)
		}
		for _, sp := range spans {
			for off := sp.base; off <= sp.last; off++ {
				res, err := l.Read(off, 1, math.MaxInt64, true)
				if err != nil || res.FirstOffset != sp.base {
					t.Fatalf("interval %d: Read(%d) = first %d, %v; want batch at %d", interval, off, res.FirstOffset, err, sp.base)
				}
			}
		}
	}
}

func TestStorageRoll(t *testing.T) {
	cases := []struct {
		name  string
		opts  func(*Options)
		step  func(c *clock, l *Log)
		bases []int64
	}{
		{"by size", func(o *Options) { o.SegmentBytes = 3 * 300 }, nil, []int64{0, 6, 12, 18}},
		{"by time", func(o *Options) { o.SegmentMs = 1000 }, func(c *clock, l *Log) { c.advance(400 * time.Millisecond) }, []int64{0, 6, 12, 18}},
		{"by full offset index", func(o *Options) { o.SegmentIndexBytes = 36; o.IndexIntervalBytes = 1 }, nil, []int64{0, 10}}, // 4 entries, 5 batches
		{"explicit", nil, func(c *clock, l *Log) {
			if l.EndOffset()%6 == 0 {
				l.Roll()
				l.Roll() // no-op on an empty active segment
			}
		}, []int64{0, 6, 12, 18}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			o := testOpts(c)
			o.SegmentBytes = 1 << 20
			if tc.opts != nil {
				tc.opts(&o)
			}
			l := mustOpen(t, OS, t.TempDir(), o)
			var want [][]byte
			for i := 0; i < 10; i++ { // 2 records each, ~290 bytes
				want = append(want, appendBatches(t, l, 1, 2, 100, func(int) int64 { return c.now().UnixMilli() })...)
				if tc.step != nil {
					tc.step(c, l)
				}
			}
			var bases []int64
			for _, s := range l.segments() {
				bases = append(bases, s.base)
			}
			if len(bases) != len(tc.bases) {
				t.Fatalf("segments %v, want %v", bases, tc.bases)
			}
			for i := range bases {
				if bases[i] != tc.bases[i] {
					t.Fatalf("segments %v, want %v", bases, tc.bases)
				}
			}
			equalBatches(t, readAll(t, l, 0), want)
		})
	}
}

func TestStorageSetStartOffset(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, OS, dir, testOpts(c))
	want := appendBatches(t, l, 60, 4, 200, seqTs) // ~16 batches a segment
	segs := l.segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	start := segs[2].base + 5 // inside segment 2
	res, err := l.Read(0, 1<<20, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetStartOffset(start); err != nil {
		t.Fatal(err)
	}
	if got := len(segmentFiles(t, dir, logSuffix)); got != len(segs)-2 {
		t.Fatalf("%d .log files after SetStartOffset, want %d", got, len(segs)-2)
	}
	if l.StartOffset() != start || l.segments()[0].base != segs[2].base {
		t.Fatalf("start %d first segment %d", l.StartOffset(), l.segments()[0].base)
	}
	if _, err := l.Read(start-1, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	got := readAll(t, l, start)
	equalBatches(t, got, want[len(want)-len(got):])
	if r, err := l.Read(start, 1<<20, math.MaxInt64, true); err != nil || r.FirstOffset != start-1 {
		t.Fatalf("read at start: first %d %v, want the batch holding it (%d)", r.FirstOffset, err, start-1)
	}
	// A slice read before the deletion stays readable until the delay passes.
	if _, err := res.Slice.ReadInto(nil); err != nil {
		t.Fatalf("slice of a removed segment: %v", err)
	}
	c.advance(61 * time.Second)
	if err := l.MaybeFlush(); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Slice.ReadInto(nil); err == nil {
		t.Fatal("slice of a removed segment still readable after file.delete.delay.ms")
	}
	if err := l.SetStartOffset(start - 3); err != nil || l.StartOffset() != start {
		t.Fatalf("lowering: %v, start %d", err, l.StartOffset())
	}
	if err := l.SetStartOffset(l.EndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("above LEO: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		l = mustOpen(t, OS, dir, testOpts(c))
		if l.StartOffset() != start {
			t.Fatalf("reopened (clean %v): start %d, want %d", clean, l.StartOffset(), start)
		}
		equalBatches(t, readAll(t, l, start), got)
		crash(l)
	}
	// The whole log: the active segment stays, reads at LEO are empty.
	l = mustOpen(t, OS, dir, testOpts(c))
	leo := l.EndOffset()
	if err := l.SetStartOffset(leo); err != nil {
		t.Fatal(err)
	}
	if len(l.segments()) != 1 {
		t.Fatalf("%d segments after deleting all records", len(l.segments()))
	}
	if r, err := l.Read(leo, 100, math.MaxInt64, true); err != nil || r.Slice.Size != 0 {
		t.Fatalf("read at LEO: %+v %v", r, err)
	}
	if base, err := l.Append(makeBatch(t, 1, 1, -1, 1)); err != nil || base != leo {
		t.Fatalf("append: %d %v", base, err)
	}
}

func TestStorageTruncateTo(t *testing.T) {
	// 30 batches of 2 records: batch i holds offsets 2i, 2i+1.
	cases := []struct {
		name    string
		to      int64
		wantLEO int64
		start   int64 // SetStartOffset before truncating
	}{
		{"batch boundary", 50, 50, 0},
		{"inside batch", 51, 50, 0},
		{"at LEO", 60, 60, 0},
		{"above LEO", 70, 60, 0},
		{"zero", 0, 0, 0},
		{"below start", 10, 10, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			o := testOpts(c)
			o.SegmentBytes = 2000 // ~7 batches a segment
			l := mustOpen(t, OS, dir, o)
			want := appendBatches(t, l, 30, 2, 200, seqTs)
			if tc.start > 0 {
				if err := l.SetStartOffset(tc.start); err != nil {
					t.Fatal(err)
				}
			}
			segsBefore := len(l.segments())
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			if l.EndOffset() != tc.wantLEO {
				t.Fatalf("LEO %d, want %d", l.EndOffset(), tc.wantLEO)
			}
			if tc.wantLEO < 60 && len(l.segments()) >= segsBefore && tc.wantLEO < 40 {
				t.Fatalf("%d segments, had %d", len(l.segments()), segsBefore)
			}
			from := l.StartOffset()
			check := func(l *Log) {
				t.Helper()
				got := readAll(t, l, from)
				equalBatches(t, got, want[from/2:tc.wantLEO/2])
				if len(segmentFiles(t, dir, logSuffix)) != len(l.segments()) {
					t.Fatalf("%d .log files, %d segments", len(segmentFiles(t, dir, logSuffix)), len(l.segments()))
				}
			}
			check(l)
			// Appends continue contiguously, the log reopens the same.
			more := appendBatches(t, l, 5, 2, 200, seqTs)
			want = append(want[:tc.wantLEO/2], more...)
			tc.wantLEO += 10
			check(l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, OS, dir, o)
			check(l)
			crash(l)
			l = mustOpen(t, OS, dir, o)
			check(l)
		})
	}
}

func TestStorageTimestamps(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOpts(c)
	o.IndexIntervalBytes = 300
	l := mustOpen(t, OS, dir, o)
	// Timestamps rise with noise, a peak in the middle, and some -1.
	tsOf := func(i int) int64 {
		switch {
		case i%11 == 5:
			return -1
		case i == 47:
			return 1_000_000
		}
		return int64(i*10 + (i*7919)%50)
	}
	batches := appendBatches(t, l, 100, 2, 150, tsOf)
	brute := func(start, ts int64) []byte {
		for _, b := range batches {
			h, _ := record.ReadHeader(b)
			if h.LastOffset() >= start && h.MaxTimestamp >= ts {
				return b
			}
		}
		return nil
	}
	check := func(l *Log) {
		t.Helper()
		for ts := int64(-5); ts <= 1100; ts += 3 {
			got, ok, err := l.FindTimestamp(ts)
			want := brute(l.StartOffset(), ts)
			if err != nil || ok != (want != nil) || string(got) != string(want) {
				gh, _ := record.ReadHeader(got)
				wh, _ := record.ReadHeader(want)
				t.Fatalf("FindTimestamp(%d) = batch %d ok %v %v, want batch %d", ts, gh.BaseOffset, ok, err, wh.BaseOffset)
			}
		}
		if _, ok, _ := l.FindTimestamp(1_000_001); ok {
			t.Fatal("found a timestamp above the max")
		}
		got, ok, err := l.MaxTimestampBatch()
		if err != nil || !ok || string(got) != string(batches[47]) {
			t.Fatalf("MaxTimestampBatch: %v %v", ok, err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, OS, dir, o)
	check(l)
	crash(l)
	l = mustOpen(t, OS, dir, o)
	check(l)
	if err := l.SetStartOffset(60); err != nil {
		t.Fatal(err)
	}
	check(l)
	if err := l.TruncateTo(90); err != nil { // drops the peak batch (offsets 94, 95)
		t.Fatal(err)
	}
	batches = batches[:45]
	got, ok, err := l.MaxTimestampBatch()
	if h, _ := record.ReadHeader(got); err != nil || !ok || h.MaxTimestamp != 44*10+(44*7919)%50 {
		t.Fatalf("MaxTimestampBatch after truncation: ts %d %v %v", h.MaxTimestamp, ok, err)
	}
}

func TestStorageEpochs(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, OS, dir, testOpts(c))
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epoch in a new log")
	}
	if e, off := l.EndOffsetForEpoch(0); e != -1 || off != -1 {
		t.Fatalf("empty cache: %d %d", e, off)
	}
	// Epoch 1 at 0..9, 3 at 10..19, 4 at 20..29 (batches of 5 records).
	for _, epoch := range []int32{1, 1, 3, 3, 4, 4, 2} {
		b := makeBatch(t, 5, 100, epoch, 10)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	// The stale epoch 2 batch at 30 does not enter the cache.
	cases := []struct {
		req       int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1},
		{0, 0, 0},   // below every epoch: the first epoch's start
		{1, 1, 10},  // ends where epoch 3 starts
		{2, 1, 10},  // unknown: the epoch below it
		{3, 3, 20},  // ends where 4 starts
		{4, 4, 35},  // latest: LEO
		{5, -1, -1}, // above the latest
	}
	check := func(l *Log) {
		t.Helper()
		for _, tc := range cases {
			if e, end := l.EndOffsetForEpoch(tc.req); e != tc.wantEpoch || end != tc.wantEnd {
				t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.req, e, end, tc.wantEpoch, tc.wantEnd)
			}
		}
		if e, ok := l.LatestEpoch(); !ok || e != 4 {
			t.Fatalf("LatestEpoch %d %v", e, ok)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(readFileT(t, dir+"/"+epochCheckpointFile)); got != "0\n3\n1 0\n3 10\n4 20\n" {
		t.Fatalf("checkpoint %q", got)
	}
	l = mustOpen(t, OS, dir, testOpts(c))
	check(l)
	// Truncation drops epochs that start at or after the new end.
	if err := l.TruncateTo(20); err != nil {
		t.Fatal(err)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 3 {
		t.Fatalf("after truncation LatestEpoch %d %v", e, ok)
	}
	if e, end := l.EndOffsetForEpoch(3); e != 3 || end != 20 {
		t.Fatalf("after truncation EndOffsetForEpoch(3) = %d %d", e, end)
	}
	// Raising the start offset moves the first kept epoch up to it.
	if err := l.SetStartOffset(12); err != nil {
		t.Fatal(err)
	}
	if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 12 {
		t.Fatalf("after SetStartOffset EndOffsetForEpoch(1) = %d %d, want 1 12", e, end)
	}
	if err := l.AssignEpoch(7, l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 7 {
		t.Fatalf("after AssignEpoch LatestEpoch %d %v", e, ok)
	}
	if _, err := l.Append(makeBatch(t, 1, 100, 7, 10)); err != nil { // an epoch without data is dropped on load, as in Kafka
		t.Fatal(err)
	}
	crash(l)
	l = mustOpen(t, OS, dir, testOpts(c))
	if e, end := l.EndOffsetForEpoch(3); e != 3 || end != 20 {
		t.Fatalf("after reopen EndOffsetForEpoch(3) = %d %d", e, end)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 7 {
		t.Fatalf("after reopen LatestEpoch %d %v", e, ok)
	}
}

func TestStorageAppendAssigned(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	var buf []byte
	var want [][]byte
	for i, next := 0, int64(0); i < 20; i++ {
		b := makeBatch(t, 3, seqTs(i), 2, 100)
		record.SetBaseOffset(b, next)
		next += 3
		buf = append(buf, b...)
		want = append(want, b)
	}
	if err := l.AppendAssigned(buf); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 60 || len(l.segments()) < 2 {
		t.Fatalf("LEO %d, %d segments", l.EndOffset(), len(l.segments()))
	}
	equalBatches(t, readAll(t, l, 0), want)
	overlap := makeBatch(t, 1, 1, 2, 1)
	record.SetBaseOffset(overlap, 59)
	corrupt := makeBatch(t, 1, 1, 2, 1)
	record.SetBaseOffset(corrupt, 60)
	corrupt[len(corrupt)-1] ^= 1
	good := makeBatch(t, 1, 1, 2, 1)
	record.SetBaseOffset(good, 60)
	for _, bad := range [][]byte{overlap, corrupt, corrupt[:30], append(slices.Clone(good), corrupt...)} {
		if err := l.AppendAssigned(bad); err == nil || errors.Is(err, ErrStorage) {
			t.Fatalf("bad batch: %v", err)
		}
	}
	if l.EndOffset() != 60 || l.Err() != nil {
		t.Fatalf("LEO %d err %v after rejected appends", l.EndOffset(), l.Err())
	}
	// A gap (the leader's log was compacted) is kept, and survives reopen.
	gap := makeBatch(t, 2, 1, 2, 1)
	record.SetBaseOffset(gap, 70)
	if err := l.AppendAssigned(gap); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 72 {
		t.Fatalf("LEO %d after a batch at 70", l.EndOffset())
	}
	dir := l.dir
	for reopen := range 2 {
		if reopen == 1 {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, OS, dir, testOpts(c))
		}
		if l.EndOffset() != 72 {
			t.Fatalf("LEO %d (reopened: %d)", l.EndOffset(), reopen)
		}
		for _, from := range []int64{60, 65, 71} {
			res, err := l.Read(from, 1<<20, math.MaxInt64, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := res.Slice.ReadInto(nil)
			if err != nil || !slices.Equal(got, gap) {
				t.Fatalf("Read(%d) in or after the gap: %d bytes, err %v", from, len(got), err)
			}
		}
	}
}

func TestStorageTruncateFullyAndStartAt(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	l := mustOpen(t, OS, dir, testOpts(c))
	appendBatches(t, l, 3, 1, 10, seqTs)
	if err := l.AssignEpoch(4, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		if l.StartOffset() != 100 || l.EndOffset() != 100 {
			t.Fatalf("start %d LEO %d, want 100 100", l.StartOffset(), l.EndOffset())
		}
		if e, ok := l.LatestEpoch(); ok {
			t.Fatalf("epoch %d left in the cache", e)
		}
	}
	check(l)
	b := makeBatch(t, 2, 1, 5, 1)
	record.SetBaseOffset(b, 100)
	if err := l.AppendAssigned(b); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, OS, dir, testOpts(c))
	if l.EndOffset() != 102 || l.StartOffset() != 100 {
		t.Fatalf("after reopen start %d LEO %d", l.StartOffset(), l.EndOffset())
	}
	if e, end := l.EndOffsetForEpoch(5); e != 5 || end != 102 {
		t.Fatalf("EndOffsetForEpoch(5) = %d %d", e, end)
	}
}

func TestStorageOffsetCheckpoint(t *testing.T) {
	name := filepath.Join(t.TempDir(), "hw")
	if _, ok, err := ReadOffsetCheckpoint(OS, name); ok || err != nil {
		t.Fatalf("absent file: ok %v err %v", ok, err)
	}
	if err := WriteOffsetCheckpoint(OS, name, 42); err != nil {
		t.Fatal(err)
	}
	if off, ok, err := ReadOffsetCheckpoint(OS, name); off != 42 || !ok || err != nil {
		t.Fatalf("got %d %v %v", off, ok, err)
	}
	if err := os.WriteFile(name, []byte("0\nx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadOffsetCheckpoint(OS, name); ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt file: ok %v err %v", ok, err)
	}
}

func TestStorageDelete(t *testing.T) {
	dir := t.TempDir() + "/topic-0"
	l, err := Open(OS, dir, testOpts(newClock()))
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, l, 3, 1, 10, seqTs)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := OS.Stat(dir); err == nil {
		t.Fatal("directory still there")
	}
	if _, err := l.Append(makeBatch(t, 1, 1, -1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Delete: %v", err)
	}
	if _, err := l.Read(0, 1, 1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Delete: %v", err)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// A segment holds one file descriptor, its .log: index files are opened
// only while their entries are written (sparseIndex.persist).
func TestStorageOneDescriptorPerSegment(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(newClock())
	o.IndexIntervalBytes = 64
	before := openFDs(t)
	l := mustOpen(t, OS, dir, o)
	appendBatches(t, l, 60, 4, 200, seqTs)
	l.flush.rolls.Wait()
	segs := len(l.segments())
	if segs < 5 {
		t.Fatalf("%d segments", segs)
	}
	if got := openFDs(t) - before; got != segs {
		t.Fatalf("%d descriptors open for %d segments", got, segs)
	}
	must(t, l.Close())
	l = mustOpen(t, OS, dir, o) // after a clean shutdown
	if got := openFDs(t) - before; got != segs {
		t.Fatalf("after reopening: %d descriptors open for %d segments", got, segs)
	}
	must(t, l.Close())
	if got := openFDs(t) - before; got != 0 {
		t.Fatalf("%d descriptors left open after Close", got)
	}
}
