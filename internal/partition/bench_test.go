package partition

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
)

// BenchmarkPartitionAppendReplica is a follower appending what one fetch
// brings: 1 MiB of batches of 16 records of 1 KiB values, offsets as the
// leader assigned them, to a log on disk (page cache: no fsync).
func BenchmarkPartitionAppendReplica(b *testing.B) {
	p, err := Open("t", 0, Options{
		FS: storage.OS, Dir: b.TempDir(), NodeID: 2,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Storage: storage.Options{FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.BecomeFollower(1, 1); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1024)
	batch := recordtest.Batch{Records: make([]recordtest.Record, 16)}
	for i := range batch.Records {
		batch.Records[i] = recordtest.Record{Value: value, Timestamp: time.Now().UnixMilli()}
	}
	one := batch.Encode()
	record.SetPartitionLeaderEpoch(one, 1)
	var chunk []byte
	for len(chunk)+len(one) <= 1<<20 {
		chunk = append(chunk, one...)
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	next := int64(0)
	for b.Loop() {
		for rest := chunk; len(rest) > 0; rest = rest[len(one):] {
			record.SetBaseOffset(rest, next)
			next += int64(len(batch.Records))
		}
		if err := p.AppendReplica(chunk, next, 0); err != nil {
			b.Fatal(err)
		}
	}
}
