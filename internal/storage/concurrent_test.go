package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

// TestStorageConcurrentReaders runs readers against a writer that appends,
// rolls and deletes old segments; run it with -race.
func TestStorageConcurrentReaders(t *testing.T) {
	c := newClock()
	o := testOpts(c)
	o.IndexIntervalBytes = 128
	l := mustOpen(t, OS, t.TempDir(), o)
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer done.Store(true)
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 1500; i++ {
			if _, err := l.Append(makeBatch(t, 1+r.IntN(5), int64(i), int32(i/300), r.IntN(200))); err != nil {
				fail(err)
				return
			}
			switch {
			case i%97 == 0:
				if err := l.Roll(); err != nil {
					fail(err)
					return
				}
			case i%211 == 0:
				if err := l.SetStartOffset(l.EndOffset() * 2 / 3); err != nil {
					fail(err)
					return
				}
			}
		}
	}()
	var reads atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			var buf []byte
			for !done.Load() || reads.Load() < 200 {
				start, leo := l.StartOffset(), l.EndOffset()
				if leo == 0 {
					continue
				}
				off := start + r.Int64N(leo-start+1)
				res, err := l.Read(off, int32(r.IntN(4000)), leo, true)
				if errors.Is(err, ErrOffsetOutOfRange) && off < l.StartOffset() {
					continue // the start offset moved
				}
				if err != nil {
					fail(err)
					return
				}
				reads.Add(1)
				if off == leo {
					if res.Slice.Size != 0 {
						fail(errors.New("data at LEO"))
						return
					}
					continue
				}
				if buf, err = res.Slice.ReadInto(buf[:0]); err != nil {
					fail(err)
					return
				}
				next := res.FirstOffset
				for rest := buf; len(rest) > 0; {
					h, b, rr, err := record.Next(rest)
					if err == nil {
						err = record.CheckCRC(b)
					}
					if err == nil && (h.BaseOffset != next || (next == res.FirstOffset && h.LastOffset() < off) || h.NextOffset() > leo) {
						err = errors.New("batches out of place")
					}
					if err != nil {
						fail(err)
						return
					}
					next, rest = h.NextOffset(), rr
				}
				if r.IntN(20) == 0 {
					if _, _, err := l.FindTimestamp(int64(r.IntN(1500))); err != nil {
						fail(err)
						return
					}
					if _, _, err := l.MaxTimestampBatch(); err != nil {
						fail(err)
						return
					}
					_ = l.Size()
					l.EndOffsetForEpoch(int32(r.IntN(6)))
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got := readAll(t, l, l.StartOffset())
	if len(got) == 0 {
		t.Fatal("nothing left to read")
	}
}

// Timestamp lookups, like Read, do not wait for the writer's lock (held
// across a roll's directory fsync, checkpoint writes and truncations).
func TestStorageTimestampReadersTakeNoLock(t *testing.T) {
	l := mustOpen(t, OS, t.TempDir(), testOpts(newClock()))
	want := appendBatches(t, l, 40, 3, 150, seqTs)
	done := make(chan error)
	l.mu.Lock() // a writer in the middle of something slow
	go func() {
		b, ok, err := l.FindTimestamp(seqTs(20))
		if err == nil && (!ok || !bytes.Equal(b, want[20])) {
			err = fmt.Errorf("FindTimestamp(%d): ok %v, %d bytes", seqTs(20), ok, len(b))
		}
		if err == nil {
			b, ok, err = l.MaxTimestampBatch()
			if err == nil && (!ok || !bytes.Equal(b, want[39])) {
				err = fmt.Errorf("MaxTimestampBatch: ok %v, %d bytes", ok, len(b))
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		l.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a failure bound, not synchronisation
		l.mu.Unlock()
		<-done
		t.Fatal("timestamp lookups waited for the writer's lock")
	}
}
