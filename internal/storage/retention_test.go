package storage

import (
	"errors"
	"testing"
	"time"
)

// appendAt appends one 2-record batch stamped ts (ms).
func appendAt(t *testing.T, l *Log, ts int64) {
	t.Helper()
	if _, err := l.Append(makeBatch(t, 2, ts, -1, 300)); err != nil {
		t.Fatal(err)
	}
}

func TestStorageRetainByTime(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 2048 // a few batches per segment
	l := mustOpen(t, OS, t.TempDir(), o)
	defer l.Close()
	now := c.now().UnixMilli()
	for i := 0; i < 30; i++ {
		appendAt(t, l, now-int64(30-i)*60_000) // one batch a minute, the last a minute ago
	}
	before := len(l.segments())
	// Keep ten minutes: segments whose newest record is older go.
	n, err := l.Retain((10 * time.Minute).Milliseconds(), -1)
	if err != nil || n == 0 {
		t.Fatalf("deleted %d segments (%v)", n, err)
	}
	if got := len(l.segments()); got != before-n {
		t.Fatalf("%d segments left, want %d", got, before-n)
	}
	first := l.segments()[0]
	if l.StartOffset() != first.base {
		t.Fatalf("start offset %d, want the first kept segment's base %d", l.StartOffset(), first.base)
	}
	if ts := l.largestTimestampLocked(first); now-ts > (10 * time.Minute).Milliseconds() {
		t.Fatalf("kept a segment whose newest record is %d ms old", now-ts)
	}
	if _, err := l.Read(0, 1<<20, l.EndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start offset: %v", err)
	}
	// Nothing more to do right away.
	if n, err := l.Retain((10 * time.Minute).Milliseconds(), -1); n != 0 || err != nil {
		t.Fatalf("second pass deleted %d (%v)", n, err)
	}
}

func TestStorageRetainBySize(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 2048
	l := mustOpen(t, OS, t.TempDir(), o)
	defer l.Close()
	for i := 0; i < 30; i++ {
		appendAt(t, l, c.now().UnixMilli())
	}
	limit := l.Size() / 2
	if _, err := l.Retain(-1, limit); err != nil {
		t.Fatal(err)
	}
	if l.Size() < limit {
		t.Fatalf("size %d fell below retention.bytes %d: deleted too much", l.Size(), limit)
	}
	if l.Size()-l.segments()[0].size.Load() >= limit {
		t.Fatalf("size %d: the oldest segment could have gone too", l.Size())
	}
}

// When every segment has expired, the active one is rolled and deleted too:
// the log is empty and continues at the same offset.
func TestStorageRetainEverything(t *testing.T) {
	c := newClock()
	l := mustOpen(t, OS, t.TempDir(), testOpts(c))
	defer l.Close()
	for i := 0; i < 3; i++ {
		appendAt(t, l, c.now().UnixMilli())
	}
	end := l.EndOffset()
	c.advance(2 * time.Hour)
	if _, err := l.Retain(time.Hour.Milliseconds(), -1); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != end || l.EndOffset() != end || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d, want an empty log at %d", l.StartOffset(), l.EndOffset(), l.Size(), end)
	}
	if base, err := l.Append(makeBatch(t, 1, c.now().UnixMilli(), -1, 10)); err != nil || base != end {
		t.Fatalf("append after full retention: %d %v", base, err)
	}
	// Unlimited retention keeps everything.
	if n, _ := l.Retain(-1, -1); n != 0 {
		t.Fatalf("unlimited retention deleted %d", n)
	}
}

// Retention stops at the high watermark: segments holding records above it
// stay, the active one included when everything else expired.
func TestStorageRetainBelowHighWatermark(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.SegmentBytes = 2048
	l := mustOpen(t, OS, t.TempDir(), o)
	defer l.Close()
	old := c.now().UnixMilli() - 3_600_000
	for i := 0; i < 30; i++ {
		appendAt(t, l, old)
	}
	segs := l.segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	hw := segs[2].base + 1 // inside the third segment
	n, err := l.RetainBelow(60_000, -1, hw)
	if err != nil || n != 2 || l.StartOffset() != segs[2].base {
		t.Fatalf("deleted %d (%v), start %d, want 2 and %d", n, err, l.StartOffset(), segs[2].base)
	}
	if n, err := l.RetainBelow(60_000, -1, hw); n != 0 || err != nil {
		t.Fatalf("second pass deleted %d (%v)", n, err)
	}
	// Everything committed: all of it goes, the active segment rolled.
	leo := l.EndOffset()
	if _, err := l.RetainBelow(60_000, -1, leo); err != nil || l.StartOffset() != leo {
		t.Fatalf("start %d (%v), want %d", l.StartOffset(), err, leo)
	}
}
