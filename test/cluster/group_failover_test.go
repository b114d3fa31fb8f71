package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupLedger tracks what a consumer group consumed and committed, per
// partition, across members: it fails the test if a record comes again
// below an offset that was committed successfully (a lost commit), and
// tells whether everything acknowledged has been consumed (nothing
// skipped).
type groupLedger struct {
	t  *testing.T
	mu sync.Mutex
	// per partition
	seen       []map[int64]int // offset -> deliveries
	committed  []int64         // highest committed next-offset
	redelivery int
	first      map[string][]int64 // member -> per partition, the first offset it got (-1: none)
	commits    []time.Time        // when each successful commit was sent
}

func newGroupLedger(t *testing.T, parts int32) *groupLedger {
	l := &groupLedger{t: t, seen: make([]map[int64]int, parts), committed: make([]int64, parts), first: map[string][]int64{}}
	for i := range l.seen {
		l.seen[i] = map[int64]int{}
	}
	return l
}

func (l *groupLedger) delivered(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first[member] == nil {
		l.first[member] = slices.Repeat([]int64{-1}, len(l.seen))
	}
	if l.first[member][r.Partition] < 0 {
		l.first[member][r.Partition] = r.Offset
	}
	n := l.seen[r.Partition][r.Offset]
	l.seen[r.Partition][r.Offset] = n + 1
	if n > 0 {
		l.redelivery++
		if c := l.committed[r.Partition]; r.Offset < c {
			l.t.Errorf("%s: partition %d offset %d delivered again below the committed offset %d", member, r.Partition, r.Offset, c)
		}
	}
}

func (l *groupLedger) commitDone(sent time.Time, recs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.committed[r.Partition] = max(l.committed[r.Partition], r.Offset+1)
	}
	l.commits = append(l.commits, sent)
}

// missing returns the acked offsets not consumed yet, per partition (up
// to a few each).
func (l *groupLedger) missing(acks [][]ack) map[int32][]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32][]int64{}
	for part, as := range acks {
		for _, a := range as {
			if l.seen[part][a.offset] == 0 && len(out[int32(part)]) < 5 {
				out[int32(part)] = append(out[int32(part)], a.offset)
			}
		}
	}
	return out
}

// runMember consumes topic in group until ctx ends, committing after each
// poll synchronously.
func runMember(ctx context.Context, c *cluster, l *groupLedger, name, group, topic string, wg *sync.WaitGroup) *kgo.Client {
	cl := c.client(name,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.BlockRebalanceOnPoll(),
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 500)
			recs := fs.Records()
			for _, r := range recs {
				l.delivered(name, r)
			}
			if len(recs) > 0 {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				sent := time.Now()
				if err := cl.CommitRecords(cctx, recs...); err == nil {
					l.commitDone(sent, recs)
				}
				cancel()
			}
			cl.AllowRebalance()
		}
	}()
	return cl
}

// TestClusterGroupCoordinatorFailover: two members of a consumer group
// consume and commit while records keep coming; the broker that
// coordinates the group is killed. Consumption and commits continue with
// the new coordinator, no committed offset is lost (nothing is delivered
// again below a committed offset) and nothing is skipped.
func TestClusterGroupCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2", "offsets.topic.replication.factor=3"))
	adm := c.admin()
	const topic, group, parts = "group-failover", "failover-group", 3
	c.createTopic(adm, topic, parts, 3, nil)

	pr := startProducer(t, c, topic, parts)
	pr.waitAllAcks(200, 20*time.Second)

	ledger := newGroupLedger(t, parts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var members []*kgo.Client
	for i := range 2 {
		members = append(members, runMember(ctx, c, ledger, fmt.Sprintf("member-%d", i), group, topic, &wg))
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the clients close

	var coordinator int32
	checkFor(t, 30*time.Second, func() error {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		gs, err := adm.DescribeGroups(dctx, group)
		if err != nil {
			return err
		}
		g := gs[group]
		if g.Err != nil {
			return g.Err
		}
		if g.State != "Stable" || len(g.Members) != 2 {
			return errorf("group %s with %d members", g.State, len(g.Members))
		}
		coordinator = g.Coordinator.NodeID
		return nil
	})
	waitCommits(t, ledger, 5, 20*time.Second)
	c.logf("group stable, coordinator node %d (controller %d)", coordinator, c.controller(adm))

	killed := time.Now()
	c.Kill(coordinator)
	firstCommit := waitCommitAfter(t, ledger, killed, 30*time.Second).Sub(killed)
	c.logf("GROUP FAILOVER: first successful commit sent %v after killing coordinator node %d", firstCommit.Round(time.Millisecond), coordinator)
	waitCommits(t, ledger, 10, 20*time.Second)
	ledger.mu.Lock()
	committedAfterFailover := slices.Clone(ledger.committed)
	ledger.mu.Unlock()
	checkCommitted(t, adm, group, topic, committedAfterFailover, 10*time.Second)
	c.logf("committed offsets intact after the failover: at least %v", committedAfterFailover)

	c.Restart(coordinator)
	c.waitBrokers(30*time.Second, c.ids()...)
	pr.waitAllAcks(100, 20*time.Second)
	pr.stop()

	pr.mu.Lock()
	acks := make([][]ack, len(pr.acks))
	copy(acks, pr.acks)
	pr.mu.Unlock()
	checkFor(t, 30*time.Second, func() error {
		if m := ledger.missing(acks); len(m) > 0 {
			return errorf("acked records not consumed yet (first offsets per partition): %v", m)
		}
		return nil
	})
	cancel()
	wg.Wait()
	for _, m := range members {
		m.Close() // leave the group
	}

	// The group's committed offsets are at least those we saw committed.
	ledger.mu.Lock()
	committed := slices.Clone(ledger.committed)
	ledger.mu.Unlock()
	checkCommitted(t, adm, group, topic, committed, 20*time.Second)

	// A new member resumes from the committed offsets: nothing below them
	// comes again (groupLedger.delivered checks), nothing above what the
	// old members consumed is skipped.
	ledger.mu.Lock()
	consumedEnd := make([]int64, parts)
	for part, seen := range ledger.seen {
		for off := range seen {
			consumedEnd[part] = max(consumedEnd[part], off+1)
		}
	}
	ledger.mu.Unlock()
	produceEach(t, c, "last", topic, parts, 20*time.Second, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	var wg2 sync.WaitGroup
	runMember(ctx2, c, ledger, "member-after", group, topic, &wg2)
	t.Cleanup(func() { cancel2(); wg2.Wait() })
	checkFor(t, 30*time.Second, func() error {
		ledger.mu.Lock()
		defer ledger.mu.Unlock()
		first := ledger.first["member-after"]
		for part := range int32(parts) {
			if first == nil || first[part] < 0 {
				return errorf("the new member has consumed nothing from partition %d yet", part)
			}
		}
		return nil
	})
	ledger.mu.Lock()
	first := ledger.first["member-after"]
	ledger.mu.Unlock()
	for part := range int32(parts) {
		if first[part] < committed[part] || first[part] > consumedEnd[part] {
			t.Errorf("partition %d: the new member started at offset %d; committed %d, consumed up to %d", part, first[part], committed[part], consumedEnd[part])
		}
	}
	c.logf("new member started at offsets %v (committed %v)", first, committed)
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	c.logf("%d commits, %d redeliveries (all at or above the last commit)", len(ledger.commits), ledger.redelivery)
}

// checkCommitted waits until the group's committed offsets for topic are
// at least want (per partition).
func checkCommitted(t *testing.T, adm *kadm.Client, group, topic string, want []int64, timeout time.Duration) {
	t.Helper()
	checkFor(t, timeout, func() error {
		octx, ocancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ocancel()
		offs, err := adm.FetchOffsetsForTopics(octx, group, topic)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			return fmt.Errorf("fetch offsets: %w", err)
		}
		for part, w := range want {
			o, ok := offs.Lookup(topic, int32(part))
			if !ok || o.At < w {
				all, err := adm.FetchOffsets(octx, group)
				return errorf("partition %d: committed offset %v (found %v), but %d was committed; all the group's offsets: %v, %v",
					part, o.At, ok, w, all, err)
			}
		}
		return nil
	})
}

func waitCommits(t *testing.T, l *groupLedger, n int, timeout time.Duration) {
	t.Helper()
	l.mu.Lock()
	want := len(l.commits) + n
	l.mu.Unlock()
	checkFor(t, timeout, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.commits) < want {
			return errorf("%d commits, want %d", len(l.commits), want)
		}
		return nil
	})
}

// waitCommitAfter returns when the first successful commit sent after t0
// was sent.
func waitCommitAfter(t *testing.T, l *groupLedger, t0 time.Time, timeout time.Duration) time.Time {
	t.Helper()
	var first time.Time
	checkFor(t, timeout, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, at := range l.commits {
			if at.After(t0) {
				first = at
				return nil
			}
		}
		return errorf("no commit since %s", t0.Format("15:04:05.000"))
	})
	return first
}
