package storage

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/storagetest"
)

// deletedFiles lists the *.deleted files in dir.
func deletedFiles(t testing.TB, fs FS, dir string) []string {
	t.Helper()
	ents, err := fs.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".deleted") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Segments removed from the log (retention, DeleteRecords, truncation,
// compaction) keep their files, renamed *.deleted, for file.delete.delay.ms:
// Slices handed out before stay readable. Then the files are closed and
// removed; a crash leaves the *.deleted files, which the next Open removes.
// A negative delay removes them at once.
func TestStorageFileDeleteDelay(t *testing.T) {
	cases := []struct {
		name    string
		removed func(n int) (from, to int) // the segments segs[from:to] of n go
		renamed bool                       // their files stay as *.deleted (the cleaner replaces its instead)
		op      func(t *testing.T, l *Log, segs []*segment)
	}{
		{"retention", func(n int) (int, int) { return 0, 2 }, true, func(t *testing.T, l *Log, segs []*segment) {
			n, err := l.Retain(-1, l.Size()-segs[0].size.Load()-segs[1].size.Load())
			must(t, err)
			if n != 2 {
				t.Fatalf("retention deleted %d segments, want 2", n)
			}
		}},
		{"DeleteRecords", func(n int) (int, int) { return 0, 2 }, true, func(t *testing.T, l *Log, segs []*segment) {
			must(t, l.SetStartOffset(segs[2].base+3))
		}},
		{"TruncateTo", func(n int) (int, int) { return 2, n }, true, func(t *testing.T, l *Log, segs []*segment) {
			must(t, l.TruncateTo(segs[2].base))
		}},
		{"TruncateFullyAndStartAt", func(n int) (int, int) { return 0, n }, true, func(t *testing.T, l *Log, segs []*segment) {
			must(t, l.TruncateFullyAndStartAt(10_000))
		}},
		{"compaction", func(n int) (int, int) { return 0, 1 }, false, func(t *testing.T, l *Log, segs []*segment) {
			if st := mustClean(t, l, cleanOpts(1<<20)); st.SegmentsRewritten == 0 {
				t.Fatal("nothing compacted")
			}
		}},
	}
	for _, tc := range cases {
		for _, delayMs := range []int64{0 /* the default, 60 s */, -1} {
			t.Run(tc.name+map[int64]string{0: "/default delay", -1: "/at once"}[delayMs], func(t *testing.T) {
				m := storagetest.NewCrashableMem()
				c := newClock()
				o := testOpts(c)
				o.FileDeleteDelayMs = delayMs
				l := mustOpen(t, m, crashDir, o)
				if tc.name == "compaction" {
					fillKeyed(t, l, rand.New(rand.NewPCG(1, 1)), 0, 80, 5, 0, 1000)
				} else {
					appendBatches(t, l, 60, 4, 200, seqTs)
				}
				segs := l.segments()
				if len(segs) < 4 {
					t.Fatalf("%d segments", len(segs))
				}
				l.flush.rolls.Wait()
				from, to := tc.removed(len(segs))
				res, err := l.Read(segs[from].base, 1<<20, math.MaxInt64, true)
				must(t, err)
				readable := func() bool { _, err := res.Slice.ReadInto(nil); return err == nil }

				tc.op(t, l, segs)
				wantDeleted := 0
				if tc.renamed && delayMs == 0 {
					wantDeleted = 3 * (to - from)
				}
				if got := deletedFiles(t, m, crashDir); len(got) != wantDeleted {
					t.Fatalf("*.deleted files %v, want %d", got, wantDeleted)
				}
				for _, s := range segs[from:to] {
					if _, err := m.Stat(segmentPath(crashDir, s.base, logSuffix)); tc.renamed && !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("segment %d still under its name: %v", s.base, err)
					}
				}
				if got := readable(); got != (delayMs == 0) {
					t.Fatalf("slice of a removed segment readable: %v", got)
				}
				// A crash now leaves the *.deleted files; Open removes them.
				crashed := m.CrashClone(noCrash())
				if got := deletedFiles(t, crashed, crashDir); len(got) != wantDeleted {
					t.Fatalf("*.deleted files after a crash %v, want %d", got, wantDeleted)
				}
				mustOpen(t, crashed, crashDir, o)
				if got := deletedFiles(t, crashed, crashDir); len(got) != 0 {
					t.Fatalf("*.deleted files left by Open: %v", got)
				}
				if delayMs < 0 {
					return
				}
				c.advance(60*time.Second - time.Millisecond)
				must(t, l.MaybeFlush())
				if got := deletedFiles(t, m, crashDir); len(got) != wantDeleted || !readable() {
					t.Fatalf("before the delay: *.deleted %v, slice readable %v", got, readable())
				}
				c.advance(time.Millisecond)
				must(t, l.MaybeFlush())
				if got := deletedFiles(t, m, crashDir); len(got) != 0 || readable() {
					t.Fatalf("after the delay: *.deleted %v, slice readable %v", got, readable())
				}
			})
		}
	}
}
