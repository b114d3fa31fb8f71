package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// Crash tests: a log runs on a storagetest.MemFS, and a CrashClone of it
// is what a power loss would leave on disk.

const crashDir = "/data/t-0"

func noCrash() storagetest.CrashOptions { return storagetest.CrashOptions{} }

// persistedRecoveryPoint reads recovery-point-offset-checkpoint from fs.
func persistedRecoveryPoint(t testing.TB, fs FS) (int64, bool) {
	t.Helper()
	off, ok, err := ReadOffsetCheckpoint(fs, filepath.Join(crashDir, recoveryPointFile))
	if err != nil {
		t.Fatalf("reading the recovery point: %v", err)
	}
	return off, ok
}

// replicate appends, as a follower, batches of two records at offsets from
// (inclusive) to to (exclusive) in leader epoch epoch, and returns them.
func replicate(t testing.TB, l *Log, from, to int64, epoch int32) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < to; off += 2 {
		b := makeBatch(t, 2, 1000+off, epoch, 100)
		record.SetBaseOffset(b, off)
		if err := l.AppendAssigned(b); err != nil {
			t.Fatalf("AppendAssigned at %d: %v", off, err)
		}
		out = append(out, b)
	}
	return out
}

// durableFollower is a follower log on m holding offsets [0, 120) in
// several segments, all of it synced and the recovery point persisted at
// 120, as the rolled segments' background syncs leave it.
func durableFollower(t testing.TB, fs FS, o Options) (*Log, [][]byte) {
	t.Helper()
	l := mustOpen(t, fs, crashDir, o)
	want := replicate(t, l, 0, 120, 1)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	l.flush.rolls.Wait()
	if rp, _ := persistedRecoveryPoint(t, fs); rp != 120 || len(l.segments()) < 4 {
		t.Fatalf("setup: recovery point %d, %d segments", rp, len(l.segments()))
	}
	return l, want
}

// Every operation that lowers the log end offset persists the lowered
// recovery point before it returns: a crash right after it must not find a
// recovery point above the log end (which would make the next Open trust
// segments written later without rescanning them).
func TestStorageTruncationPersistsRecoveryPoint(t *testing.T) {
	cases := []struct {
		name   string
		op     func(t *testing.T, l *Log, m *storagetest.MemFS) *storagetest.MemFS // returns the FS to check
		maxRP  int64
		wantLE int64 // the log end offset after op
	}{
		{"TruncateTo", func(t *testing.T, l *Log, m *storagetest.MemFS) *storagetest.MemFS {
			must(t, l.TruncateTo(30))
			return m.CrashClone(noCrash())
		}, 30, 30},
		{"TruncateTo below the start offset", func(t *testing.T, l *Log, m *storagetest.MemFS) *storagetest.MemFS {
			must(t, l.SetStartOffset(40))
			must(t, l.TruncateTo(20))
			return m.CrashClone(noCrash())
		}, 20, 20},
		{"TruncateFullyAndStartAt", func(t *testing.T, l *Log, m *storagetest.MemFS) *storagetest.MemFS {
			must(t, l.TruncateFullyAndStartAt(10))
			return m.CrashClone(noCrash())
		}, 10, 10},
		{"Open cutting a torn tail", func(t *testing.T, l *Log, m *storagetest.MemFS) *storagetest.MemFS {
			// A disk that lost the end of the last segment although it
			// was synced: recovery cuts the log below the checkpoint.
			crash(l)
			c := m.CrashClone(noCrash())
			segs := l.segments()
			last := segs[len(segs)-2] // the one before the empty active segment
			must(t, c.Remove(segmentPath(crashDir, segs[len(segs)-1].base, logSuffix)))
			must(t, c.SyncDir(crashDir))
			f, err := c.OpenFile(segmentPath(crashDir, last.base, logSuffix), fileFlags, filePerm)
			must(t, err)
			fi, err := f.Stat()
			must(t, err)
			must(t, f.Truncate(fi.Size()-10))
			must(t, f.Sync())
			must(t, f.Close())
			l2 := mustOpen(t, c, crashDir, l.opts)
			if l2.EndOffset() >= 120 {
				t.Fatalf("LEO %d after tearing the last batch", l2.EndOffset())
			}
			return c.CrashClone(noCrash())
		}, 118, 118},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := storagetest.NewCrashableMem()
			l, _ := durableFollower(t, m, testOpts(newClock()))
			after := tc.op(t, l, m)
			rp, ok := persistedRecoveryPoint(t, after)
			if !ok || rp > tc.maxRP {
				t.Fatalf("persisted recovery point %d (present %v) after the operation, want at most %d", rp, ok, tc.maxRP)
			}
			l2 := mustOpen(t, after, crashDir, testOpts(newClock()))
			if l2.EndOffset() != tc.wantLE {
				t.Fatalf("LEO %d after the crash, want %d", l2.EndOffset(), tc.wantLE)
			}
		})
	}
}

// The follower sequence of the loss: truncate, replicate, roll, and lose
// power before the rolled segment's background fsync. The data replicated
// after the truncation never reached the disk; recovery must see that
// rather than trust the segment for a recovery point checkpointed before
// the truncation (which leaves offsets the log claims but cannot serve).
func TestStorageFollowerCrashAfterTruncateReplicateRoll(t *testing.T) {
	m := storagetest.NewCrashableMem()
	ffs := storagetest.NewFaultFS(m)
	o := testOpts(newClock())
	l, want := durableFollower(t, ffs, o)
	must(t, l.TruncateTo(30))
	replicate(t, l, 30, 36, 2)
	// The power goes before the rolled segment's fsync: model it by
	// failing that fsync, so nothing after the truncation is synced.
	ffs.InjectError(storagetest.OpSync, "*.log", 1, nil)
	must(t, l.Roll())
	l.flush.rolls.Wait()

	l2 := mustOpen(t, m.CrashClone(noCrash()), crashDir, o)
	if l2.EndOffset() != 30 {
		t.Fatalf("LEO %d after the crash, want 30 (the replicated offsets were never synced)", l2.EndOffset())
	}
	equalBatches(t, readAll(t, l2, 0), want[:15])
	// Replication resumes where the log really ends.
	replicate(t, l2, 30, 40, 2)
	if l2.EndOffset() != 40 {
		t.Fatalf("LEO %d", l2.EndOffset())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rewriteFile replaces a file's contents on fs, durably.
func rewriteFile(t testing.TB, fs FS, name string, data []byte) {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	must(t, err)
	_, err = f.Write(data)
	must(t, errors.Join(err, f.Sync(), f.Close(), fs.SyncDir(filepath.Dir(name))))
}

// Recovery checks that each segment's last batch ends where the next
// segment begins, for trusted segments too (below the recovery point, or
// all of them after a clean shutdown), and cuts the log at the first break
// as it does for a torn segment it rescans.
func TestStorageRecoverSegmentContinuity(t *testing.T) {
	// durableFollower's segments: [0,28) [28,56) [56,84) [84,112)
	// [112,120) and the empty active one at 120.
	segLog := func(base int64) string { return segmentPath(crashDir, base, logSuffix) }
	cases := []struct {
		name    string
		damage  func(t *testing.T, fs *storagetest.MemFS)
		wantLEO int64
	}{
		{"intact", func(t *testing.T, fs *storagetest.MemFS) {}, 120},
		{"middle segment lost its last batch", func(t *testing.T, fs *storagetest.MemFS) {
			data, err := fs.ReadFile(segLog(28))
			must(t, err)
			b := batchBoundsOf(t, data)
			rewriteFile(t, fs, segLog(28), data[:b[len(b)-2]])
		}, 54},
		{"middle segment missing", func(t *testing.T, fs *storagetest.MemFS) {
			must(t, removeSegmentFiles(fs, crashDir, 56))
			must(t, fs.SyncDir(crashDir))
		}, 56},
		{"segments overlap", func(t *testing.T, fs *storagetest.MemFS) {
			for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				must(t, fs.Rename(segmentPath(crashDir, 56, suffix), segmentPath(crashDir, 50, suffix)))
			}
			must(t, fs.SyncDir(crashDir))
		}, 56},
		{"first batch below its segment's base", func(t *testing.T, fs *storagetest.MemFS) {
			data, err := fs.ReadFile(segLog(56))
			must(t, err)
			record.SetBaseOffset(data, 54) // the CRC does not cover the base offset
			rewriteFile(t, fs, segLog(56), data)
		}, 56},
	}
	for _, clean := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/clean=%v", tc.name, clean), func(t *testing.T) {
				m := storagetest.NewCrashableMem()
				o := testOpts(newClock())
				l, want := durableFollower(t, m, o)
				if clean {
					must(t, l.Close())
				} else {
					crash(l) // the recovery point (120) trusts all but the active segment
				}
				c := m.CrashClone(noCrash())
				tc.damage(t, c)
				l2 := mustOpen(t, c, crashDir, o)
				if l2.EndOffset() != tc.wantLEO {
					t.Fatalf("LEO %d after recovery, want %d", l2.EndOffset(), tc.wantLEO)
				}
				equalBatches(t, readAll(t, l2, 0), want[:tc.wantLEO/2])
				for _, s := range l2.segments()[1:] {
					if s.base > tc.wantLEO {
						t.Fatalf("segment %d above the log end %d kept", s.base, tc.wantLEO)
					}
				}
				if rp, _ := persistedRecoveryPoint(t, c); rp > tc.wantLEO {
					t.Fatalf("recovery point %d above the recovered log end", rp)
				}
				// And it stays cut: the next start agrees.
				must(t, l2.Close())
				l3 := mustOpen(t, c, crashDir, o)
				if l3.EndOffset() != tc.wantLEO {
					t.Fatalf("LEO %d on the next start", l3.EndOffset())
				}
			})
		}
	}
}

// A follower truncated into a gap its compacted leader's log has (the LEO
// is past its last batch) and then rolled: the new segment begins where
// the last batch ends, so recovery, which allows gaps inside segments but
// none between them, keeps everything.
func TestStorageRollAfterTruncationIntoGap(t *testing.T) {
	for _, how := range []string{"clean", "crash", "crash without a recovery point"} {
		t.Run(how, func(t *testing.T) {
			m := storagetest.NewCrashableMem()
			o := testOpts(newClock())
			l := mustOpen(t, m, crashDir, o)
			want := replicate(t, l, 0, 10, 1)
			replicate(t, l, 20, 22, 1) // the leader compacted [10, 20) away
			must(t, l.TruncateTo(15))
			if l.EndOffset() != 15 {
				t.Fatalf("LEO %d after truncating into the gap", l.EndOffset())
			}
			must(t, l.Roll())
			want = append(want, replicate(t, l, 16, 20, 2)...)
			if how == "clean" {
				must(t, l.Close())
			} else {
				must(t, l.Flush())
				crash(l)
			}
			c := m.CrashClone(noCrash())
			if how == "crash without a recovery point" { // every segment is rescanned
				must(t, c.Remove(filepath.Join(crashDir, recoveryPointFile)))
			}
			l2 := mustOpen(t, c, crashDir, o)
			if l2.EndOffset() != 20 {
				t.Fatalf("LEO %d after reopening, want 20", l2.EndOffset())
			}
			var got [][]byte
			for from := int64(0); from < 20; {
				res, err := l2.Read(from, 1<<20, math.MaxInt64, true)
				must(t, err)
				buf, err := res.Slice.ReadInto(nil)
				must(t, err)
				for rest := buf; len(rest) > 0; {
					h, b, r, err := record.Next(rest)
					must(t, err)
					got, from, rest = append(got, b), h.NextOffset(), r
				}
			}
			equalBatches(t, got, want)
		})
	}
}

// batchBoundsOf is batchBounds of data in memory.
func batchBoundsOf(t testing.TB, data []byte) []int64 {
	t.Helper()
	var pos []int64
	var p int64
	for rest := data; len(rest) > 0; {
		h, _, r, err := record.Next(rest)
		must(t, err)
		pos = append(pos, p)
		p += h.Size()
		rest = r
	}
	return append(pos, p)
}

// A new log's first segment is in its directory durably before anything
// is acknowledged: an fsynced append survives a power loss.
func TestStorageNewLogSurvivesPowerLoss(t *testing.T) {
	m := storagetest.NewCrashableMem()
	o := testOpts(newClock())
	o.FlushMessages = 1
	l := mustOpen(t, m, crashDir, o)
	want := appendBatches(t, l, 3, 2, 10, seqTs) // each one fsynced before Append returns
	l2 := mustOpen(t, m.CrashClone(noCrash()), crashDir, o)
	if l2.EndOffset() != 6 {
		t.Fatalf("LEO %d after a power loss, want the 6 acknowledged offsets", l2.EndOffset())
	}
	equalBatches(t, readAll(t, l2, 0), want)
}

// An append's SyncPoint fails with ErrTruncated when a truncation removed
// any of its offsets before the Sync, even after new data has been appended
// past them (acks=1 with flush.messages=1 must not acknowledge data that is
// gone), and succeeds when the truncation left it alone.
func TestStorageSyncPointSurvivesTruncation(t *testing.T) {
	type step func(t *testing.T, l *Log)
	truncateTo := func(off int64) step { return func(t *testing.T, l *Log) { must(t, l.TruncateTo(off)) } }
	appendN := func(n int) step {
		return func(t *testing.T, l *Log) {
			for i := 0; i < n; i++ {
				_, _, err := l.AppendAsync(makeBatch(t, 2, 1, -1, 10))
				must(t, err)
			}
		}
	}
	// The log holds [0, 10) synced; the append under test is [10, 12),
	// then [12, 14) is appended after it.
	cases := []struct {
		name      string
		steps     []step
		truncated bool
	}{
		{"no truncation", nil, false},
		{"truncated at its base, log grown past it again", []step{truncateTo(10), appendN(3)}, true},
		{"truncated inside it", []step{truncateTo(11), appendN(3)}, true},
		{"truncated just above it", []step{truncateTo(12), appendN(3)}, false},
		{"a lower truncation after a higher one", []step{truncateTo(13), appendN(2), truncateTo(8), appendN(5)}, true},
		{"a higher truncation after a lower one", []step{truncateTo(4), appendN(5), truncateTo(13)}, true},
		{"emptied and restarted above it", []step{func(t *testing.T, l *Log) { must(t, l.TruncateFullyAndStartAt(100)) }, appendN(1)}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := storagetest.NewCrashableMem()
			o := testOpts(newClock())
			o.FlushMessages = 1
			l := mustOpen(t, m, crashDir, o)
			appendBatches(t, l, 5, 2, 10, seqTs)
			batch := makeBatch(t, 2, 7, -1, 10)
			base, p, err := l.AppendAsync(batch)
			must(t, err)
			if base != 10 || !p.Due() || p.Offset() != 12 {
				t.Fatalf("append at %d, sync point %+v", base, p)
			}
			appendN(1)(t, l)
			for _, st := range tc.steps {
				st(t, l)
			}
			err = l.Sync(p)
			if tc.truncated != errors.Is(err, ErrTruncated) || (!tc.truncated && err != nil) {
				t.Fatalf("Sync: %v, want truncated=%v", err, tc.truncated)
			}
			if tc.truncated {
				return
			}
			// Acknowledged: after a power loss, the batch is there.
			l2 := mustOpen(t, m.CrashClone(noCrash()), crashDir, o)
			res, err := l2.Read(10, 1<<20, math.MaxInt64, true)
			must(t, err)
			got, err := res.Slice.ReadInto(nil)
			must(t, err)
			if len(got) < len(batch) || !bytes.Equal(got[:len(batch)], batch) {
				t.Fatalf("acknowledged batch at 10 not on disk after the crash")
			}
		})
	}
}

// A truncation while an fsync is under way: the fsync covered the log as it
// was before, so when it ends it must not raise the recovery point over the
// offsets the truncation replaced with unsynced data.
func TestStorageSyncRacingTruncation(t *testing.T) {
	m := storagetest.NewCrashableMem()
	ffs := storagetest.NewFaultFS(m)
	o := testOpts(newClock())
	o.FlushMessages = 1
	l := mustOpen(t, ffs, crashDir, o)
	var p SyncPoint
	for i := 0; i < 5; i++ {
		var err error
		_, p, err = l.AppendAsync(makeBatch(t, 2, 1, -1, 10)) // [0, 10)
		must(t, err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	ffs.InjectHook(storagetest.OpSync, "*.log", 1, func() { close(entered); <-release })
	done := make(chan error)
	go func() { done <- l.Sync(p) }()
	<-entered // the fsync has covered [0, 10) and not returned yet
	must(t, l.TruncateTo(4))
	var p2 SyncPoint
	for i := 0; i < 4; i++ {
		var err error
		_, p2, err = l.AppendAsync(makeBatch(t, 2, 1, -1, 10)) // [4, 12), not synced
		must(t, err)
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrTruncated) {
		t.Fatalf("Sync of the truncated append: %v", err)
	}
	// What a power loss now would keep.
	l2 := mustOpen(t, m.CrashClone(noCrash()), crashDir, o)
	if rp := l.RecoveryPoint(); rp > l2.EndOffset() {
		t.Fatalf("recovery point %d, but a crash keeps only [0, %d)", rp, l2.EndOffset())
	}
	must(t, l.Sync(p2))
	if l3 := mustOpen(t, m.CrashClone(noCrash()), crashDir, o); l3.EndOffset() != 12 {
		t.Fatalf("after the second append's Sync a crash keeps [0, %d), want [0, 12)", l3.EndOffset())
	}
}

// A batch's base offset is outside its CRC, so a torn write can garble it
// into one far above the segment's base, beyond what the segment's
// indexes hold relative to it (appends roll before that). Recovery cuts
// the log there, as at any other bad batch.
func TestStorageRecoverOffsetTooFarAboveBase(t *testing.T) {
	m := storagetest.NewCrashableMem()
	o := testOpts(newClock())
	o.FlushMessages = 1
	l := mustOpen(t, m, crashDir, o)
	want := appendBatches(t, l, 2, 2, 10, seqTs) // [0, 4), synced
	crash(l)
	c := m.CrashClone(noCrash())
	name := segmentPath(crashDir, 0, logSuffix)
	data, err := c.ReadFile(name)
	must(t, err)
	b := makeBatch(t, 2, 1000, -1, 10)
	record.SetBaseOffset(b, 4+math.MaxInt32) // its last offset, 4+MaxInt32+1, is too far
	rewriteFile(t, c, name, append(data, b...))
	l2 := mustOpen(t, c, crashDir, o)
	if l2.EndOffset() != 4 {
		t.Fatalf("LEO %d, want 4: the batch beyond the segment's offsets kept", l2.EndOffset())
	}
	equalBatches(t, readAll(t, l2, 0), want)
}
