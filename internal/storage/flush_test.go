package storage

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/gregor-dev/gregor/internal/storagetest"
)

// After a crash that lost the recovery point's progress (power loss before
// the rolled segments' syncs), recovery rescans the segments above the
// persisted recovery point: a torn middle segment is cut and the segments
// after it are deleted, so the log never has a hole.
func TestStorageRecoveryRescansAboveRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(newClock())
	o.SegmentBytes = 4096
	l := mustOpen(t, OS, dir, o)
	for i := 0; i < 40; i++ {
		if _, err := l.Append(makeBatch(t, 2, 1, -1, 300)); err != nil {
			t.Fatal(err)
		}
	}
	segs := l.segments()
	if len(segs) < 4 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	second, third := segs[1], segs[2]
	crash(l)
	// The disk kept only what was synced before the first roll.
	if err := writeFileAtomic(OS, dir, recoveryPointFile, []byte("0\n"+"0\n")); err != nil {
		t.Fatal(err)
	}
	// The second segment lost its last bytes.
	name := segmentPath(dir, second.base, logSuffix)
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, OS, dir, o)
	defer l2.Close()
	if got := len(l2.segments()); got != 2 {
		t.Fatalf("segments after recovery: %d, want 2 (the ones after the hole deleted)", got)
	}
	if l2.EndOffset() >= third.base || l2.EndOffset() <= second.base {
		t.Fatalf("LEO %d not inside the torn segment [%d, %d)", l2.EndOffset(), second.base, third.base)
	}
	if _, err := os.Stat(segmentPath(dir, third.base, logSuffix)); !os.IsNotExist(err) {
		t.Fatalf("segment after the hole still there: %v", err)
	}
	// Appends continue contiguously.
	next := l2.EndOffset()
	if base, err := l2.Append(makeBatch(t, 2, 1, -1, 10)); err != nil || base != next {
		t.Fatalf("append after recovery: %d %v, want %d", base, err, next)
	}
	if got := l2.RecoveryPoint(); got != next {
		t.Fatalf("recovery point after open %d, want %d (everything recovered is on disk)", got, next)
	}
}

// Rolled segments are synced in the background and the recovery point is
// persisted for them; a clean close persists it at the log end.
func TestStorageRecoveryPointPersisted(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(newClock())
	o.SegmentBytes = 4096
	l := mustOpen(t, OS, dir, o)
	for i := 0; i < 20; i++ {
		if _, err := l.Append(makeBatch(t, 1, 1, -1, 300)); err != nil {
			t.Fatal(err)
		}
	}
	l.flush.rolls.Wait()
	lastRoll := l.segments()[len(l.segments())-1].base
	data, ok, err := readFile(OS, dir, recoveryPointFile)
	if err != nil || !ok {
		t.Fatalf("no recovery point after rolls: %v", err)
	}
	if rp, err := decodeOffset(recoveryPointFile, data); err != nil || rp < lastRoll {
		t.Fatalf("recovery point %d (%v), want at least the last roll %d", rp, err, lastRoll)
	}
	end := l.EndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _, _ = readFile(OS, dir, recoveryPointFile)
	if rp, _ := decodeOffset(recoveryPointFile, data); rp != end {
		t.Fatalf("recovery point after close %d, want %d", rp, end)
	}
}

// Concurrent writers with flush.messages=1 share fsyncs: each is durable
// when Append returns, and there are no more fsyncs than appends.
func TestStorageGroupCommit(t *testing.T) {
	o := testOpts(newClock())
	o.FlushMessages = 1
	ffs := storagetest.NewFaultFS(OS)
	l := mustOpen(t, ffs, t.TempDir(), o)
	defer l.Close()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				base, err := l.Append(makeBatch(t, 1, 1, -1, 100))
				if err == nil && l.RecoveryPoint() <= base {
					t.Errorf("Append of offset %d returned before it was durable (recovery point %d)", base, l.RecoveryPoint())
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ffs.Count(storagetest.OpSync, "*.log"); n > writers*each || n == 0 {
		t.Fatalf("%d fsyncs for %d appends", n, writers*each)
	}
	t.Logf("%d fsyncs for %d appends", ffs.Count(storagetest.OpSync, "*.log"), writers*each)
}

// Waiting for offsets that a truncation removed fails at once; Flush of
// what remains works.
func TestStorageSyncAfterTruncation(t *testing.T) {
	o := testOpts(newClock())
	o.FlushMessages = 1
	l := mustOpen(t, OS, t.TempDir(), o)
	defer l.Close()
	var last SyncPoint // offsets below 10
	for i := 0; i < 5; i++ {
		var err error
		if _, last, err = l.AppendAsync(makeBatch(t, 2, 1, -1, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before any fsync", rp)
	}
	if err := l.Sync(last); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Sync of truncated offsets: %v", err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if rp := l.RecoveryPoint(); rp != 4 {
		t.Fatalf("recovery point %d, want 4", rp)
	}
}

// The truncation history Sync consults against a model that remembers every
// truncation: exact while it fits in maxCuts entries, and afterwards never
// above the true lowest cut (it may fail a Sync whose append survived,
// never let through one whose append was cut).
func TestStorageSyncCutHistory(t *testing.T) {
	cases := []struct {
		name string
		cuts func(r *rand.Rand, i int) int64
	}{
		{"random", func(r *rand.Rand, i int) int64 { return r.Int64N(1000) }},
		{"ever higher", func(r *rand.Rand, i int) int64 { return int64(10 * i) }},
		{"ever lower", func(r *rand.Rand, i int) int64 { return int64(10000 - 10*i) }},
		{"sawtooth", func(r *rand.Rand, i int) int64 { return int64(i%7*100 + i) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var f flushState
			var all []int64 // all[g-1] is where truncation g cut
			for i := 0; i < 200; i++ {
				at := tc.cuts(r, i)
				f.recordCutLocked(at)
				all = append(all, at)
				if len(f.cuts) > maxCuts {
					t.Fatalf("%d cuts kept", len(f.cuts))
				}
				for g := 0; g <= len(all); g++ {
					want := int64(math.MaxInt64)
					for _, c := range all[g:] {
						want = min(want, c)
					}
					got := f.cutSinceLocked(uint64(g))
					if got > want || (len(all) <= maxCuts && got != want) {
						t.Fatalf("after %d truncations: lowest cut since %d is %d, want %d", len(all), g, got, want)
					}
				}
			}
		})
	}
}
