package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
)

// rotByte damages one byte of file at pos, as bit rot would.
func rotByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// scrubbedLog writes 40 batches of 2 records over several segments, closes
// the log cleanly, lets damage change the first segment's file and opens
// it again (clean: no rescan finds the damage).
func scrubbedLog(t *testing.T, damage func(path string, bounds []int64)) (*Log, [][]byte, []int64) {
	t.Helper()
	dir := t.TempDir()
	o := testOpts(newClock())
	l := mustOpen(t, OS, dir, o)
	want := appendBatches(t, l, 40, 2, 100, seqTs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs := segmentFiles(t, dir, logSuffix)
	if len(logs) < 3 {
		t.Fatalf("%d segments, want at least 3", len(logs))
	}
	bounds := batchBounds(t, logs[0])
	damage(logs[0], bounds)
	return mustOpen(t, OS, dir, o), want, bounds
}

func TestStorageScrubFencesDamagedBatch(t *testing.T) {
	l, want, bounds := scrubbedLog(t, func(path string, bounds []int64) {
		rotByte(t, path, bounds[3]+40) // inside batch 3's records: its CRC fails
	})
	// Before the scrub the damaged bytes are served as they are.
	if _, err := l.Read(6, 1<<20, math.MaxInt64, true); err != nil {
		t.Fatalf("read before the scrub: %v", err)
	}
	res, err := l.Scrub(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Found) != 1 || res.Segments < 2 || res.Batches == 0 {
		t.Fatalf("scrub: %+v", res)
	}
	d := res.Found[0]
	if d.From != 6 || d.To != 8 || d.Pos != bounds[3] || d.Records != 2 {
		t.Fatalf("damage %+v, want offsets [6, 8) at byte %d", d, bounds[3])
	}
	// Before the damage: served, up to it.
	res0, err := l.Read(0, 1<<20, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := res0.Slice.ReadInto(nil)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(buf)) != bounds[3] {
		t.Fatalf("read from 0 returned %d bytes, want the %d before the damage", len(buf), bounds[3])
	}
	// The damaged batch: refused, whatever offset of it is asked.
	for _, off := range []int64{6, 7} {
		if _, err := l.Read(off, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrStorage) {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	// After it: served.
	equalBatches(t, readAll(t, l, 8), want[4:])
	// A second pass finds nothing new; a truncation to the damage forgets it.
	if res, err := l.Scrub(context.Background(), nil); err != nil || len(res.Found) != 0 || len(l.Damaged()) != 1 {
		t.Fatalf("second scrub: %+v, %v", res, err)
	}
	if err := l.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	if len(l.Damaged()) != 0 {
		t.Fatalf("damage after truncating it away: %+v", l.Damaged())
	}
	equalBatches(t, readAll(t, l, 0), want[:3])
}

// A damaged length loses the framing: everything from the batch to the end
// of its segment is refused, the next segment is served.
func TestStorageScrubLostFramingFencesSegmentTail(t *testing.T) {
	l, want, bounds := scrubbedLog(t, func(path string, bounds []int64) {
		rotByte(t, path, bounds[2]+8) // batch 2's length
	})
	res, err := l.Scrub(context.Background(), nil)
	if err != nil || len(res.Found) != 1 {
		t.Fatalf("scrub: %+v, %v", res, err)
	}
	d := res.Found[0]
	segEnd := l.segments()[1].base
	if d.From != 4 || d.To != segEnd || d.Pos != bounds[2] || d.Records != -1 {
		t.Fatalf("damage %+v, want offsets [4, %d) at byte %d", d, segEnd, bounds[2])
	}
	if _, err := l.Read(segEnd-1, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrDamaged) {
		t.Fatalf("read in the damaged tail: %v", err)
	}
	equalBatches(t, readAll(t, l, segEnd), want[segEnd/2:])
}

// Recovery after a crash that finds a damaged batch below the log end cuts
// it and what follows, and says at ERROR exactly which offsets it cut and
// how many records they held.
func TestStorageRecoveryReportsLostOffsets(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(newClock())
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, OS, dir, o)
	want := appendBatches(t, l, 10, 2, 50, seqTs)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	crash(l)
	seg := segmentFiles(t, dir, logSuffix)[0]
	bounds := batchBounds(t, seg)
	rotByte(t, seg, bounds[4]+40)
	var logs bytes.Buffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	l = mustOpen(t, OS, dir, o)
	equalBatches(t, readAll(t, l, 0), want[:4])
	out := logs.String()
	for _, w := range []string{"level=ERROR", "LOST", "fromOffset=8", "toOffset=19", "offsets=12", "records=12", "batches=6"} {
		if !strings.Contains(out, w) {
			t.Fatalf("no %q in the recovery log:\n%s", w, out)
		}
	}
}
