package cluster

import (
	"slices"
	"testing"
	"time"
)

// TestClusterObserverBrokerJoins checks that a node outside --voters joins
// the cluster as a broker (a Raft non-voter registering through a voter's
// controller listener): it is listed, holds and leads replicas of new
// topics, serves acks=all writes, and after a SIGKILL and a restart it
// rejoins the ISR of its partitions.
func TestClusterObserverBrokerJoins(t *testing.T) {
	c := startCluster(t, 4, withObservers(1), withSet("min.insync.replicas=2"))
	adm := c.admin()
	const topic, parts = "observed", 4
	c.createTopic(adm, topic, parts, 3, nil)
	c.waitFullISR(adm, 20*time.Second, topic)
	led, held := 0, 0
	for p := range int32(parts) {
		d := c.partition(adm, topic, p)
		if d.Leader == 4 {
			led++
		}
		if slices.Contains(d.Replicas, 4) {
			held++
		}
	}
	if led == 0 || held < 2 {
		t.Errorf("the observer leads %d and holds %d of the %d partitions", led, held, parts)
	}
	pr := startProducer(t, c, topic, parts)
	pr.waitAllAcks(200, 20*time.Second)
	c.Kill(4)
	c.waitBrokers(20*time.Second, 1, 2, 3)
	pr.waitAllAcks(400, 30*time.Second)
	c.Restart(4)
	c.waitBrokers(30*time.Second, 1, 2, 3, 4)
	c.waitISRContains(adm, 30*time.Second, topic, 4)
	pr.waitAllAcks(600, 20*time.Second)
	pr.stop()
	if n := pr.failures(); n > 0 {
		t.Errorf("%d records failed", n)
	}
	pr.verify()
}
