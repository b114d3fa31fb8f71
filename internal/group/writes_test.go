package group

import (
	"errors"
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

// errUnanswered: a call that should have returned an answered future did
// not.
var errUnanswered = errors.New("returned an unanswered future")

// resultOrErr is f's answer, or unanswered if it has none yet (for
// goroutines, which cannot fail the test).
func resultOrErr[T any](f *Future[T], unanswered T) T {
	if v, ok := f.Result(); ok {
		return v
	}
	return unanswered
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

// TestGroupCommitsInstalledInLogOrder: commits acknowledged out of order
// leave the cache as a replay of the log would: the later record wins,
// whether it is a commit or a tombstone.
func TestGroupCommitsInstalledInLogOrder(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "ordered"
	wantErr(t, "first commit", tc.c.CommitOffsets(commit(g, -1, "", at("u", 0, 1)))[0], nil)
	log := tc.store.logOf(g)
	start := func(offset int64) (*hold, chan error) {
		h := log.hold()
		answered := make(chan error, 1)
		go func() { answered <- tc.c.CommitOffsets(commit(g, -1, "", at("t", 0, offset)))[0] }()
		<-h.waiting
		return h, answered
	}
	h5, c5 := start(5)
	t.Cleanup(h5.release)
	h7, c7 := start(7)
	t.Cleanup(h7.release)
	h7.release()
	wantErr(t, "the later commit", <-c7, nil)
	if got := tc.offsetOf(g, "t", 0); got != 7 {
		t.Fatalf("offset %d after the later commit, want 7", got)
	}
	h5.release()
	wantErr(t, "the earlier commit", <-c5, nil)
	if got := tc.offsetOf(g, "t", 0); got != 7 {
		t.Fatalf("offset %d once the earlier commit is acknowledged too, want 7", got)
	}

	// A commit waiting when its partition's offset is deleted is not
	// installed: the tombstone follows it in the log.
	h9, c9 := start(9)
	t.Cleanup(h9.release)
	if errs, err := tc.c.DeleteOffsets(g, []TopicPartition{{"t", 0}}); err != nil || errs[0] != nil {
		t.Fatalf("OffsetDelete: %v %v", err, errs)
	}
	h9.release()
	wantErr(t, "the commit before the tombstone", <-c9, nil)
	check := func(when string) {
		t.Helper()
		if got, kept := tc.offsetOf(g, "t", 0), tc.offsetOf(g, "u", 0); got != -1 || kept != 1 {
			t.Fatalf("%s: offsets t-0 %d u-0 %d, want -1 and 1", when, got, kept)
		}
	}
	check("once the commit before the tombstone is acknowledged")
	tc.restart()
	check("after a restart")
}

// TestGroupSyncWaitsWithoutShardLock: while the leader's assignment waits
// for its acknowledgement the group stays CompletingRebalance and its
// members heartbeat; they get the assignment once it is durable, and not at
// all if the group moves on meanwhile.
func TestGroupSyncWaitsWithoutShardLock(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "syncing"
	ms := tc.rejoinAll(g, tc.stableGroup(g, 3, "t"), "t")
	a, b, c := ms[0], ms[1], ms[2]
	assignments := map[string][]byte{a.id: []byte("x"), b.id: []byte("y"), c.id: []byte("z")}
	leaderSync := func() (*hold, chan SyncResult) {
		h := tc.store.logOf(g).hold()
		t.Cleanup(h.release)
		answered := make(chan SyncResult, 1)
		go func() { answered <- resultOrErr(tc.sync(g, a, assignments), SyncResult{Err: errUnanswered}) }()
		<-h.waiting
		tc.notLocked(tc.shardOf(g), "while the assignment waits for its acknowledgement")
		return h, answered
	}
	fB := tc.sync(g, b, nil)
	h, answered := leaderSync()
	fC := tc.sync(g, c, nil)
	for _, m := range ms {
		wantErr(t, "heartbeat while the assignment is written", tc.c.Heartbeat(g, m.id, nil, m.generation), nil)
	}
	waiting(t, fB)
	waiting(t, fC)
	if d := tc.c.DescribeGroup(g); d.State != "CompletingRebalance" {
		t.Fatalf("group %s while its assignment is written", d.State)
	}
	h.release()
	if r := <-answered; r.Err != nil || string(r.Assignment) != "x" {
		t.Fatalf("leader sync %+v", r)
	}
	if r := done(t, fB); r.Err != nil || string(r.Assignment) != "y" {
		t.Fatalf("follower sync %+v", r)
	}
	if r := done(t, fC); r.Err != nil || string(r.Assignment) != "z" {
		t.Fatalf("follower sync %+v", r)
	}
	if d := tc.c.DescribeGroup(g); d.State != "Stable" {
		t.Fatalf("group %s once its assignment is durable", d.State)
	}

	// C leaves while the next assignment is written: the rebalance that
	// starts answers the waiting members, and the write's completion
	// changes nothing.
	ms = tc.rejoinAll(g, ms, "t")
	a, b, c = ms[0], ms[1], ms[2]
	fB = tc.sync(g, b, nil)
	h, answered = leaderSync()
	if errs, err := tc.c.LeaveGroup(g, []LeaveMember{{MemberID: c.id}}); err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", err, errs)
	}
	wantErr(t, "follower sync", done(t, fB).Err, ErrRebalanceInProgress)
	h.release()
	wantErr(t, "leader sync", (<-answered).Err, ErrRebalanceInProgress)
	if d := tc.c.DescribeGroup(g); d.State != "PreparingRebalance" || len(d.Members) != 2 {
		t.Fatalf("after the write of an abandoned generation: %+v", d)
	}
}

// TestGroupStaticRejoinNeedsTheWrite: a static member restarting into a
// Stable group is answered once its new member id is durable; if the write
// fails it is refused and the old id stays valid.
func TestGroupStaticRejoinNeedsTheWrite(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "static-write"
	inst := "s"
	req := joinReq(g, "", "t")
	req.InstanceID = &inst
	s1 := mustJoin(t, tc.c.JoinGroup(req))
	done(t, tc.sync(g, s1, map[string][]byte{s1.id: []byte("p")}))
	log := tc.store.logOf(g)

	log.ackErr = ErrLogUnavailable
	wantErr(t, "rejoin whose write fails", done(t, tc.c.JoinGroup(req)).Err, ErrNotCoordinator)
	log.ackErr = nil
	wantErr(t, "the old id", tc.c.Heartbeat(g, s1.id, &inst, s1.generation), nil)

	h := log.hold()
	t.Cleanup(h.release)
	answered := make(chan JoinResult, 1)
	go func() { answered <- resultOrErr(tc.c.JoinGroup(req), JoinResult{Err: errUnanswered}) }()
	<-h.waiting
	tc.notLocked(tc.shardOf(g), "while the new member id waits for its acknowledgement")
	if d := tc.c.DescribeGroup(g); d.State != "Stable" {
		t.Fatalf("group %s while the new member id is written", d.State)
	}
	h.release()
	r := <-answered
	if r.Err != nil || r.MemberID == s1.id || r.Generation != s1.generation {
		t.Fatalf("rejoin %+v", r)
	}
	wantErr(t, "the old id", tc.c.Heartbeat(g, s1.id, &inst, s1.generation), ErrFencedInstanceID)
	wantErr(t, "the new id", tc.c.Heartbeat(g, r.MemberID, &inst, r.Generation), nil)
}

// TestGroupUnloadEndsWrites: writes waiting for their acknowledgement
// neither hold up LeaveGroup (whose empty group metadata nobody waits for)
// nor Close, which answers the waiting commit NOT_COORDINATOR and leaves no
// wait behind.
func TestGroupUnloadEndsWrites(t *testing.T) {
	tc := newTestCoord(t, nil)
	names := groupsOnPartitions(t, tc.cfg.Partitions, 2, 2)
	left, committing := names[0], names[1]
	m := tc.stableGroup(left, 1, "t")[0]
	log := tc.store.logOf(left)

	hLeave := log.hold()
	t.Cleanup(hLeave.release)
	if errs, err := tc.c.LeaveGroup(left, []LeaveMember{{MemberID: m.id}}); err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", err, errs)
	}
	<-hLeave.waiting
	if d := tc.c.DescribeGroup(left); d.State != "Empty" {
		t.Fatalf("group %s after its last member left", d.State)
	}

	hCommit := log.hold()
	t.Cleanup(hCommit.release)
	answered := make(chan error, 1)
	go func() { answered <- tc.c.CommitOffsets(commit(committing, -1, "", at("t", 0, 1)))[0] }()
	<-hCommit.waiting

	tc.c.Close()
	wantErr(t, "the commit waiting at Close", <-answered, ErrNotCoordinator)
	if n := log.waitsNow(); n != 0 {
		t.Fatalf("%d waits for acknowledgements left after Close", n)
	}
}
