package storage

import (
	"errors"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/storagetest"
)

// A full disk refuses one append and the log takes it back: the partial
// write is cut off, later appends fail fast until noSpaceRetry has passed,
// then the next one goes through at the same offset, and recovery (clean
// or after a crash) finds every batch once, contiguous.
func TestStorageNoSpaceUndoesAppendAndResumes(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		opts    func(*Options)
	}{
		{"log write", "*.log", nil},
	}
	for _, tc := range cases {
		for _, crashed := range []bool{false, true} {
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
				leo := l.EndOffset()
				ffs.InjectError(storagetest.OpWrite, tc.pattern, 1, syscall.ENOSPC)
				_, err = l.Append(makeBatch(t, 2, 2000, -1, 50))
				if !errors.Is(err, ErrStorage) || !errors.Is(err, ErrNoSpace) {
					t.Fatalf("append on a full disk: %v", err)
				}
				if l.EndOffset() != leo || l.Err() != nil || !l.NoSpace() {
					t.Fatalf("after ENOSPC: LEO %d (want %d), Err %v, NoSpace %v", l.EndOffset(), leo, l.Err(), l.NoSpace())
				}
				equalBatches(t, readAll(t, l, 0), want) // reads go on
				writes := ffs.Count(storagetest.OpWrite, "*")
				if _, err := l.Append(makeBatch(t, 1, 2000, -1, 5)); !errors.Is(err, ErrNoSpace) {
					t.Fatalf("append right after ENOSPC: %v", err)
				}
				if n := ffs.Count(storagetest.OpWrite, "*"); n != writes {
					t.Fatalf("append before the retry delay wrote %d times", n-writes)
				}
				c.advance(noSpaceRetry)
				more := appendBatches(t, l, 2, 3, 40, seqTs)
				if l.NoSpace() {
					t.Fatal("still marked full after an append went through")
				}
				want = append(want, more...)
				if l.EndOffset() != leo+6 {
					t.Fatalf("LEO %d, want %d", l.EndOffset(), leo+6)
				}
				equalBatches(t, readAll(t, l, 0), want)
				if crashed {
					if err := l.Flush(); err != nil {
						t.Fatal(err)
					}
					crash(l)
				} else if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = mustOpen(t, OS, dir, o)
				equalBatches(t, readAll(t, l, 0), want)
			})
		}
	}
}

// Any other write error stays: the log refuses appends (and reads) until it
// is reopened, however long one waits.
func TestStorageEIOStaysFailedUntilReopen(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	o := testOpts(c)
	ffs := storagetest.NewFaultFS(OS)
	l, err := Open(ffs, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := appendBatches(t, l, 2, 2, 50, seqTs)
	ffs.InjectError(storagetest.OpWrite, "*.log", 1, syscall.EIO)
	if _, err := l.Append(makeBatch(t, 2, 2000, -1, 50)); !errors.Is(err, ErrStorage) || errors.Is(err, ErrNoSpace) {
		t.Fatalf("append with EIO: %v", err)
	}
	c.advance(time.Hour)
	if _, err := l.Append(makeBatch(t, 1, 2000, -1, 5)); !errors.Is(err, ErrStorage) {
		t.Fatalf("append an hour after EIO: %v", err)
	}
	if _, err := l.Read(0, 1<<20, math.MaxInt64, true); !errors.Is(err, ErrStorage) {
		t.Fatalf("read after EIO: %v", err)
	}
	l.Close()
	l = mustOpen(t, OS, dir, o)
	equalBatches(t, readAll(t, l, 0), want)
	if _, err := l.Append(makeBatch(t, 1, 2000, -1, 5)); err != nil {
		t.Fatal(err)
	}
}

// An index is a cache of its segment's batch headers: ENOSPC while writing
// one (when its segment is synced) neither fails the log nor loses the
// entries, which the next sync writes whole; and an index left short on
// disk is completed from the batch headers at the next Open.
func TestStorageNoSpaceOnIndexPersist(t *testing.T) {
	for _, pattern := range []string{"*.index", "*.timeindex"} {
		t.Run(pattern, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			o := testOpts(c)
			o.IndexIntervalBytes = 1
			ffs := storagetest.NewFaultFS(OS)
			l, err := Open(ffs, dir, o)
			must(t, err)
			want := appendBatches(t, l, 4, 2, 50, seqTs)
			ffs.InjectError(storagetest.OpWrite, pattern, 1, syscall.ENOSPC)
			must(t, l.Roll())
			l.flush.rolls.Wait()
			if l.Err() != nil || ffs.Count(storagetest.OpWrite, pattern) == 0 {
				t.Fatalf("after ENOSPC on %s: Err %v, writes %d", pattern, l.Err(), ffs.Count(storagetest.OpWrite, pattern))
			}
			want = append(want, appendBatches(t, l, 3, 2, 50, seqTs)...)
			equalBatches(t, readAll(t, l, 0), want)
			for i := range 3 { // offsets are found through the index
				res, err := l.Read(int64(2*i+1), 1<<20, math.MaxInt64, true)
				if err != nil || res.Slice.Size == 0 {
					t.Fatalf("Read(%d): %+v %v", 2*i+1, res, err)
				}
			}
			first := segmentFiles(t, dir, pattern[1:])[0]
			if err := l.Close(); err != nil { // the close writes the rolled segment's index whole
				t.Fatal(err)
			}
			if fi, err := os.Stat(first); err != nil || fi.Size() == 0 {
				t.Fatalf("%s after Close: %v, %v", first, fi, err)
			}
			l = mustOpen(t, OS, dir, o)
			equalBatches(t, readAll(t, l, 0), want)
			must(t, l.Close())
		})
	}
}
