package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// fillLog writes batches of 3 records over a few segments and returns them.
func fillLog(t *testing.T, dir string, o Options) [][]byte {
	t.Helper()
	l, err := Open(OS, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := appendBatches(t, l, 40, 3, 150, seqTs) // ~11 batches a segment
	crash(l)
	return want
}

func activeLogPath(t *testing.T, dir string) string {
	logs := segmentFiles(t, dir, logSuffix)
	return logs[len(logs)-1]
}

func TestStorageRecoverTornTail(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	probe := fillLog(t, t.TempDir(), o)
	size := int64(len(probe[0]))
	cases := []struct {
		name string
		cut  func(bounds []int64) int64 // new size of the active .log
		keep int                        // batches of the active segment kept, from its start; -1: all
	}{
		{"inside last header", func(b []int64) int64 { return b[len(b)-2] + 20 }, -2},
		{"inside last records", func(b []int64) int64 { return b[len(b)-1] - 7 }, -2},
		{"one byte of last", func(b []int64) int64 { return b[len(b)-2] + 1 }, -2},
		{"inside length field", func(b []int64) int64 { return b[len(b)-2] + 10 }, -2},
		{"inside a middle batch", func(b []int64) int64 { return b[2] + size/2 }, 2},
		{"at a batch boundary", func(b []int64) int64 { return b[3] }, 3},
		{"everything", func(b []int64) int64 { return 0 }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var logged bytes.Buffer
			o := testOpts(c)
			o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			want := fillLog(t, dir, o)
			path := activeLogPath(t, dir)
			bounds := batchBounds(t, path)
			inActive := len(bounds) - 1
			keep := tc.keep
			if keep < 0 {
				keep += len(bounds)
			}
			cut := tc.cut(bounds)
			if err := os.Truncate(path, cut); err != nil {
				t.Fatal(err)
			}
			l := mustOpen(t, OS, dir, o)
			want = want[:len(want)-inActive+keep]
			h, _ := record.ReadHeader(want[len(want)-1])
			if l.EndOffset() != h.NextOffset() {
				t.Fatalf("LEO %d, want %d", l.EndOffset(), h.NextOffset())
			}
			if torn := cut - bounds[keep]; torn > 0 && !strings.Contains(logged.String(), "bytes="+itoa(torn)) {
				t.Fatalf("no warning with the %d truncated bytes in %q", torn, logged.String())
			}
			if fileSize(t, path) != bounds[keep] {
				t.Fatalf("active .log is %d bytes, want %d", fileSize(t, path), bounds[keep])
			}
			more := appendBatches(t, l, 3, 2, 10, seqTs)
			equalBatches(t, readAll(t, l, 0), append(want, more...))
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStorageRecoverCorruptTail(t *testing.T) {
	c := newClock()
	cases := []struct {
		name    string
		corrupt func(data []byte, bounds []int64)
		keep    int // batches of the active segment kept
	}{
		{"crc of last batch", func(d []byte, b []int64) { d[b[len(b)-1]-3] ^= 0x40 }, -2},
		{"crc of second batch", func(d []byte, b []int64) { d[b[1]+record.HeaderSize+2] ^= 1 }, 1},
		{"offset overlap", func(d []byte, b []int64) { // gaps are legal (compaction), overlaps not
			off := binary.BigEndian.Uint64(d[b[2]:])
			binary.BigEndian.PutUint64(d[b[2]:], off-1)
		}, 2},
		{"zeroed tail", func(d []byte, b []int64) { clear(d[b[len(b)-3]:]) }, -3},
		{"bad magic", func(d []byte, b []int64) { d[b[1]+16] = 1 }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOpts(c)
			want := fillLog(t, dir, o)
			path := activeLogPath(t, dir)
			bounds := batchBounds(t, path)
			data := readFileT(t, path)
			tc.corrupt(data, bounds)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			keep := tc.keep
			if keep < 0 {
				keep += len(bounds)
			}
			l := mustOpen(t, OS, dir, o)
			want = want[:len(want)-(len(bounds)-1)+keep]
			h, _ := record.ReadHeader(want[len(want)-1])
			if l.EndOffset() != h.NextOffset() || fileSize(t, path) != bounds[keep] {
				t.Fatalf("LEO %d size %d, want %d %d", l.EndOffset(), fileSize(t, path), h.NextOffset(), bounds[keep])
			}
			equalBatches(t, readAll(t, l, 0), want)
		})
	}
}

func TestStorageRecoverIndexes(t *testing.T) {
	c := newClock()
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"deleted", func(t *testing.T, dir string) {
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for _, p := range segmentFiles(t, dir, suffix) {
					os.Remove(p)
				}
			}
		}},
		{"garbage", func(t *testing.T, dir string) {
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for i, p := range segmentFiles(t, dir, suffix) {
					g := bytes.Repeat([]byte{byte(i * 37), 0xff, 3}, 16) // 48 bytes: whole entries of both sizes
					os.WriteFile(p, g, 0o644)
				}
			}
		}},
		{"torn entry", func(t *testing.T, dir string) {
			for _, p := range segmentFiles(t, dir, indexSuffix) {
				os.Truncate(p, fileSize(t, p)-3)
			}
		}},
		{"truncated to nothing", func(t *testing.T, dir string) {
			for _, p := range segmentFiles(t, dir, timeIndexSuffix) {
				os.Truncate(p, 0)
			}
		}},
		{"monotonic but wrong", func(t *testing.T, dir string) {
			for _, p := range segmentFiles(t, dir, indexSuffix) {
				d := readFileT(t, p)
				for i := 4; i+4 <= len(d); i += 8 { // shift every position by one byte
					binary.BigEndian.PutUint32(d[i:], binary.BigEndian.Uint32(d[i:])+1)
				}
				os.WriteFile(p, d, 0o644)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOpts(c)
			o.IndexIntervalBytes = 200
			l := mustOpen(t, OS, dir, o)
			want := appendBatches(t, l, 40, 3, 150, func(i int) int64 { return int64(1000 + (i*7)%23) })
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			orig := map[string][]byte{}
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for _, p := range segmentFiles(t, dir, suffix) {
					orig[p] = readFileT(t, p)
				}
			}
			tc.damage(t, dir)
			l = mustOpen(t, OS, dir, o)
			for off := int64(0); off < l.EndOffset(); off++ {
				if res, err := l.Read(off, 1, math.MaxInt64, true); err != nil || res.FirstOffset != off/3*3 {
					t.Fatalf("Read(%d): first %d, %v", off, res.FirstOffset, err)
				}
			}
			equalBatches(t, readAll(t, l, 0), want)
			got, ok, err := l.MaxTimestampBatch()
			if h, _ := record.ReadHeader(got); !ok || err != nil || h.MaxTimestamp != 1022 || h.BaseOffset != 13*3 {
				t.Fatalf("MaxTimestampBatch: %+v %v %v", h, ok, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for p, b := range orig { // rebuilt exactly as appends built them
				if !bytes.Equal(readFileT(t, p), b) {
					t.Fatalf("%s differs after rebuild", filepath.Base(p))
				}
			}
		})
	}
}

func TestStorageCleanShutdownMarker(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		l := mustOpen(t, OS, dir, o)
		want := appendBatches(t, l, 10, 3, 150, seqTs)
		marker := filepath.Join(dir, cleanShutdownFile)
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(marker); err != nil {
				t.Fatalf("no marker after Close: %v", err)
			}
		} else {
			crash(l)
		}
		// Flip a CRC byte of the last batch: only a crash recovery checks CRCs.
		path := activeLogPath(t, dir)
		data := readFileT(t, path)
		data[len(data)-2] ^= 1
		os.WriteFile(path, data, 0o644)
		l = mustOpen(t, OS, dir, o)
		// The marker stays until the first write (an append, a
		// truncation), which removes it durably first.
		if _, err := os.Stat(marker); clean != (err == nil) {
			t.Fatalf("clean %v: marker after Open: %v", clean, err)
		}
		wantLEO := int64(30)
		if !clean {
			wantLEO = 27
		}
		if l.EndOffset() != wantLEO {
			t.Fatalf("clean %v: LEO %d, want %d", clean, l.EndOffset(), wantLEO)
		}
		var got []byte
		for off := int64(0); off < 27; off = int64(len(got)/len(want[0])) * 3 { // equal-size batches
			res, err := l.Read(off, 1<<20, 27, false)
			if err != nil || res.Slice.Size == 0 {
				t.Fatalf("clean %v: Read(%d): %+v %v", clean, off, res, err)
			}
			if got, err = res.Slice.ReadInto(got); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, bytes.Join(want[:9], nil)) {
			t.Fatalf("clean %v: first 9 batches differ", clean)
		}
		// A torn tail is caught even with the marker (the header scan).
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		os.Truncate(path, fileSize(t, path)-5)
		l = mustOpen(t, OS, dir, o)
		if l.EndOffset() != wantLEO-3 {
			t.Fatalf("clean %v, torn after a clean close: LEO %d, want %d", clean, l.EndOffset(), wantLEO-3)
		}
		// The first append removes the marker before writing: a crash
		// after it is recovered as one (the CRC flip below is caught).
		appendBatches(t, l, 1, 3, 150, seqTs)
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("clean %v: marker left after an append: %v", clean, err)
		}
		crash(l)
		data = readFileT(t, path)
		data[len(data)-2] ^= 1
		os.WriteFile(path, data, 0o644)
		l = mustOpen(t, OS, dir, o)
		if l.EndOffset() != wantLEO-3 {
			t.Fatalf("clean %v, crash after the first append: LEO %d, want %d (the corrupt batch dropped)", clean, l.EndOffset(), wantLEO-3)
		}
		l.Close()
	}
}

func TestStorageRecoverLeftovers(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOpts(c)
	l := mustOpen(t, OS, dir, o)
	want := appendBatches(t, l, 5, 1, 10, seqTs)
	l.Close()
	junk := []string{
		"00000000000000000099.index", "00000000000000000099.timeindex", // no .log
		"00000000000000000000.log.cleaned", "00000000000000000000.log.swap",
		"leader-epoch-checkpoint.tmp", "00000000000000000000.log.deleted",
	}
	for _, name := range junk {
		os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte("kept"), 0o644)
	l = mustOpen(t, OS, dir, o)
	for _, name := range junk {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s not removed", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "partition.metadata")); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
	equalBatches(t, readAll(t, l, 0), want)
}

func TestStorageStickyWriteError(t *testing.T) {
	cases := []struct {
		name    string
		op      storagetest.Op
		pattern string
		opts    func(*Options)
		epoch   int32
	}{
		{"log write", storagetest.OpWrite, "*.log", nil, -1},
		// Index entries are written when their segment is synced: here
		// by the roll after the append.
		{"index write", storagetest.OpWrite, "*.index", func(o *Options) { o.IndexIntervalBytes = 1 }, -1},
		{"fsync", storagetest.OpSync, "*.log", func(o *Options) { o.FlushMessages = 1 }, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			o := testOpts(c)
			if tc.opts != nil {
				tc.opts(&o)
			}
			ffs := storagetest.NewFaultFS(OS)
			l, err := Open(ffs, dir, o)
			if err != nil {
				t.Fatal(err)
			}
			want := appendBatches(t, l, 3, 2, 50, seqTs)
			ffs.InjectError(tc.op, tc.pattern, 1, nil)
			_, err = l.Append(makeBatch(t, 2, 5, tc.epoch, 50))
			if tc.op == storagetest.OpWrite && tc.pattern == "*.index" {
				must(t, err)
				must(t, l.Roll())
				l.flush.rolls.Wait() // the background sync of the rolled segment fails
				_, err = l.Append(makeBatch(t, 2, 5, tc.epoch, 50))
			}
			if !errors.Is(err, ErrStorage) || !errors.Is(err, storagetest.ErrInjected) {
				t.Fatalf("append with a failing %s: %v", tc.name, err)
			}
			for i := 0; i < 3; i++ { // sticky, though the FS works again
				if _, err := l.Append(makeBatch(t, 1, 5, -1, 5)); !errors.Is(err, ErrStorage) {
					t.Fatalf("append %d after the failure: %v", i, err)
				}
			}
			if !errors.Is(l.Err(), ErrStorage) || !errors.Is(l.Flush(), ErrStorage) || !errors.Is(l.Roll(), ErrStorage) {
				t.Fatalf("Err %v", l.Err())
			}
			if _, err := l.Read(0, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrStorage) {
				t.Fatalf("read after failure: %v", err)
			}
			l.Close()
			if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err == nil {
				t.Fatal("clean-shutdown marker after a failure")
			}
			// Recovery keeps what was appended before (and, when only the
			// fsync or the checkpoint failed, the batch itself).
			l = mustOpen(t, OS, dir, o)
			got := readAll(t, l, 0)
			if len(got) < len(want) {
				t.Fatalf("recovered %d batches, want at least %d", len(got), len(want))
			}
			equalBatches(t, got[:len(want)], want)
			if _, err := l.Append(makeBatch(t, 1, 5, -1, 5)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStorageFlushPolicy(t *testing.T) {
	cases := []struct {
		name      string
		messages  int64
		ms        int64
		wantSyncs []int64 // .log syncs after each of 6 appends of 2 records
		tick      bool    // advance the clock 40 ms and MaybeFlush after each append
	}{
		{"default never", 0, 0, []int64{0, 0, 0, 0, 0, 0}, true},
		{"every message", 1, 0, []int64{1, 2, 3, 4, 5, 6}, false},
		{"every 5 messages", 5, 0, []int64{0, 0, 1, 1, 1, 2}, false},
		{"every 100 ms", 0, 100, []int64{0, 0, 1, 1, 1, 2}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			o := testOpts(c)
			o.SegmentBytes = 1 << 20
			o.FlushMessages, o.FlushMs = tc.messages, tc.ms
			ffs := storagetest.NewFaultFS(OS)
			l := mustOpen(t, ffs, t.TempDir(), o)
			for i, want := range tc.wantSyncs {
				if _, err := l.Append(makeBatch(t, 2, 1, -1, 10)); err != nil {
					t.Fatal(err)
				}
				if tc.tick {
					c.advance(40e6)
					if err := l.MaybeFlush(); err != nil {
						t.Fatal(err)
					}
				}
				if got := ffs.Count(storagetest.OpSync, "*.log"); got != want {
					t.Fatalf("after append %d: %d syncs, want %d", i, got, want)
				}
				// Policy flushes sync record data only: recovery rebuilds
				// the indexes of every segment above the recovery point.
				if got := ffs.Count(storagetest.OpSync, "*.index"); got != 0 {
					t.Fatalf("after append %d: %d index syncs, want none", i, got)
				}
			}
			o.FlushMessages, o.FlushMs = 0, 0
			l.SetOptions(o)
			if _, err := l.Append(makeBatch(t, 2, 1, -1, 10)); err != nil {
				t.Fatal(err)
			}
			n := ffs.Count(storagetest.OpSync, "*.log")
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(); err != nil { // nothing new: no fsync
				t.Fatal(err)
			}
			if got := ffs.Count(storagetest.OpSync, "*.log"); got != n+1 {
				t.Fatalf("Flush: %d syncs, had %d", got, n)
			}
		})
	}
}

func TestStorageRecoverLargeBatches(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 8 << 20
	l := mustOpen(t, OS, dir, o)
	var want [][]byte
	for _, n := range []int{1500 << 10, 10, 3 << 20, 20} { // larger than the 1 MiB scan buffer
		want = append(want, appendBatches(t, l, 1, 1, n, seqTs)...)
	}
	crash(l)
	path := activeLogPath(t, dir)
	os.Truncate(path, fileSize(t, path)-30) // tear the last one
	l = mustOpen(t, OS, dir, o)
	equalBatches(t, readAll(t, l, 0), want[:3])
}

func TestStorageEmptyLog(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(newClock())
	for round := 0; round < 2; round++ {
		l := mustOpen(t, OS, dir, o)
		if l.EndOffset() != 0 || l.StartOffset() != 0 || l.Size() != 0 {
			t.Fatalf("new log: LEO %d start %d size %d", l.EndOffset(), l.StartOffset(), l.Size())
		}
		if r, err := l.Read(0, 100, 100, true); err != nil || r.Slice.Size != 0 || r.FirstOffset != -1 {
			t.Fatalf("Read(0): %+v %v", r, err)
		}
		if _, err := l.Read(1, 100, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(1): %v", err)
		}
		if _, ok, err := l.FindTimestamp(0); ok || err != nil {
			t.Fatalf("FindTimestamp: %v %v", ok, err)
		}
		if _, ok, err := l.MaxTimestampBatch(); ok || err != nil {
			t.Fatalf("MaxTimestampBatch: %v %v", ok, err)
		}
		if err := l.Roll(); err != nil || len(l.segments()) != 1 {
			t.Fatalf("Roll of an empty log: %v, %d segments", err, len(l.segments()))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

// A new leader epoch is written to the epoch checkpoint lazily (before the
// recovery point moves above it, and at Close), not at every new epoch: a
// crash before that rebuilds the epochs from the rescanned batches. A
// failing checkpoint write fails the log at Close (no clean-shutdown
// marker), and the next Open rebuilds the epochs again.
func TestStorageEpochCheckpointLazy(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ffs := storagetest.NewFaultFS(OS)
	l, err := Open(ffs, dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, l, 3, 2, 50, seqTs)
	if err := l.AssignEpoch(3, l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(makeBatch(t, 2, 5, 3, 50)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := readFile(OS, dir, epochCheckpointFile); ok {
		t.Fatal("epoch checkpoint written at the new epoch")
	}
	// A crash now (no Close): the rescan finds epoch 3 in the batches.
	l2, err := Open(OS, dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := l2.LatestEpoch(); !ok || e != 3 {
		t.Fatalf("after a crash: latest epoch %d %v, want 3", e, ok)
	}
	if got, end := l2.EndOffsetForEpoch(2); got != -1 && end > 6 {
		t.Fatalf("epoch before 3 answered %d %d", got, end)
	}
	if err := l2.AssignEpoch(4, l2.EndOffset()); err != nil {
		t.Fatal(err)
	}
	l.closed.Store(true) // the first instance "crashed": never closed
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	data, ok, err := readFile(OS, dir, epochCheckpointFile)
	if err != nil || !ok || !strings.Contains(string(data), "\n4 ") {
		t.Fatalf("epoch checkpoint at Close: %q %v %v", data, ok, err)
	}

	// A failing write of the checkpoint fails the log at Close.
	l3, err := Open(ffs, dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := l3.AssignEpoch(5, l3.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l3.Append(makeBatch(t, 1, 5, 5, 5)); err != nil {
		t.Fatal(err)
	}
	ffs.InjectError(storagetest.OpRename, epochCheckpointFile, 1, nil)
	if err := l3.Close(); !errors.Is(err, ErrStorage) || !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("close with a failing epoch checkpoint: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err == nil {
		t.Fatal("clean-shutdown marker after a failure")
	}
	l4, err := Open(OS, dir, testOpts(c))
	if err != nil {
		t.Fatal(err)
	}
	defer l4.Close()
	if e, _ := l4.LatestEpoch(); e != 5 {
		t.Fatalf("epochs after the failed close: latest %d, want 5", e)
	}
}

// A batch's leader-epoch field is outside its CRC: a flipped one in the
// middle of the rescanned log (a later batch has a lower epoch) must not
// become the log's latest epoch, which would fence every later leadership.
func TestStorageRecoverDamagedEpochField(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	var logged bytes.Buffer
	o := testOpts(c)
	o.SegmentBytes = 1 << 20
	o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	l, err := Open(OS, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := l.Append(makeBatch(t, 2, seqTs(i), 2, 20)); err != nil {
			t.Fatal(err)
		}
	}
	crash(l)
	path := activeLogPath(t, dir)
	b := batchBounds(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var epoch [4]byte
	binary.BigEndian.PutUint32(epoch[:], 1<<20) // batch 2's epoch field
	if _, err := f.WriteAt(epoch[:], b[2]+12); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}

	l2, err := Open(OS, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if e, ok := l2.LatestEpoch(); !ok || e != 2 {
		t.Fatalf("latest epoch %d %v, want 2", e, ok)
	}
	if l2.EndOffset() != 12 {
		t.Fatalf("LEO %d, want 12: a damaged epoch field is no reason to cut", l2.EndOffset())
	}
	if got, end := l2.EndOffsetForEpoch(2); got != 2 || end != 12 {
		t.Fatalf("OffsetForLeaderEpoch(2) = %d %d, want 2 12", got, end)
	}
	if !strings.Contains(logged.String(), "leader epoch going backwards") {
		t.Fatalf("no warning: %s", logged.String())
	}
	if err := l2.AssignEpoch(3, l2.EndOffset()); err != nil {
		t.Fatal(err)
	}
}

// openCounter counts the opens for writing of index files.
type openCounter struct {
	FS
	indexWrites int
}

func (c *openCounter) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 && (strings.HasSuffix(name, ".index") || strings.HasSuffix(name, ".timeindex")) {
		c.indexWrites++
	}
	return c.FS.OpenFile(name, flag, perm)
}

// An empty partition's active segment is rescanned after a crash; its
// empty indexes are already what a rebuild gives, so they are not written
// (and fsynced) again: a start-up with thousands of idle partitions pays
// nothing for them. A segment with batches still gets its indexes back.
func TestStorageRecoverEmptySegmentWritesNoIndex(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	l := mustOpen(t, OS, dir, testOpts(c))
	crash(l)
	fs := &openCounter{FS: OS}
	l2 := mustOpen(t, fs, dir, testOpts(c))
	if fs.indexWrites != 0 {
		t.Fatalf("%d index files written for an empty log", fs.indexWrites)
	}
	for i := 0; i < 6; i++ {
		if _, err := l2.Append(makeBatch(t, 2, seqTs(i), 2, 200)); err != nil {
			t.Fatal(err)
		}
	}
	crash(l2)
	idx := filepath.Join(filepath.Dir(activeLogPath(t, dir)), strings.TrimSuffix(filepath.Base(activeLogPath(t, dir)), ".log")+".index")
	if err := os.Truncate(idx, 0); err != nil {
		t.Fatal(err)
	}
	fs = &openCounter{FS: OS}
	l3 := mustOpen(t, fs, dir, testOpts(c))
	defer l3.Close()
	if fs.indexWrites == 0 {
		t.Fatal("a rescanned segment with batches got no index written")
	}
	if fi, err := os.Stat(idx); err != nil || fi.Size() == 0 {
		t.Fatalf("index after recovery: %v %v", fi, err)
	}
}
