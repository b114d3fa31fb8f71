package cluster

import (
	"testing"
	"time"
)

// TestClusterLeaderFailover: SIGKILL the leader of partition 0 under an
// idempotent acks=all producer (RF 3, min.insync.replicas 2), keep
// producing, restart it. Every acknowledged record must be in the log
// exactly once, in order, and the restarted broker must rejoin the ISR of
// its partitions. The failover time (kill to the first acknowledged write
// on partition 0) is logged.
func TestClusterLeaderFailover(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"))
	adm := c.admin()
	const topic, parts = "failover", 3
	c.createTopic(adm, topic, parts, 3, nil)

	pr := startProducer(t, c, topic, parts)
	pr.waitAllAcks(300, 20*time.Second)

	leader := c.partition(adm, topic, 0).Leader
	killed := time.Now()
	c.Kill(leader)
	reaped := time.Now()
	first := pr.waitAckAfter(0, reaped, 30*time.Second)
	failover := first.at.Sub(killed)
	c.logf("FAILOVER: partition 0 leader (node %d) killed; first acks=all write acknowledged %v later (seq %d, offset %d)",
		leader, failover.Round(time.Millisecond), first.seq, first.offset)

	p0 := c.partition(adm, topic, 0)
	if p0.Leader == leader {
		t.Errorf("partition 0 still led by the killed node %d", leader)
	}
	pr.waitAllAcks(300, 20*time.Second)

	c.Restart(leader)
	c.waitISRContains(adm, 30*time.Second, topic, leader)
	c.logf("node %d back in the ISR of its partitions", leader)
	pr.waitAllAcks(300, 20*time.Second)
	pr.stop()
	if n := pr.failures(); n > 0 {
		t.Errorf("%d records failed (delivery timeout %v)", n, deliveryTimeout)
	}
	pr.verify()
	for part := range int32(parts) {
		gap, from := pr.maxGap(part)
		c.logf("partition %d: longest gap between acks %v (from %s)", part, gap.Round(time.Millisecond), from.Format("15:04:05.000"))
	}
	if failover > 15*time.Second {
		t.Errorf("failover took %v", failover)
	}
}
