package storage

import (
	"bytes"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/gregor-dev/gregor/internal/storagetest"
)

// TestStoragePooledFilesBoundDescriptors: three logs of many segments each
// on a pool of 4: reading all of them, appending, deleting segments by
// retention and truncating keep at most 4 segment descriptors open, every
// byte reads back as written, a Slice handed out before its segment was
// deleted still reads (and sends with sendfile), and a reopen without the
// pool finds the same logs.
func TestStoragePooledFilesBoundDescriptors(t *testing.T) {
	const capacity = 4
	dir := t.TempDir()
	o := testOpts(newClock())
	o.IndexIntervalBytes = 64 // a deleted segment stays readable for file.delete.delay.ms (the default)
	before := openFDs(t)
	pool := LimitOpenFiles(OS, capacity, quietLogger())
	var logs []*Log
	var written [][][]byte
	for i := range 3 {
		l := mustOpen(t, pool, dir+"/"+string(rune('a'+i)), o)
		written = append(written, appendBatches(t, l, 60, 4, 200, seqTs))
		l.flush.rolls.Wait()
		if n := len(l.segments()); n < 5 {
			t.Fatalf("log %d: %d segments", i, n)
		}
		logs = append(logs, l)
	}
	check := func(when string) {
		t.Helper()
		if st := pool.Stats(); st.Open > capacity {
			t.Fatalf("%s: %d segment files open, cap %d", when, st.Open, capacity)
		}
		if got := openFDs(t) - before; got > capacity {
			t.Fatalf("%s: %d descriptors open, cap %d", when, got, capacity)
		}
	}
	check("after appending")
	for round := range 2 {
		for i, l := range logs {
			if got := readAll(t, l, l.StartOffset()); !slices.EqualFunc(got, written[i][len(written[i])-len(got):], bytes.Equal) {
				t.Fatalf("round %d, log %d: read back differs from what was written", round, i)
			}
			check("after reading")
		}
	}
	if st := pool.Stats(); st.Evictions == 0 || st.Reopens == 0 {
		t.Fatalf("no file was closed and reopened: %+v", st)
	}

	// A Slice of the first segment, then retention deletes that segment.
	l := logs[0]
	res, err := l.Read(l.StartOffset(), 1<<20, math.MaxInt64, true)
	if err != nil || res.Slice.Size == 0 {
		t.Fatalf("Read: %+v, %v", res, err)
	}
	want, err := res.Slice.ReadInto(nil)
	if err != nil {
		t.Fatal(err)
	}
	segs := l.segments()
	if err := l.SetStartOffset(segs[2].base); err != nil {
		t.Fatal(err)
	}
	for _, l := range logs[1:] {
		readAll(t, l, l.StartOffset()) // push the retired file's name out of the pool
	}
	if got, err := res.Slice.ReadInto(nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Slice of a deleted segment: %v (equal %v)", err, bytes.Equal(got, want))
	}
	if got := sendOverTCP(t, res.Slice); !bytes.Equal(got, want) {
		t.Fatal("sendfile of a Slice of a deleted segment sent other bytes")
	}
	if err := logs[1].TruncateTo(logs[1].segments()[1].base + 1); err != nil {
		t.Fatal(err)
	}
	check = func(when string) { // the deleted segment's file is held open, beyond the cap
		t.Helper()
		if got := openFDs(t) - before; got > capacity+1 {
			t.Fatalf("%s: %d descriptors open, cap %d and one deleted segment", when, got, capacity)
		}
	}
	check("after retention and truncation")
	ends := make([]int64, len(logs))
	starts := make([]int64, len(logs))
	for i, l := range logs {
		ends[i], starts[i] = l.EndOffset(), l.StartOffset()
		must(t, l.Close())
	}
	if got := openFDs(t) - before; got != 0 {
		t.Fatalf("%d descriptors left open after Close", got)
	}
	for i := range logs {
		l := mustOpen(t, OS, dir+"/"+string(rune('a'+i)), o)
		if l.EndOffset() != ends[i] || l.StartOffset() != starts[i] {
			t.Fatalf("log %d reopened as [%d, %d), was [%d, %d)", i, l.StartOffset(), l.EndOffset(), starts[i], ends[i])
		}
		readAll(t, l, l.StartOffset())
		must(t, l.Close())
	}
}

// sendOverTCP sends s over a loopback TCP connection (sendfile(2) for an
// OS file) and returns what arrived.
func sendOverTCP(t *testing.T, s Slice) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo(c); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	c.Close()
	return <-got
}

// TestStoragePooledFileSyncAfterEviction: a segment's descriptor closed by
// the pool with appends not yet synced loses nothing: the log's next fsync,
// through a new descriptor, makes them durable, and a crash keeps them.
func TestStoragePooledFileSyncAfterEviction(t *testing.T) {
	fs := storagetest.NewCrashableMem()
	pool := LimitOpenFiles(fs, 1, quietLogger())
	o := testOpts(newClock())
	a := mustOpen(t, pool, "a", o)
	b := mustOpen(t, pool, "b", o)
	wantA := appendBatches(t, a, 5, 2, 50, seqTs)
	appendBatches(t, b, 5, 2, 50, seqTs) // takes the pool's one descriptor
	if st := pool.Stats(); st.Evictions == 0 {
		t.Fatalf("a's segment was not evicted: %+v", st)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, fs.CrashClone(storagetest.CrashOptions{}), "a", o)
	if got := readAll(t, c, 0); !slices.EqualFunc(got, wantA, bytes.Equal) {
		t.Fatalf("after a crash a has %d batches, %d were flushed", len(got), len(wantA))
	}
}

// TestStoragePooledFilesConcurrent: readers of every segment of a log and
// an appender share a pool of 2 (run with -race).
func TestStoragePooledFilesConcurrent(t *testing.T) {
	pool := LimitOpenFiles(OS, 2, quietLogger())
	o := testOpts(newClock())
	o.FileDeleteDelayMs = -1
	l := mustOpen(t, pool, t.TempDir(), o)
	written := appendBatches(t, l, 40, 4, 200, seqTs)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if got := readAll(t, l, 0); !slices.EqualFunc(got[:len(written)], written, bytes.Equal) {
					t.Error("read back differs")
					return
				}
			}
		})
	}
	wg.Go(func() { appendBatches(t, l, 40, 4, 200, seqTs) })
	wg.Wait()
	if st := pool.Stats(); st.Open > 2+4+1 {
		t.Fatalf("%d segment files open with a cap of 2 and 5 users", st.Open)
	}
}
