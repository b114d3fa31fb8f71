//go:build cluster_wip

package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
	commits    []time.Time // when each successful commit was sent
}

func newGroupLedger(t *testing.T, parts int32) *groupLedger {
	l := &groupLedger{t: t, seen: make([]map[int64]int, parts), committed: make([]int64, parts)}
	for i := range l.seen {
		l.seen[i] = map[int64]int{}
	}
	return l
}

func (l *groupLedger) delivered(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	for i := range 2 {
		runMember(ctx, c, ledger, fmt.Sprintf("member-%d", i), group, topic, &wg)
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

	// The committed offsets the group has now are at least those we saw
	// committed.
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	checkFor(t, 20*time.Second, func() error {
		octx, ocancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ocancel()
		offs, err := adm.FetchOffsets(octx, group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			return fmt.Errorf("fetch offsets: %w", err)
		}
		for part := range int32(parts) {
			o, ok := offs.Lookup(topic, part)
			if !ok {
				return errorf("no committed offset for partition %d (got %v)", part, offs)
			}
			if o.At < ledger.committed[part] {
				return errorf("partition %d: committed offset %d, but %d was committed", part, o.At, ledger.committed[part])
			}
		}
		return nil
	})
	c.logf("%d commits, %d redeliveries (all at or above the last commit)", len(ledger.commits), ledger.redelivery)
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
