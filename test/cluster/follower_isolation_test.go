package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestClusterIsolatedFollowerLeavesISR: a follower (neither the partition
// leader nor the controller) is cut off the network; it drops out of the
// ISR, acks=all produce with min.insync.replicas=2 carries on, and after
// Heal it catches up and rejoins the ISR.
func TestClusterIsolatedFollowerLeavesISR(t *testing.T) {
	testIsolatedFollowerLeavesISR(t, CutClose)
}

// TestClusterBlackHoledFollowerLeavesISR is the same with the isolated
// node's connections silent instead of reset: only timeouts notice.
func TestClusterBlackHoledFollowerLeavesISR(t *testing.T) {
	testIsolatedFollowerLeavesISR(t, CutBlackHole)
}

func testIsolatedFollowerLeavesISR(t *testing.T, mode CutMode) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"), withCutMode(mode))
	adm := c.admin()
	const topic = "follower-isolation"
	c.createTopic(adm, topic, 1, 3, nil)
	leader := c.partition(adm, topic, 0).Leader
	follower := c.others(leader, c.controller(adm))[0]

	pr := startProducer(t, c, topic, 1)
	pr.waitAcks(0, 300, 20*time.Second)

	isolated := time.Now()
	c.Isolate(follower)
	c.waitPartitions(adm, 20*time.Second, topic, func(p kadm.PartitionDetail) error {
		if slices.Contains(p.ISR, follower) {
			return errorf("isolated node %d still in ISR %v", follower, p.ISR)
		}
		if p.Leader < 1 {
			return errorf("no leader")
		}
		return nil
	})
	c.logf("isolated follower %d left the ISR %v after isolation", follower, time.Since(isolated).Round(time.Millisecond))
	shrunk := time.Now()
	pr.waitAcks(0, 500, 20*time.Second)
	c.logf("500 acks after the ISR shrank took %v", time.Since(shrunk).Round(time.Millisecond))

	healed := time.Now()
	c.Heal(follower)
	c.waitISRContains(adm, 30*time.Second, topic, follower)
	c.logf("healed follower %d rejoined the ISR after %v", follower, time.Since(healed).Round(time.Millisecond))
	pr.waitAcks(0, 300, 20*time.Second)
	pr.stop()
	if n := pr.failures(); n > 0 {
		t.Errorf("%d records failed", n)
	}
	pr.verify()
	gap, from := pr.maxGap(0)
	c.logf("longest gap between acks %v (from %s)", gap.Round(time.Millisecond), from.Format("15:04:05.000"))
}
