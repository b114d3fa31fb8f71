package group

import (
	"fmt"
	"testing"
	"time"
)

// groupsOnPartitions returns one group name for each wanted partition of
// the test coordinator's offsets topic, in order.
func groupsOnPartitions(t *testing.T, n int32, want ...int32) []string {
	t.Helper()
	out := make([]string, len(want))
	for i, p := range want {
		for j := 0; out[i] == ""; j++ {
			if id := fmt.Sprintf("g%d-%d", i, j); PartitionFor(id, n) == p {
				out[i] = id
			}
			if j > 10_000 {
				t.Fatalf("no group name on partition %d", p)
			}
		}
	}
	return out
}

// shardOf is the shard coordinating group id.
func (tc *testCoord) shardOf(id string) *shard {
	tc.t.Helper()
	s, err := tc.c.shardFor(id, false)
	if err != nil || s == nil {
		tc.t.Fatalf("shard of %s: %v", id, err)
	}
	return s
}

// notLocked fails unless no goroutine holds the shard's or the
// coordinator's locks right now.
func (tc *testCoord) notLocked(s *shard, what string) {
	tc.t.Helper()
	if !s.mu.TryLock() {
		tc.t.Fatalf("%s: the shard lock is held", what)
	}
	s.mu.Unlock()
	if !tc.c.mu.TryLock() {
		tc.t.Fatalf("%s: the coordinator lock is held", what)
	}
	tc.c.mu.Unlock()
}

// TestGroupWriteWaitsWithoutShardLock: a group write whose acknowledgement
// does not come (a slow __consumer_offsets follower) stalls neither the
// other groups of its shard nor the deadlines of other shards, and its
// offsets become visible only once acknowledged.
func TestGroupWriteWaitsWithoutShardLock(t *testing.T) {
	tc := newTestCoord(t, nil)
	// a and b share partition 1; c is on partition 3, which Tick visits
	// after partition 1.
	names := groupsOnPartitions(t, tc.cfg.Partitions, 1, 1, 3)
	a, b, c := names[0], names[1], names[2]
	bm := tc.stableGroup(b, 1, "t")[0]
	cm := tc.stableGroup(c, 1, "t")[0]
	wantErr(t, "first commit", tc.c.CommitOffsets(commit(a, -1, "", at("t", 0, 1)))[0], nil)

	h := tc.store.logOf(a).hold()
	t.Cleanup(h.release) // before the coordinator closes
	answered := make(chan []error, 1)
	go func() { answered <- tc.c.CommitOffsets(commit(a, -1, "", at("t", 0, 2))) }()
	<-h.waiting
	tc.notLocked(tc.shardOf(a), "while the commit waits for its acknowledgement")

	// (a) Another group of the same shard heartbeats.
	wantErr(t, "heartbeat of b", tc.c.Heartbeat(b, bm.id, nil, bm.generation), nil)
	if got := tc.offsetOf(a, "t", 0); got != 1 {
		t.Fatalf("offset %d while the commit is unacknowledged, want 1", got)
	}
	// (b) Tick expires c's member on another shard; b keeps heartbeating.
	tc.advance(6 * time.Second)
	wantErr(t, "heartbeat of b", tc.c.Heartbeat(b, bm.id, nil, bm.generation), nil)
	tc.advance(6 * time.Second)
	if d := tc.c.DescribeGroup(c); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("c after its member's session timeout: %+v", d)
	}
	wantErr(t, "heartbeat of c's expired member", tc.c.Heartbeat(c, cm.id, nil, cm.generation), ErrUnknownMemberID)
	wantErr(t, "heartbeat of b", tc.c.Heartbeat(b, bm.id, nil, bm.generation), nil)

	select {
	case errs := <-answered:
		t.Fatalf("commit answered %v before its write was acknowledged", errs)
	default:
	}
	if got := tc.offsetOf(a, "t", 0); got != 1 {
		t.Fatalf("offset %d while the commit is unacknowledged, want 1", got)
	}
	h.release()
	wantErr(t, "the released commit", (<-answered)[0], nil)
	if got := tc.offsetOf(a, "t", 0); got != 2 {
		t.Fatalf("offset %d once the commit is acknowledged, want 2", got)
	}
	tc.restart()
	if got := tc.offsetOf(a, "t", 0); got != 2 {
		t.Fatalf("offset %d after a restart, want 2", got)
	}
}
