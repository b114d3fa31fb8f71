package replication

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// damagedReplica is a fakeReplica with damage at rest (a Repairer).
type damagedReplica struct {
	*fakeReplica
	mu          sync.Mutex
	from        int64 // first damaged offset, -1 none
	inISR       bool
	truncatedAt int64 // where RepairTruncate truncated, -1 not yet
}

func (r *damagedReplica) DamagedFrom() (int64, bool) {
	defer r.enter()()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from, r.from >= 0
}

func (r *damagedReplica) RepairTruncate() (int64, bool, error) {
	defer r.enter()()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from < 0 || r.inISR {
		return r.from, false, nil
	}
	if err := r.memLog.TruncateTo(r.from); err != nil {
		return r.from, false, err
	}
	from := r.from
	r.truncatedAt, r.from = from, -1
	return from, true, nil
}

func (r *damagedReplica) set(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

// lastFetchOffset is the fetch offset of partition 0 in the leader's last
// fetch request.
func lastFetchOffset(l *fakeLeader) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastReq == nil || len(l.lastReq.Topics) == 0 || len(l.lastReq.Topics[0].Partitions) == 0 {
		return -1
	}
	return l.lastReq.Topics[0].Partitions[0].FetchOffset
}

// A damaged follower fetches from its damage (so the leader sees it
// behind) without appending or truncating while it is in the ISR; once
// out of it, it truncates to the damage and refetches the leader's log.
func TestReplicationDamagedFollowerLeavesISRThenRefetches(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	for range 10 {
		leader.produce(topic, 0, 3)
	}
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	r := &damagedReplica{fakeReplica: newReplica(t), from: -1, inISR: true, truncatedAt: -1}
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, llog, r.fakeReplica)
	leo := llog.LogEndOffset()

	r.set(func() { r.from = 9 })
	checkFor(t, 5*time.Second, func() error {
		if off := lastFetchOffset(leader); off != 9 {
			return fmt.Errorf("last fetch offset %d, want 9", off)
		}
		return nil
	})
	appends := r.appends.Load()
	time.Sleep(100 * time.Millisecond) // several backoffs
	if r.appends.Load() != appends || r.memLog.LogEndOffset() != leo || r.truncatedAt >= 0 {
		t.Fatalf("in the ISR: appends %d→%d, LEO %d (want %d), truncated at %d", appends, r.appends.Load(), r.memLog.LogEndOffset(), leo, r.truncatedAt)
	}

	r.set(func() { r.inISR = false })
	leader.produce(topic, 0, 2)
	sameLog(t, llog, r.fakeReplica)
	r.set(func() {
		if r.truncatedAt != 9 {
			t.Fatalf("truncated at %d, want 9", r.truncatedAt)
		}
	})
}
