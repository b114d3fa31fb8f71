package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

// rotSecondBatch flips a byte inside the records of the second batch of
// the first segment in dir; it returns the base offset of that batch.
func rotSecondBatch(t *testing.T, dir string) int64 {
	t.Helper()
	path := filepath.Join(dir, "00000000000000000000.log")
	data, err := os.ReadFile(path)
	must(t, err)
	h, _, rest, err := record.Next(data)
	must(t, err)
	pos := h.Size()
	h2, _, _, err := record.Next(rest)
	must(t, err)
	data[pos+40] ^= 0x5a
	must(t, os.WriteFile(path, data, 0o644))
	return h2.BaseOffset
}

// reopen closes node n's partition, lets damage change its files, and
// opens it again.
func reopen(t *testing.T, n *replicaNode, clk *fakeClock, damage func(dir string)) {
	t.Helper()
	must(t, n.p.Close())
	damage(n.dir)
	n.p = openNode(t, n.dir, n.id, clk)
}

// A follower with a damaged sealed batch first leaves the ISR (it fetches
// from the damage, the leader sees its log end go back), and only then
// truncates and refetches: it ends with the leader's bytes.
func TestPartitionScrubFollowerRepairsFromLeader(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	l, f2, f3 := ns[0], ns[1], ns[2]
	produce(t, l.p, 120) // several segments of 4 KiB
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	var from int64
	reopen(t, f2, clk, func(dir string) { from = rotSecondBatch(t, dir) })
	must(t, f2.p.BecomeFollower(1, 1))
	f2.p.SetISR([]int32{1, 2, 3})

	res, err := f2.p.Scrub(context.Background(), nil)
	must(t, err)
	if len(res.Found) != 1 || res.Found[0].From != from {
		t.Fatalf("scrub found %+v, want damage from %d", res.Found, from)
	}
	if _, done, err := f2.p.RepairTruncate(); done || err != nil {
		t.Fatalf("truncated while still in the ISR: %v %v", done, err)
	}
	leo := f2.p.LogEndOffset()
	// The fetcher fetches from the damage without appending: the leader
	// counts the follower as behind and drops it from the ISR at once.
	_, err = l.p.ReplicaFetch(2, from, 1, 1<<20)
	must(t, err)
	isr, changed := l.p.ISRUpdate(clk.now(), 10*time.Second)
	if !changed || !sameSet(isr, []int32{1, 3}) {
		t.Fatalf("ISR after the damaged follower's fetch: %v %v", isr, changed)
	}
	l.p.SetISR(isr)
	f2.p.SetISR(isr)
	if f2.p.LogEndOffset() != leo {
		t.Fatal("the follower's log changed before it left the ISR")
	}
	if _, done, err := f2.p.RepairTruncate(); !done || err != nil || f2.p.LogEndOffset() != from {
		t.Fatalf("repair: done %v err %v LEO %d, want %d", done, err, f2.p.LogEndOffset(), from)
	}
	catchUp(t, l, f2)
	if len(f2.p.Damaged()) != 0 || !slices.Equal(logBytes(t, f2.p), logBytes(t, l.p)) {
		t.Fatal("the repaired replica differs from the leader")
	}
}

// A damaged leader with in-sync followers asks for an ISR without itself
// (a resignation); one alone in the ISR keeps leading and serves all but
// the damaged batch.
func TestPartitionScrubDamagedLeader(t *testing.T) {
	clk := newFakeClock()
	ns := newTrio(t, clk)
	l, f2, f3 := ns[0], ns[1], ns[2]
	produce(t, l.p, 120)
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	var from int64
	reopen(t, l, clk, func(dir string) { from = rotSecondBatch(t, dir) })
	all := []int32{1, 2, 3}
	must(t, l.p.BecomeLeader(2, all, all))
	catchUp(t, l, f2)
	catchUp(t, l, f3)
	if _, err := l.p.Scrub(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	isr, changed := l.p.ISRUpdate(clk.now(), 10*time.Second)
	if !changed || !sameSet(isr, []int32{2, 3}) {
		t.Fatalf("damaged leader's ISR request: %v %v", isr, changed)
	}

	// Alone: no resignation; the damage is refused, the rest served.
	l.p.SetISR([]int32{1})
	if isr, changed := l.p.ISRUpdate(clk.now(), 10*time.Second); changed || !sameSet(isr, []int32{1}) {
		t.Fatalf("lone damaged leader's ISR request: %v %v", isr, changed)
	}
	if _, err := l.p.Fetch(from, 1<<20, true); !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrStorage) {
		t.Fatalf("fetch of the damaged batch: %v", err)
	}
	res, err := l.p.Fetch(0, 1<<20, true)
	if err != nil || res.Records.Len() == 0 {
		t.Fatalf("fetch before the damage: %v, %d bytes", err, res.Records.Len())
	}
}
