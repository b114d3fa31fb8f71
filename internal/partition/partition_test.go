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

var testCfg = &AppendConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}

// open opens a partition of one replica (node 0) and makes it the leader.
func open(t *testing.T, dir string) *Partition {
	t.Helper()
	p, err := Open("t", 0, Options{FS: storage.OS, Dir: dir, Storage: storage.Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 4096, SegmentIndexBytes: 1 << 20, FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64}})
	if err != nil {
		t.Fatal(err)
	}
	// Lead in the log's latest epoch (metadata would give that or newer).
	epoch := int32(0)
	if e, ok := p.log.LatestEpoch(); ok {
		epoch = e
	}
	if err := p.BecomeLeader(epoch, []int32{0}, []int32{0}); err != nil {
		t.Fatal(err)
	}
	return p
}

// appendBatch produces one batch with acks=1 and waits for its
// acknowledgement.
func appendBatch(p *Partition, raw []byte, h *record.Header, cfg *AppendConfig) (AppendResult, error) {
	ack, err := p.Produce(raw, h, AcksLeader, cfg)
	if err == nil {
		err = ack.Wait(context.Background())
	}
	return ack.Result, err
}

// produceAck produces one plain batch of 2 records and returns its
// acknowledgement, not waited for.
func produceAck(t *testing.T, p *Partition, acks int16) Ack {
	t.Helper()
	raw := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
	h, err := record.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := p.Produce(raw, &h, acks, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

type testBatch struct {
	raw []byte
	h   *record.Header
}

func idem(pid int64, epoch int16, seq int32) testBatch {
	b := recordtest.Simple(2, time.Now().UnixMilli())
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, epoch, seq
	raw := b.Encode()
	h, err := record.Validate(raw)
	if err != nil {
		panic(err)
	}
	return testBatch{raw, &h}
}

func mustAppend(t *testing.T, p *Partition, b testBatch) AppendResult {
	t.Helper()
	res, err := appendBatch(p, b.raw, b.h, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// After a crash (no snapshot at close), producer state is rebuilt from the
// log, so a retried batch is still recognised as a duplicate.
func TestPartitionProducerStateRebuiltAfterCrash(t *testing.T) {
	dir := t.TempDir()
	p := open(t, dir)
	for seq := int32(0); seq < 10; seq += 2 {
		mustAppend(t, p, idem(5, 0, seq))
	}
	if err := p.Checkpoint(); err != nil { // snapshot at offset 10
		t.Fatal(err)
	}
	mustAppend(t, p, idem(5, 0, 10)) // after the snapshot: only in the log
	// Crash: the partition is abandoned without Close.
	p2 := open(t, dir)
	defer p2.Close()
	if res := mustAppend(t, p2, idem(5, 0, 10)); res.BaseOffset != 10 {
		t.Fatalf("retry after crash: offset %d, want the original 10", res.BaseOffset)
	}
	if res := mustAppend(t, p2, idem(5, 0, 8)); res.BaseOffset != 8 {
		t.Fatalf("older retry after crash: offset %d, want 8", res.BaseOffset)
	}
	gap := idem(5, 0, 14)
	if _, err := appendBatch(p2, gap.raw, gap.h, testCfg); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after crash: %v", err)
	}
	if res := mustAppend(t, p2, idem(5, 0, 12)); res.BaseOffset != 12 {
		t.Fatalf("next batch: offset %d", res.BaseOffset)
	}
}

func TestPartitionCorruptSnapshotFallsBackToLog(t *testing.T) {
	dir := t.TempDir()
	p := open(t, dir)
	mustAppend(t, p, idem(9, 0, 0))
	p.Close()
	if err := os.WriteFile(filepath.Join(dir, snapshotFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := open(t, dir)
	defer p2.Close()
	if res := mustAppend(t, p2, idem(9, 0, 0)); res.BaseOffset != 0 {
		t.Fatalf("duplicate not detected after snapshot loss: %d", res.BaseOffset)
	}
}

// TestPartitionInvalidSnapshotFallsBackToLog: JSON that parses but holds
// no state an append could have made is rejected like unreadable JSON (a
// null entry panicked the partition's Open; FuzzPartitionProducerSnapshot).
func TestPartitionInvalidSnapshotFallsBackToLog(t *testing.T) {
	for _, snap := range []string{
		`{"offset":1,"producers":[null]}`,
		`{"offset":-1,"producers":[]}`,
		`{"offset":1,"producers":[{"id":9,"batches":[{},{},{},{},{},{}]}]}`,
	} {
		dir := t.TempDir()
		p := open(t, dir)
		mustAppend(t, p, idem(9, 0, 0))
		p.Close()
		if err := os.WriteFile(filepath.Join(dir, snapshotFile), []byte(snap), 0o644); err != nil {
			t.Fatal(err)
		}
		p2 := open(t, dir)
		if res := mustAppend(t, p2, idem(9, 0, 0)); res.BaseOffset != 0 {
			t.Fatalf("%s: duplicate not detected: %d", snap, res.BaseOffset)
		}
		p2.Close()
	}
}

func TestPartitionTimestampBounds(t *testing.T) {
	p := open(t, t.TempDir())
	defer p.Close()
	cfg := *testCfg
	cfg.TimestampBeforeMaxMs = 1000
	raw := recordtest.Simple(1, time.Now().UnixMilli()-60000).Encode()
	h, _ := record.Validate(raw)
	if _, err := appendBatch(p, raw, &h, &cfg); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("old timestamp accepted: %v", err)
	}
	cfg.MaxMessageBytes = 10
	if _, err := appendBatch(p, raw, &h, &cfg); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("large batch accepted: %v", err)
	}
}

// An idempotent producer silent for producer.id.expiration.ms is forgotten
// (Kafka's ProducerStateManager): its next batch is accepted at any
// sequence, as a producer never seen; one still active is kept.
func TestPartitionProducerIDExpiry(t *testing.T) {
	clk := newFakeClock()
	p := openNode(t, t.TempDir(), 0, clk)
	must(t, p.BecomeLeader(0, []int32{0}, []int32{0}))
	batch := func(pid int64, seq int32) testBatch {
		b := recordtest.Simple(1, clk.now().UnixMilli())
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, 0, seq
		raw := b.Encode()
		h, err := record.Validate(raw)
		must(t, err)
		return testBatch{raw, &h}
	}
	mustAppend(t, p, batch(1, 0))
	clk.advance(time.Hour)
	mustAppend(t, p, batch(2, 0))
	if _, err := appendBatch(p, batch(1, 7).raw, batch(1, 7).h, testCfg); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap of a known producer: %v", err)
	}
	if n := p.ExpireProducers(int64(30 * time.Minute / time.Millisecond)); n != 1 {
		t.Fatalf("expired %d producers, want 1 (producer 1 only)", n)
	}
	mustAppend(t, p, batch(1, 7)) // forgotten: any sequence
	if _, err := appendBatch(p, batch(2, 5).raw, batch(2, 5).h, testCfg); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("the active producer was forgotten too: %v", err)
	}
}
