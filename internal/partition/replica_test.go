package partition

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
)

// fakeClock is an injected Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// replicaNode is one broker's copy of the partition.
type replicaNode struct {
	id  int32
	dir string
	p   *Partition
}

func openNode(t *testing.T, dir string, id int32, clk *fakeClock) *Partition {
	t.Helper()
	p, err := Open("t", 0, Options{
		FS: storage.OS, Dir: dir, NodeID: id, Now: clk.now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Storage: storage.Options{SegmentBytes: 4096, IndexIntervalBytes: 256, FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// newTrio opens nodes 1, 2, 3: node 1 leads epoch 1 with ISR {1,2,3}.
func newTrio(t *testing.T, clk *fakeClock) []*replicaNode {
	t.Helper()
	var ns []*replicaNode
	for id := int32(1); id <= 3; id++ {
		dir := t.TempDir()
		ns = append(ns, &replicaNode{id: id, dir: dir, p: openNode(t, dir, id, clk)})
	}
	all := []int32{1, 2, 3}
	must(t, ns[0].p.BecomeLeader(1, all, all))
	must(t, ns[1].p.BecomeFollower(1, 1))
	must(t, ns[2].p.BecomeFollower(1, 1))
	return ns
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// replicate is one fetch round of follower f from leader l, as a follower
// fetcher does it: fetch at its LEO, append what came with the leader's HW.
func replicate(t *testing.T, l, f *replicaNode) int64 {
	t.Helper()
	res, err := l.p.ReplicaFetch(f.id, f.p.LogEndOffset(), l.p.LeaderEpoch(), 1<<20)
	must(t, err)
	data, err := res.Records.AppendTo(nil)
	must(t, err)
	must(t, f.p.AppendReplica(data, res.HighWatermark, res.LogStartOffset))
	return int64(len(data))
}

// catchUp fetches until f has everything and has told l so.
func catchUp(t *testing.T, l, f *replicaNode) {
	t.Helper()
	for replicate(t, l, f) > 0 {
	}
}

// produce appends n plain batches of 2 records to p.
func produce(t *testing.T, p *Partition, n int) {
	t.Helper()
	for range n {
		raw := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
		h, err := record.Validate(raw)
		must(t, err)
		_, err = appendBatch(p, raw, &h, testCfg)
		must(t, err)
	}
}

// logBytes is the whole log of p, as stored.
func logBytes(t *testing.T, p *Partition) []byte {
	t.Helper()
	var out []byte
	for off := p.LogStartOffset(); off < p.LogEndOffset(); {
		rr, err := p.log.Read(off, 1<<20, p.LogEndOffset(), true)
		must(t, err)
		n := len(out)
		out, err = rr.Slice.ReadInto(out)
		must(t, err)
		var last record.Header
		for rest := out[n:]; len(rest) > 0; {
			h, _, r, err := record.Next(rest)
			must(t, err)
			last, rest = h, r
		}
		off = last.NextOffset()
	}
	return out
}

func TestPartitionReplicaHighWatermarkFollowsISR(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f2, f3 := ns[0], ns[1], ns[2]
	produce(t, l.p, 3) // offsets 0-5
	steps := []struct {
		name           string
		do             func()
		hw, f2hw, f3hw int64
	}{
		{"nobody fetched", func() {}, 0, 0, 0},
		{"f2 copies", func() { replicate(t, l, f2) }, 0, 0, 0},
		{"f3 copies", func() { replicate(t, l, f3) }, 0, 0, 0},
		{"f2 acknowledges", func() { replicate(t, l, f2) }, 0, 0, 0},
		{"f3 acknowledges: whole ISR has it", func() { replicate(t, l, f3) }, 6, 0, 6},
		{"more data", func() { produce(t, l.p, 1) }, 6, 0, 6},
		{"f2 learns HW and copies", func() { replicate(t, l, f2) }, 6, 6, 6},
		{"f2 acknowledges alone", func() { replicate(t, l, f2) }, 6, 6, 6},
		{"f3 copies and acknowledges", func() { replicate(t, l, f3); replicate(t, l, f3) }, 8, 6, 8},
		{"f2 learns the new HW", func() { replicate(t, l, f2) }, 8, 8, 8},
	}
	for _, s := range steps {
		s.do()
		if got := [3]int64{l.p.HighWatermark(), f2.p.HighWatermark(), f3.p.HighWatermark()}; got != [3]int64{s.hw, s.f2hw, s.f3hw} {
			t.Fatalf("%s: HW leader/f2/f3 = %v, want %v", s.name, got, [3]int64{s.hw, s.f2hw, s.f3hw})
		}
		// Consumers see only below the HW.
		res, err := l.p.Fetch(0, 1<<20, true)
		must(t, err)
		if res.HighWatermark != s.hw {
			t.Fatalf("%s: consumer fetch HW %d", s.name, res.HighWatermark)
		}
	}
	if !bytes.Equal(logBytes(t, l.p), logBytes(t, f2.p)) || !bytes.Equal(logBytes(t, l.p), logBytes(t, f3.p)) {
		t.Fatal("replica logs differ")
	}
}

func TestPartitionReplicaAcksAllWaiter(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f2, f3 := ns[0], ns[1], ns[2]
	ack := produceAck(t, l.p, AcksAll)
	done := make(chan error, 1)
	go func() { done <- ack.Wait(context.Background()) }()
	replicate(t, l, f2)
	replicate(t, l, f2)
	replicate(t, l, f3)
	select {
	case err := <-done:
		t.Fatalf("released before f3 acknowledged: %v", err)
	default:
	}
	replicate(t, l, f3)
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}

	// Leadership lost: the waiter fails.
	ack = produceAck(t, l.p, AcksAll)
	go func() { done <- ack.Wait(context.Background()) }()
	must(t, l.p.BecomeFollower(2, 2))
	if err := <-done; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("waiter after BecomeFollower: %v", err)
	}
	// A follower appends nothing.
	raw := recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	h, _ := record.Validate(raw)
	if _, err := l.p.Produce(raw, &h, AcksAll, testCfg); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Produce on a follower: %v", err)
	}
	// Timeout.
	must(t, f2.p.BecomeLeader(2, []int32{1, 2, 3}, []int32{1, 2, 3}))
	ack = produceAck(t, f2.p, AcksAll)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := ack.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acks=all wait with no follower fetching: %v", err)
	}
}

// A partition has no role until the metadata gives it one: it neither
// appends nor serves consumers. A leader whose ISR is itself commits what it
// appends at once (HW = LEO).
func TestPartitionReplicaSingleReplica(t *testing.T) {
	p := openNode(t, t.TempDir(), 7, newFakeClock())
	raw := recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	h, _ := record.Validate(raw)
	if _, err := p.Produce(raw, &h, AcksLeader, testCfg); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Produce before any role: %v", err)
	}
	if _, err := p.Fetch(0, 100, true); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer fetch before any role: %v", err)
	}
	if p.IsLeader() || p.Leader() != -1 {
		t.Fatalf("before any role: leader %v %d", p.IsLeader(), p.Leader())
	}
	must(t, p.BecomeLeader(0, []int32{7}, []int32{7}))
	if !p.IsLeader() || p.Leader() != 7 || !slices.Equal(p.ISR(), []int32{7}) || p.InSyncCount() != 1 {
		t.Fatalf("single replica: leader %v %d ISR %v", p.IsLeader(), p.Leader(), p.ISR())
	}
	produce(t, p, 2)
	if p.HighWatermark() != 4 {
		t.Fatalf("HW %d", p.HighWatermark())
	}
	ack := produceAck(t, p, AcksAll)
	if ack.commit != nil {
		t.Fatal("acks=all on a leader alone in its ISR waits")
	}
	must(t, ack.Wait(context.Background()))
	if _, err := p.ReplicaFetch(8, 0, -1, 100); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("replica fetch from a non-replica: %v", err)
	}
	// Sole ISR member of two replicas: HW = LEO as well.
	must(t, p.BecomeLeader(3, []int32{7, 8}, []int32{7}))
	produce(t, p, 1)
	if p.HighWatermark() != 8 {
		t.Fatalf("leader alone in ISR: HW %d", p.HighWatermark())
	}
	must(t, produceAck(t, p, AcksAll).Wait(context.Background()))
}

func TestPartitionReplicaRoleErrors(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f := ns[0], ns[1]
	produce(t, l.p, 1)
	raw := recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	h, _ := record.Validate(raw)
	if _, err := appendBatch(f.p, raw, &h, testCfg); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append on a follower: %v", err)
	}
	if _, err := f.p.Fetch(0, 100, true); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer fetch on a follower: %v", err)
	}
	if _, err := f.p.DeleteRecords(0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("delete records on a follower: %v", err)
	}
	if err := l.p.AppendReplica(nil, 0, 0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("AppendReplica on a leader: %v", err)
	}
	if f.p.IsLeader() || f.p.Leader() != 1 {
		t.Fatalf("follower: IsLeader %v Leader %d", f.p.IsLeader(), f.p.Leader())
	}
	for _, c := range []struct {
		replica int32
		epoch   int32
		want    error
	}{
		{2, 0, ErrFencedLeaderEpoch},
		{2, 2, ErrUnknownLeaderEpoch},
		{9, 1, ErrNotLeader},
		{2, -1, nil},
		{2, 1, nil},
	} {
		if _, err := l.p.ReplicaFetch(c.replica, 0, c.epoch, 100); !errors.Is(err, c.want) {
			t.Fatalf("ReplicaFetch(replica %d, epoch %d) = %v, want %v", c.replica, c.epoch, err, c.want)
		}
	}
	if _, err := l.p.ReplicaFetch(2, 99, -1, 100); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("ReplicaFetch past the LEO: %v", err)
	}
	if _, err := f.p.ReplicaFetch(3, 0, -1, 100); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ReplicaFetch from a follower: %v", err)
	}
	if err := l.p.BecomeLeader(0, nil, nil); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("BecomeLeader with an old epoch: %v", err)
	}
	if err := f.p.BecomeFollower(0, 3); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("BecomeFollower with an old epoch: %v", err)
	}
}

func TestPartitionReplicaISRShrinkAndExpand(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	l, f2, f3 := ns[0], ns[1], ns[2]
	const lag = 10 * time.Second
	produce(t, l.p, 2)
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	if isr, changed := l.p.ISRUpdate(clk.now(), lag); changed || !sameSet(isr, []int32{1, 2, 3}) {
		t.Fatalf("all caught up: %v %v", isr, changed)
	}
	// Idle partition: followers at the LEO stay in sync however long.
	clk.advance(time.Hour)
	if isr, changed := l.p.ISRUpdate(clk.now(), lag); changed {
		t.Fatalf("idle: %v changed", isr)
	}
	// f3 stops fetching while data keeps coming and f2 keeps up.
	for range 3 {
		produce(t, l.p, 1)
		catchUp(t, l, f2)
		clk.advance(4 * time.Second)
	}
	isr, changed := l.p.ISRUpdate(clk.now(), lag)
	if !changed || !sameSet(isr, []int32{1, 2}) {
		t.Fatalf("f3 lagging %v: ISR %v changed %v", 12*time.Second, isr, changed)
	}
	// The shrink is not in effect until committed: HW still waits for f3.
	if hw := l.p.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d before SetISR, want 4", hw)
	}
	l.p.SetISR(isr)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw != leo {
		t.Fatalf("HW %d after shrink, want LEO %d", hw, leo)
	}
	if !slices.Equal(l.p.ISR(), []int32{1, 2}) || l.p.InSyncCount() != 2 {
		t.Fatalf("ISR() %v", l.p.ISR())
	}
	// f3 fetches but is not caught up yet: not added.
	replicate(t, l, f3)
	if isr, changed := l.p.ISRUpdate(clk.now(), lag); changed {
		t.Fatalf("f3 half way: %v", isr)
	}
	produce(t, l.p, 1) // uncommitted until f2 has it: f3 joins only at the HW
	catchUp(t, l, f3)
	isr, changed = l.p.ISRUpdate(clk.now(), lag)
	if !changed || !sameSet(isr, []int32{1, 2, 3}) {
		t.Fatalf("f3 caught up: ISR %v changed %v", isr, changed)
	}
	// Pending expansion: f3 already counts (maximal ISR).
	catchUp(t, l, f2)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw != leo {
		t.Fatalf("HW %d with f2 and f3 caught up, LEO %d", hw, leo)
	}
	produce(t, l.p, 1)
	catchUp(t, l, f2)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw == leo {
		t.Fatalf("HW %d reached the LEO without f3 (pending member)", hw)
	}
	l.p.SetISR(isr)
	catchUp(t, l, f3)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw != leo {
		t.Fatalf("HW %d, LEO %d", hw, leo)
	}
	// A follower that never fetches in this leadership drops out after
	// lagMax, and holds the HW meanwhile.
	must(t, l.p.BecomeLeader(2, []int32{1, 2, 3}, []int32{1, 2, 3}))
	produce(t, l.p, 1)
	catchUp(t, l, f2)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw == leo {
		t.Fatal("HW advanced past a follower not heard from")
	}
	if _, changed := l.p.ISRUpdate(clk.now(), lag); changed {
		t.Fatal("f3 dropped before lagMax")
	}
	clk.advance(lag + time.Second)
	catchUp(t, l, f2)
	isr, changed = l.p.ISRUpdate(clk.now(), lag)
	if !changed || !sameSet(isr, []int32{1, 2}) {
		t.Fatalf("silent f3: ISR %v changed %v", isr, changed)
	}
	// Down to the leader alone: HW = LEO.
	l.p.SetISR([]int32{1})
	produce(t, l.p, 1)
	if hw, leo := l.p.HighWatermark(), l.p.LogEndOffset(); hw != leo {
		t.Fatalf("ISR {1}: HW %d LEO %d", hw, leo)
	}
}

// divergeAndResolve: a follower truncates to the new leader's epoch
// boundary (OffsetForLeaderEpoch), then refetches, ending byte-identical.
func truncateToLeader(t *testing.T, l, f *replicaNode) {
	t.Helper()
	epoch, ok := f.p.LatestEpoch()
	if !ok {
		return
	}
	e, end := l.p.EndOffsetForEpoch(epoch)
	if e < 0 {
		must(t, f.p.TruncateTo(f.p.LogStartOffset()))
		return
	}
	if end < f.p.LogEndOffset() {
		must(t, f.p.TruncateTo(end))
	}
}

func TestPartitionReplicaTruncationAndFailover(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	a, b, c := ns[0], ns[1], ns[2]
	all := []int32{1, 2, 3}
	// Epoch 1: an idempotent producer writes through leader a.
	for seq := int32(0); seq < 6; seq += 2 {
		mustAppend(t, a.p, idem(42, 0, seq))
	}
	catchUp(t, a, b)
	catchUp(t, a, c)
	// Two more batches reach b but not c, and are never committed.
	mustAppend(t, a.p, idem(42, 0, 6))
	produce(t, a.p, 1)
	replicate(t, a, b)
	committedEnd := c.p.LogEndOffset()
	if b.p.LogEndOffset() <= committedEnd {
		t.Fatal("b did not get the extra batches")
	}
	// a fails; c becomes leader in epoch 2 and takes a new write.
	must(t, c.p.BecomeLeader(2, all, []int32{2, 3}))
	must(t, b.p.BecomeFollower(2, 3))
	must(t, a.p.BecomeFollower(2, 3))
	produce(t, c.p, 1)
	if e, end := c.p.EndOffsetForEpoch(1); e != 1 || end != committedEnd {
		t.Fatalf("leader EndOffsetForEpoch(1) = %d %d, want 1 %d", e, end, committedEnd)
	}
	if e, end := c.p.EndOffsetForEpoch(2); e != 2 || end != c.p.LogEndOffset() {
		t.Fatalf("leader EndOffsetForEpoch(2) = %d %d", e, end)
	}
	if e, end := c.p.EndOffsetForEpoch(3); e != -1 || end != -1 {
		t.Fatalf("leader EndOffsetForEpoch(3) = %d %d", e, end)
	}
	if e, end := b.p.EndOffsetForEpoch(1); e != 1 || end != b.p.LogEndOffset() {
		t.Fatalf("follower EndOffsetForEpoch(1) = %d %d", e, end)
	}
	for _, f := range []*replicaNode{b, a} {
		truncateToLeader(t, c, f)
		if f.p.LogEndOffset() != committedEnd {
			t.Fatalf("node %d truncated to %d, want %d", f.id, f.p.LogEndOffset(), committedEnd)
		}
		catchUp(t, c, f)
	}
	want := logBytes(t, c.p)
	for _, f := range []*replicaNode{a, b} {
		if got := logBytes(t, f.p); !bytes.Equal(got, want) {
			t.Fatalf("node %d log differs from the leader's (%d vs %d bytes)", f.id, len(got), len(want))
		}
		if e, _ := f.p.LatestEpoch(); e != 2 {
			t.Fatalf("node %d latest epoch %d", f.id, e)
		}
	}
	// The producer retries its uncommitted batch (seq 6) on the new
	// leader: it was truncated, so it is appended; a retry of a batch c
	// copied (seq 4) is a duplicate answered with its original offset.
	if res := mustAppend(t, c.p, idem(42, 0, 4)); res.BaseOffset != 4 {
		t.Fatalf("retry of seq 4 on the new leader: offset %d, want 4", res.BaseOffset)
	}
	leo := c.p.LogEndOffset()
	if res := mustAppend(t, c.p, idem(42, 0, 6)); res.BaseOffset != leo {
		t.Fatalf("seq 6 after failover: offset %d, want %d", res.BaseOffset, leo)
	}
	// And on b, promoted next, the retry of seq 6 is a duplicate too.
	catchUp(t, c, b)
	must(t, c.p.BecomeFollower(3, 2))
	must(t, b.p.BecomeLeader(3, all, []int32{2}))
	if res := mustAppend(t, b.p, idem(42, 0, 6)); res.BaseOffset != leo {
		t.Fatalf("retry of seq 6 on b: offset %d, want %d", res.BaseOffset, leo)
	}
	bad := idem(42, 0, 12)
	if _, err := appendBatch(b.p, bad.raw, bad.h, testCfg); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap on b: %v", err)
	}
}

func TestPartitionReplicaAppendRejectsBadBatches(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f := ns[0], ns[1]
	produce(t, l.p, 3)
	catchUp(t, l, f)
	produce(t, l.p, 2)
	fr, err := l.p.ReplicaFetch(f.id, f.p.LogEndOffset(), -1, 1<<20)
	must(t, err)
	good, err := fr.Records.AppendTo(nil)
	must(t, err)
	flip := func(i int) []byte { b := slices.Clone(good); b[i] ^= 0x40; return b }
	old := logBytes(t, l.p)[:len(good)/2] // offsets below f's LEO
	cases := map[string][]byte{
		"payload bit flip":  flip(len(good) - 3),
		"header bit flip":   flip(40),
		"torn":              good[:len(good)-5],
		"length too short":  func() []byte { b := slices.Clone(good); b[11] = 10; return b }(),
		"below the LEO":     old,
		"good then corrupt": append(slices.Clone(good[:len(good)/2]), flip(len(good) - 3)[len(good)/2:]...),
	}
	leo, before := f.p.LogEndOffset(), logBytes(t, f.p)
	for name, b := range cases {
		err := f.p.AppendReplica(b, 0, 0)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(name, "bit flip") && !errors.Is(err, record.ErrCorrupt) {
			t.Fatalf("%s: %v, want a CRC error", name, err)
		}
		if f.p.LogEndOffset() != leo || !bytes.Equal(logBytes(t, f.p), before) || f.p.log.Err() != nil {
			t.Fatalf("%s: log changed or failed", name)
		}
	}
	must(t, f.p.AppendReplica(good, 0, 0))
	if !bytes.Equal(logBytes(t, f.p), logBytes(t, l.p)) {
		t.Fatal("logs differ after the good append")
	}
}

func TestPartitionReplicaHighWatermarkCheckpoint(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	l, f2, f3 := ns[0], ns[1], ns[2]
	produce(t, l.p, 2)
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	produce(t, l.p, 1) // uncommitted
	replicate(t, l, f2)
	replicate(t, l, f2) // f2 learns HW 4
	hw := l.p.HighWatermark()
	if hw != 4 || f2.p.HighWatermark() != 4 {
		t.Fatalf("HW leader %d f2 %d", hw, f2.p.HighWatermark())
	}
	must(t, l.p.Checkpoint())
	must(t, l.p.Close())
	must(t, f2.p.Close()) // Close checkpoints too
	for _, n := range []*replicaNode{l, f2} {
		// Standalone between Open and the first role: its checkpoints
		// leave the HW file alone.
		p := openNode(t, n.dir, n.id, clk)
		must(t, p.Checkpoint())
		must(t, p.Close())
		p = openNode(t, n.dir, n.id, clk)
		must(t, p.BecomeLeader(5, []int32{1, 2, 3}, []int32{1, 2, 3}))
		if p.HighWatermark() != hw || p.LogEndOffset() != 6 {
			t.Fatalf("node %d reopened: HW %d LEO %d, want %d 6", n.id, p.HighWatermark(), p.LogEndOffset(), hw)
		}
	}
}

func TestPartitionReplicaTruncateFullyAndStartAt(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f := ns[0], ns[1]
	produce(t, l.p, 4)
	catchUp(t, l, f)
	catchUp(t, l, ns[2])
	produce(t, l.p, 2)
	catchUp(t, l, f)
	catchUp(t, l, ns[2])
	_, err := l.p.DeleteRecords(10)
	must(t, err)
	lagging := ns[2]
	must(t, lagging.p.TruncateFullyAndStartAt(l.p.LogStartOffset()))
	if lagging.p.LogStartOffset() != 10 || lagging.p.LogEndOffset() != 10 || lagging.p.HighWatermark() != 10 {
		t.Fatalf("start %d LEO %d HW %d", lagging.p.LogStartOffset(), lagging.p.LogEndOffset(), lagging.p.HighWatermark())
	}
	catchUp(t, l, lagging)
	if !bytes.Equal(logBytes(t, lagging.p), logBytes(t, l.p)) {
		t.Fatal("logs differ")
	}
	// f learns the new log start from the leader.
	replicate(t, l, f)
	if f.p.LogStartOffset() != 10 {
		t.Fatalf("follower start %d", f.p.LogStartOffset())
	}
}

// Under steady appends a follower is rarely at the HW when ISRUpdate runs:
// it joins if its last fetch reached the HW of that moment.
func TestPartitionReplicaISRExpandUnderLoad(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	l, f2, f3 := ns[0], ns[1], ns[2]
	l.p.SetISR([]int32{1, 2})
	produce(t, l.p, 2)
	catchUp(t, l, f2)
	catchUp(t, l, f3) // its last fetch is at the LEO and the HW
	produce(t, l.p, 1)
	replicate(t, l, f2) // the HW stays below the LEO
	if f3.p.LogEndOffset() >= l.p.LogEndOffset() {
		t.Fatal("f3 is not behind")
	}
	isr, changed := l.p.ISRUpdate(clk.now(), time.Minute)
	if !changed || !sameSet(isr, []int32{1, 2, 3}) {
		t.Fatalf("ISR %v changed %v", isr, changed)
	}
	// A fetch that did not reach the HW does not count.
	l.p.SetISR([]int32{1, 2})
	replicate(t, l, f2)
	produce(t, l.p, 3)
	catchUp(t, l, f2)
	replicate(t, l, f3) // copies from below the HW
	if isr, changed := l.p.ISRUpdate(clk.now(), time.Minute); changed {
		t.Fatalf("f3 below the HW added: %v", isr)
	}
}

// An acks=all batch appended by a leader that then loses leadership is never
// acknowledged, even when the same broker leads again and the high
// watermark passes its offsets, which by then hold another leader's
// records (Kafka fails the delayed produce at the leader epoch change). On
// the code before the produce contract, a wait started after the bounce
// succeeded here.
func TestPartitionAckFailsAcrossLeadershipBounce(t *testing.T) {
	ns := newTrio(t, newFakeClock())
	l, f2, f3 := ns[0], ns[1], ns[2]
	all := []int32{1, 2, 3}
	ack := produceAck(t, l.p, AcksAll) // offsets 0-1, on l only
	// Node 2 leads epoch 2 and writes other records; l truncates and
	// follows.
	must(t, f2.p.BecomeLeader(2, all, all))
	must(t, l.p.BecomeFollower(2, 2))
	must(t, f3.p.BecomeFollower(2, 2))
	must(t, l.p.TruncateTo(0))
	produce(t, f2.p, 2) // offsets 0-3
	catchUp(t, f2, l)
	catchUp(t, f2, f3)
	// l leads again in epoch 3; the ISR catches up, the HW passes 1.
	must(t, l.p.BecomeLeader(3, all, all))
	must(t, f2.p.BecomeFollower(3, 1))
	must(t, f3.p.BecomeFollower(3, 1))
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	if hw := l.p.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d", hw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ack.Wait(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the batch truncated away was acknowledged: %v", err)
	}
	// An acks=1 batch whose fsync is still due when leadership changes is
	// not acknowledged either.
	l.p.SetStorageOptions(storage.Options{SegmentBytes: 4096, IndexIntervalBytes: 256, FlushMessages: 1, FlushMs: math.MaxInt64})
	ack = produceAck(t, l.p, AcksLeader)
	if !ack.Pending() {
		t.Fatal("flush.messages=1: nothing to wait for")
	}
	must(t, l.p.BecomeFollower(4, 2))
	if err := ack.Wait(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("acks=1 after a leadership change: %v", err)
	}
}

// The leader epoch comes from the metadata, not from the log: a reopened
// replica whose log holds a higher epoch (a damaged, CRC-less epoch field
// that recovery could not tell from a real one) still takes the roles the
// metadata gives it instead of refusing them as fenced.
func TestPartitionRoleFromMetadataNotLogEpoch(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	produce(t, ns[0].p, 3)
	catchUp(t, ns[0], ns[1])
	// Node 2's log gets a far epoch at its tail.
	must(t, ns[1].p.BecomeLeader(1<<20, []int32{2}, []int32{2}))
	produce(t, ns[1].p, 1)
	must(t, ns[1].p.Close())
	p2 := openNode(t, ns[1].dir, 2, clk)
	if e := p2.LeaderEpoch(); e != -1 {
		t.Fatalf("epoch after Open %d, want -1 (unknown until the metadata says)", e)
	}
	must(t, p2.BecomeFollower(1, 1))
	if e := p2.LeaderEpoch(); e != 1 {
		t.Fatalf("epoch as follower %d, want 1", e)
	}
	all := []int32{1, 2, 3}
	must(t, p2.BecomeLeader(2, all, all))
	if e, ok := p2.LatestEpoch(); !ok || e != 2 {
		t.Fatalf("log epoch after leading epoch 2: %d %v (the far one must go)", e, ok)
	}
	produce(t, p2, 1)
}
