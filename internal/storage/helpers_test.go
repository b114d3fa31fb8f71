package storage

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// makeBatch encodes n uncompressed records as a client would, with every
// record at timestamp ts, in leader epoch epoch, values of valueLen bytes.
func makeBatch(tb testing.TB, n int, ts int64, epoch int32, valueLen int) []byte {
	tb.Helper()
	var recs []byte
	val := bytes.Repeat([]byte{'v'}, valueLen)
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte{byte('a' + i%26)}, Value: val}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: epoch, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-record.LogOverhead))
	binary.BigEndian.PutUint32(raw[17:], record.ComputeCRC(raw))
	if _, err := record.Validate(raw); err != nil {
		tb.Fatalf("test batch invalid: %v", err)
	}
	return raw
}

// clock is a settable Options.Now.
type clock struct{ ms atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.ms.Store(1_700_000_000_000); return c }
func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOpts are options for tests: small segments, a fake clock, no logs.
func testOpts(c *clock) Options {
	return Options{SegmentBytes: 4096, IndexIntervalBytes: 256, Now: c.now, Logger: quietLogger()}
}

func mustOpen(t testing.TB, fs FS, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(fs, dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendBatches appends count batches of recs records (value bytes each)
// with timestamps from tsOf and returns the stored bytes (base offsets set).
func appendBatches(t testing.TB, l *Log, count, recs, value int, tsOf func(i int) int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < count; i++ {
		b := makeBatch(t, recs, tsOf(i), -1, value)
		want := l.EndOffset()
		base, err := l.Append(b)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if base != want {
			t.Fatalf("append %d: base %d, want LEO %d", i, base, want)
		}
		out = append(out, b)
	}
	return out
}

// seqTs gives batch i timestamp 1000+i.
func seqTs(i int) int64 { return 1000 + int64(i) }

// readAll reads [from, LEO) with Read and returns the batches, checking
// they are whole, pass their CRC and are contiguous.
func readAll(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	next := from
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
			t.Fatalf("ReadInto: %v", err)
		}
		first := true
		for rest := buf; len(rest) > 0; {
			h, b, r, err := record.Next(rest)
			if err != nil {
				t.Fatalf("Read(%d): bad batch: %v", next, err)
			}
			if err := record.CheckCRC(b); err != nil {
				t.Fatalf("Read(%d): %v", next, err)
			}
			if first {
				if h.BaseOffset != res.FirstOffset || h.BaseOffset > next || h.LastOffset() < next {
					t.Fatalf("Read(%d): first batch [%d,%d], FirstOffset %d", next, h.BaseOffset, h.LastOffset(), res.FirstOffset)
				}
			} else if h.BaseOffset != next {
				t.Fatalf("Read: batch at %d, want %d", h.BaseOffset, next)
			}
			first = false
			out = append(out, b)
			next, rest = h.NextOffset(), r
		}
	}
	return out
}

func equalBatches(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

// crash abandons the log as a killed process would: no flush, no final
// index entries, no clean-shutdown marker.
func crash(l *Log) {
	// A process may die at any point after a rolled segment's background
	// sync; letting it finish keeps the test deterministic.
	l.flush.rolls.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed.Store(true)
	for _, s := range l.segments() {
		s.close()
	}
	l.sweepLocked(true)
}

func segmentFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readFileT(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// batchBounds returns the file positions where batches start in a .log
// file, plus its size.
func batchBounds(t testing.TB, path string) []int64 {
	t.Helper()
	data := readFileT(t, path)
	var pos []int64
	var p int64
	for rest := data; len(rest) > 0; {
		h, _, r, err := record.Next(rest)
		if err != nil {
			t.Fatalf("%s at %d: %v", path, p, err)
		}
		pos = append(pos, p)
		p += h.Size()
		rest = r
	}
	return append(pos, p)
}
