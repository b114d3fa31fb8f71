package replication

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"
)

const topic = "t"

func testOptions(t *testing.T, leaders map[int32]*fakeLeader) Options {
	return optionsWith(t, &brokers{m: leaders})
}

func optionsWith(t *testing.T, b *brokers) Options {
	o := Options{
		NodeID:  7,
		Pool:    newPool(t, b),
		MaxWait: 100 * time.Millisecond,
		Backoff: 20 * time.Millisecond,
	}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

func newManager(t *testing.T, o Options) *Manager {
	m := New(o)
	t.Cleanup(m.Close)
	return m
}

func TestReplicationCatchUp(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	other := leader.part(topic, 1, 1)
	for i := 0; i < 20; i++ {
		leader.produce(topic, 0, 3)
	}
	leader.produce(topic, 1, 1)
	o := testOptions(t, map[int32]*fakeLeader{1: leader})
	o.PartitionMaxBytes = 300 // several fetches
	m := newManager(t, o)
	r0, r1 := newReplica(t), newReplica(t)
	m.Follow(topic, 0, r0, 1, 1)
	m.Follow(topic, 1, r1, 1, 1)
	sameLog(t, llog, r0)
	sameLog(t, other, r1)

	// Long polls wake up for new data.
	for i := 0; i < 5; i++ {
		leader.produce(topic, 0, 2)
		sameLog(t, llog, r0)
	}
	checkFor(t, 5*time.Second, func() error {
		if lag := m.Lag(); lag["t-0"] != 0 || lag["t-1"] != 0 || len(lag) != 2 {
			return fmt.Errorf("lag %v", lag)
		}
		if hw := r0.memLog.highWatermark(); hw != llog.LogEndOffset() {
			return fmt.Errorf("follower hw %d", hw)
		}
		return nil
	})

	leader.mu.Lock()
	req := leader.lastReq
	leader.mu.Unlock()
	// The fake leader opens no fetch session: every fetch is full, offering one (epoch 0).
	if req.ReplicaID != 7 || req.SessionID != 0 || req.SessionEpoch != 0 || req.MaxWaitMillis != 100 || req.MinBytes != 1 {
		t.Fatalf("fetch request %+v", req)
	}
	if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 2 {
		t.Fatalf("not one fetch for both partitions: %+v", req.Topics)
	}
	for _, p := range req.Topics[0].Partitions {
		if p.CurrentLeaderEpoch != 1 || p.PartitionMaxBytes != 300 {
			t.Fatalf("fetch partition %+v", p)
		}
	}

	// Following again with the same leader and epoch changes nothing.
	m.Follow(topic, 0, r0, 1, 1)
	if n := len(m.Lag()); n != 2 {
		t.Fatalf("%d partitions", n)
	}
}

// The follower led epoch 2 and wrote records nobody else has; the new
// leader (epoch 3) truncates it to where epoch 1 ended.
func TestReplicationDivergentLogTruncated(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	for i := 0; i < 5; i++ {
		leader.produce(topic, 0, 2)
	}
	leader.setEpoch(topic, 0, 3)
	for i := 0; i < 3; i++ {
		leader.produce(topic, 0, 4)
	}

	r := newReplica(t)
	for i := 0; i < 5; i++ {
		r.add(1, 2)
	}
	for i := 0; i < 4; i++ {
		r.add(2, 3)
	}
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	m.Follow(topic, 0, r, 1, 3)
	sameLog(t, llog, r)
}

// Local epochs 1, 3; the leader's 1, 2, 4. The leader answers our epoch 3
// with (2, end of 2); we never had epoch 2, so we truncate to where our
// epoch 1 ended and ask again with epoch 1, which the leader ended earlier.
// Truncating straight to min(end of our 1, end of its 2) would keep epoch-1
// records where the leader has epoch-2 ones.
func TestReplicationTruncationTwoRounds(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	leader.produce(topic, 0, 5) // 0-4 epoch 1
	leader.setEpoch(topic, 0, 2)
	leader.produce(topic, 0, 10) // 5-14 epoch 2
	leader.setEpoch(topic, 0, 4)
	leader.produce(topic, 0, 5) // 15-19 epoch 4

	r := newReplica(t)
	r.add(1, 5)
	r.add(1, 5)  // 0-9 epoch 1
	r.add(3, 10) // 10-19 epoch 3
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	m.Follow(topic, 0, r, 1, 4)
	sameLog(t, llog, r)
}

func TestReplicationTruncationOffset(t *testing.T) {
	local := newReplica(t)
	local.add(1, 5)  // 0-4
	local.add(1, 5)  // 5-9
	local.add(3, 10) // 10-19
	leo := local.memLog.LogEndOffset()
	cases := []struct {
		name        string
		leaderEpoch int32
		leaderEnd   int64
		want        int64
		done        bool
	}{
		{"same latest epoch, leader shorter", 3, 15, 15, true},
		{"same latest epoch, leader longer", 3, 30, 20, true},
		{"leader ended our epoch 1 earlier", 1, 7, 7, true},
		{"leader ended epoch 1 later than we did", 1, 12, 10, true},
		{"epoch we never had: intermediate", 2, 15, 10, false},
		{"leader knows no epochs (pre KIP-279)", -1, 12, 12, true},
		{"leader epoch below all ours", 0, 3, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, done := truncationOffset(local, leo, tc.leaderEpoch, tc.leaderEnd)
			if got != tc.want || done != tc.done {
				t.Fatalf("got (%d, %v), want (%d, %v)", got, done, tc.want, tc.done)
			}
		})
	}
}

// A follower whose log ends below the leader's log start restarts its log
// at the leader's start.
func TestReplicationOutOfRangeBelowLogStart(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	llog.TruncateFullyAndStartAt(100)
	for i := 0; i < 4; i++ {
		leader.produce(topic, 0, 3)
	}
	for _, tc := range []struct {
		name string
		fill func(r *fakeReplica)
	}{
		{"empty", func(r *fakeReplica) {}},
		{"old records", func(r *fakeReplica) { r.add(1, 10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplica(t)
			tc.fill(r)
			m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
			m.Follow(topic, 0, r, 1, 1)
			sameLog(t, llog, r)
		})
	}
}

// A follower ahead of its leader in the same epoch (the leader lost an
// unflushed tail) gets OFFSET_OUT_OF_RANGE, then truncates by epoch.
func TestReplicationOutOfRangeAboveLogEnd(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	leader.produce(topic, 0, 5)
	leader.produce(topic, 0, 5)
	r := newReplica(t)
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, llog, r)
	leader.mu.Lock()
	llog.TruncateTo(5)
	leader.notifyLocked()
	leader.mu.Unlock()
	leader.produce(topic, 0, 1)
	sameLog(t, llog, r)
}

// Follow with a new leader moves the partition to another fetcher and
// truncates what the old leader had but the new one does not.
func TestReplicationLeaderChange(t *testing.T) {
	l1, l2 := newLeader(t), newLeader(t)
	log1 := l1.part(topic, 0, 1)
	for i := 0; i < 4; i++ {
		l1.produce(topic, 0, 2)
	}
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: l1, 2: l2}))
	r := newReplica(t)
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, log1, r)

	// Broker 2 had the first 3 batches of epoch 1 and leads epoch 2;
	// broker 1 got one more batch meanwhile that is now lost.
	log2 := l2.part(topic, 0, 2)
	log1.mu.Lock()
	for _, b := range log1.batches[:3] {
		log2.batches = append(log2.batches, b)
	}
	log1.mu.Unlock()
	l1.produce(topic, 0, 2)
	l2.produce(topic, 0, 5)
	l2.produce(topic, 0, 5)

	m.Follow(topic, 0, r, 2, 2)
	sameLog(t, log2, r)
	m.mu.Lock()
	_, old := m.fetchers[1]
	_, cur := m.fetchers[2]
	m.mu.Unlock()
	if old || !cur {
		t.Fatalf("fetchers: leader 1 %v, leader 2 %v", old, cur)
	}
	l2.produce(topic, 0, 1)
	sameLog(t, log2, r)
}

func TestReplicationStopDuringLongPoll(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	leader.produce(topic, 0, 3)
	o := testOptions(t, map[int32]*fakeLeader{1: leader})
	o.MaxWait = time.Minute
	m := newManager(t, o)
	r := newReplica(t)
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, llog, r)
	checkFor(t, 5*time.Second, func() error { // the next long poll is parked at the leader
		if leader.pollers() == 0 {
			return errors.New("no long poll yet")
		}
		return nil
	})

	start := time.Now()
	m.Stop(topic, 0)
	r.stopped.Store(true)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stop took %v", d)
	}
	leader.produce(topic, 0, 3) // would be fetched if anything still ran
	waitNoFetchers(t, m)
	if len(m.Lag()) != 0 {
		t.Fatal("stopped partition still listed")
	}

	// Close during a long poll returns promptly too.
	r2 := newReplica(t)
	m.Follow(topic, 0, r2, 1, 1)
	sameLog(t, llog, r2)
	start = time.Now()
	m.Close()
	r2.stopped.Store(true)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	m.Follow(topic, 0, r2, 1, 1) // ignored after Close
}

func waitNoFetchers(t *testing.T, m *Manager) {
	t.Helper()
	m.mu.Lock()
	n := len(m.fetchers)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d fetchers left", n)
	}
}

func TestReplicationPartialTrailingBatch(t *testing.T) {
	leader := newLeader(t)
	leader.partial = true
	llog := leader.part(topic, 0, 1)
	for i := 0; i < 10; i++ {
		leader.produce(topic, 0, 4)
	}
	o := testOptions(t, map[int32]*fakeLeader{1: leader})
	o.PartitionMaxBytes = 200 // about two batches a fetch
	m := newManager(t, o)
	r := newReplica(t)
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, llog, r) // fakeReplica fails the test on a partial batch
}

func TestReplicationCompleteBatches(t *testing.T) {
	b1, b2 := makeBatch(0, 1, 2), makeBatch(2, 1, 3)
	both := append(append([]byte(nil), b1...), b2...)
	cases := []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, 0},
		{"one", b1, len(b1)},
		{"two", both, len(both)},
		{"cut in the second", both[:len(both)-1], len(b1)},
		{"cut in the second header", both[:len(b1)+7], len(b1)},
		{"cut in the first", b1[:30], 0},
		{"bad length", append(append([]byte(nil), b1...), make([]byte, 20)...), len(b1)},
	}
	for _, tc := range cases {
		if got := completeBatches(tc.in); len(got) != tc.want || !bytes.Equal(got, tc.in[:tc.want]) {
			t.Errorf("%s: %d bytes, want %d", tc.name, len(got), tc.want)
		}
	}
}

// A follower behind in metadata (fenced) waits for a newer Follow; one
// ahead of the leader (UNKNOWN_LEADER_EPOCH) retries until the leader
// catches up.
func TestReplicationLeaderEpochErrors(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 2)
	leader.produce(topic, 0, 3)
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	r := newReplica(t)

	m.Follow(topic, 0, r, 1, 1) // fenced
	checkFor(t, 5*time.Second, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if f := m.parts[tp{topic, 0}]; f == nil || fstate(f.published.Load()) != stateParked {
			return errors.New("not parked")
		}
		return nil
	})
	if r.memLog.LogEndOffset() != 0 {
		t.Fatal("fenced follower fetched")
	}
	m.Follow(topic, 0, r, 1, 1) // same epoch: stays parked
	m.Follow(topic, 0, r, 1, 3) // ahead of the leader: retried
	waitBackoffs(t, m, topic, 0, 2)
	if r.memLog.LogEndOffset() != 0 {
		t.Fatal("fetched from a leader in an older epoch")
	}
	leader.setEpoch(topic, 0, 3)
	leader.produce(topic, 0, 3)
	sameLog(t, llog, r)
}

// Unreachable or unknown leaders are retried after the backoff.
func TestReplicationLeaderUnreachable(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1)
	leader.produce(topic, 0, 3)
	b := &brokers{m: map[int32]*fakeLeader{}} // broker 1 unknown at first
	m := newManager(t, optionsWith(t, b))
	r := newReplica(t)
	m.Follow(topic, 0, r, 1, 1)
	m.Follow(topic, 1, newReplica(t), 1, 1) // unknown at the leader: backs off
	waitBackoffs(t, m, topic, 0, 2)
	if r.memLog.LogEndOffset() != 0 {
		t.Fatal("fetched from nowhere")
	}
	b.set(1, leader)
	sameLog(t, llog, r)

	// The leader drops connections: the fetcher redials.
	for i := 0; i < 3; i++ {
		leader.srv.CloseConns()
		leader.produce(topic, 0, 3)
		sameLog(t, llog, r)
	}
}

// A leader with no epochs at all answers UNDEFINED: the follower truncates
// to the leader's high watermark.
func TestReplicationUndefinedEpochAnswer(t *testing.T) {
	leader := newLeader(t)
	llog := leader.part(topic, 0, 1) // empty
	r := newReplica(t)
	r.add(0, 4)
	r.add(0, 4)
	m := newManager(t, testOptions(t, map[int32]*fakeLeader{1: leader}))
	m.Follow(topic, 0, r, 1, 1)
	sameLog(t, llog, r)
	leader.produce(topic, 0, 2)
	sameLog(t, llog, r)
	if r.memLog.LogEndOffset() != 2 {
		t.Fatalf("log end %d", r.memLog.LogEndOffset())
	}
}

// waitBackoffs waits until the follower of topic-index has been held back
// at least n times (its requests were tried and refused or failed).
func waitBackoffs(t *testing.T, m *Manager, topic string, index int32, n int64) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		f := m.parts[tp{topic, index}]
		if f == nil {
			return errors.New("not followed")
		}
		if got := f.backoffs.Load(); got < n {
			return fmt.Errorf("held back %d times", got)
		}
		return nil
	})
}
