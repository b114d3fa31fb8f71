package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestClusterKilledFollowerStallsAcksOnlyUntilFenced: with a broker session
// (3 s) much shorter than replica.lag.time.max.ms (10 s), SIGKILL a
// follower under an acks=all producer (min.insync.replicas=2). The
// controller fences it and drops it from the ISR after the session
// timeout; acks=all must then flow again: the leader must not keep the
// dead follower in its maximal ISR (asking the controller to add it back)
// until the lag time has passed since its last fetch.
func TestClusterKilledFollowerStallsAcksOnlyUntilFenced(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2", "replica.lag.time.max.ms=10000"))
	adm := c.admin()
	const topic = "follower-death"
	c.createTopic(adm, topic, 1, 3, nil)
	leader := c.partition(adm, topic, 0).Leader
	follower := c.others(leader, c.controller(adm))[0]

	pr := startProducer(t, c, topic, 1)
	pr.waitAcks(0, 300, 20*time.Second)
	killed := time.Now()
	c.Kill(follower)
	c.waitPartitions(adm, 20*time.Second, topic, func(p kadm.PartitionDetail) error {
		if slices.Contains(p.ISR, follower) {
			return errorf("dead node %d still in ISR %v", follower, p.ISR)
		}
		return nil
	})
	c.logf("killed follower %d left the ISR after %v", follower, time.Since(killed).Round(time.Millisecond))
	pr.waitAcks(0, 300, 20*time.Second)
	pr.stop()
	pr.verify()
	gap, from := pr.maxGap(0)
	c.logf("longest gap between acks %v, from %v after the kill", gap.Round(time.Millisecond), from.Sub(killed).Round(time.Millisecond))
	if gap > 6*time.Second {
		t.Errorf("acks=all stalled %v after a follower died (session timeout 3 s, lag time 10 s)", gap.Round(time.Millisecond))
	}
}
