package storage

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

func benchOpts() Options {
	return Options{Logger: quietLogger()}
}

// BenchmarkStorageAppend appends 1 KiB batches (no fsync, the default).
func BenchmarkStorageAppend(b *testing.B) {
	l := mustOpen(b, OS, b.TempDir(), benchOpts())
	batch := makeBatch(b, 10, 1000, 0, 90)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func filledLog(b *testing.B, batches, records, value int) *Log {
	l := mustOpen(b, OS, b.TempDir(), benchOpts())
	batch := makeBatch(b, records, 1000, 0, value)
	for i := 0; i < batches; i++ {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkStorageRead fetches up to 64 KiB from random offsets of a 20 MiB
// log and copies the bytes out, as a fetch without sendfile would.
func BenchmarkStorageRead(b *testing.B) {
	l := filledLog(b, 20000, 10, 90)
	leo := l.EndOffset()
	r := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		res, err := l.Read(r.Int64N(leo), 64<<10, math.MaxInt64, true)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = res.Slice.ReadInto(buf[:0]); err != nil {
			b.Fatal(err)
		}
		n += int64(len(buf))
	}
	b.SetBytes(n / int64(b.N))
}

// BenchmarkStorageIndexLookup locates single batches at random offsets: the
// index search plus the header scan to the batch, no data copied.
func BenchmarkStorageIndexLookup(b *testing.B) {
	l := filledLog(b, 100000, 10, 90) // ~100 MiB, one segment, ~25k index entries
	leo := l.EndOffset()
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Read(r.Int64N(leo), 1, math.MaxInt64, true); err != nil {
			b.Fatal(err)
		}
	}
}

// noSyncFS is the OS file system with fsyncs that return at once, to
// measure the log's own cost of a flush policy without the disk's.
type noSyncFS struct{ FS }

func (f noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{file}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ File }

func (noSyncFile) Sync() error { return nil }

// BenchmarkStorageAppendFlushEach appends 1 KiB batches with
// flush.messages=1: every Append waits for its own Sync (the fsync itself
// stubbed out).
func BenchmarkStorageAppendFlushEach(b *testing.B) {
	o := benchOpts()
	o.FlushMessages = 1
	l := mustOpen(b, noSyncFS{OS}, b.TempDir(), o)
	batch := makeBatch(b, 10, 1000, 0, 90)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}
