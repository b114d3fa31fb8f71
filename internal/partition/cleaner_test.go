package partition

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
)

func plain(key string) testBatch {
	b := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Records: []recordtest.Record{{Key: []byte(key), Value: []byte("v"), Timestamp: time.Now().UnixMilli()}}}
	raw := b.Encode()
	h, err := record.Validate(raw)
	if err != nil {
		panic(err)
	}
	return testBatch{raw, &h}
}

// Compaction keeps an idempotent producer's last batch, emptied, so that
// producer state rebuilt from the log after a crash still knows its
// sequence: a retry of that batch is a duplicate, not a new append.
func TestPartitionCleanKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	p := open(t, dir)
	for seq := int32(0); seq < 6; seq += 2 {
		mustAppend(t, p, idem(5, 0, seq)) // keys k0, k1 at 0-1, 2-3, 4-5
	}
	mustAppend(t, p, plain("z")) // 6: the segment's last batch
	if err := p.log.Roll(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, p, plain("k0")) // 7, 8: supersede everything of producer 5
	mustAppend(t, p, plain("k1"))
	if err := p.log.Roll(); err != nil {
		t.Fatal(err)
	}
	st, err := p.Clean(context.Background(), storage.CleanOptions{Map: storage.NewOffsetMap(1 << 20), DeleteRetentionMs: math.MaxInt64 / 2})
	if err != nil || st.End != 9 || st.RecordsRemoved != 6 || st.BatchesRemoved != 2 {
		t.Fatalf("Clean: %+v %v", st, err)
	}
	// A crash, and the producer snapshot lost: state comes from the log.
	if err := os.Remove(filepath.Join(dir, snapshotFile)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	p2 := open(t, dir)
	defer p2.Close()
	if res := mustAppend(t, p2, idem(5, 0, 4)); res.BaseOffset != 4 {
		t.Fatalf("retry of the last batch: offset %d, want the original 4", res.BaseOffset)
	}
	skip := idem(5, 0, 8)
	if _, err := appendBatch(p2, skip.raw, skip.h, testCfg); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after compaction: %v", err)
	}
	if res := mustAppend(t, p2, idem(5, 0, 6)); res.BaseOffset != 9 {
		t.Fatalf("next batch: offset %d, want 9", res.BaseOffset)
	}
}

func TestPartitionAppendRequireKeys(t *testing.T) {
	p := open(t, t.TempDir())
	defer p.Close()
	cfg := *testCfg
	cfg.RequireKeys = true
	for codec := int8(0); codec <= 4; codec++ {
		b := recordtest.Simple(3, time.Now().UnixMilli())
		b.Codec = codec
		b.Records[1].Key = nil
		raw := b.Encode()
		h, err := record.Validate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := appendBatch(p, raw, &h, &cfg); !errors.Is(err, record.ErrInvalid) {
			t.Fatalf("codec %d: record without key: %v, want ErrInvalid", codec, err)
		}
		if _, err := appendBatch(p, raw, &h, testCfg); err != nil {
			t.Fatalf("codec %d: a delete topic takes it: %v", codec, err)
		}
	}
	if p.log.EndOffset() != 15 {
		t.Fatalf("LEO %d, want 15", p.log.EndOffset())
	}
}

func TestPartitionSequenceSpan(t *testing.T) {
	for _, first := range []int32{0, 5, math.MaxInt32 - 2, math.MaxInt32} {
		for _, n := range []int32{0, 1, 2, 5, 100} {
			if got := sequenceSpan(first, record.IncSequence(first, n)); got != n {
				t.Errorf("sequenceSpan(%d, IncSequence(%d, %d)) = %d", first, first, n, got)
			}
		}
	}
}
