package cluster

import (
	"testing"
	"time"
)

// TestClusterRollingRestart restarts every node in turn (SIGTERM, start
// again, wait for the full ISR, next) under an idempotent acks=all
// producer: no acknowledged record is lost, and no record fails (leaders
// move away in a controlled shutdown, so the producer only retries).
func TestClusterRollingRestart(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"))
	adm := c.admin()
	const topic, parts = "rolling", 3
	c.createTopic(adm, topic, parts, 3, nil)

	pr := startProducer(t, c, topic, parts)
	pr.waitAllAcks(200, 20*time.Second)
	for _, id := range c.ids() {
		c.Stop(id)
		pr.waitAllAcks(100, 20*time.Second)
		c.Restart(id)
		c.waitBrokers(30*time.Second, c.ids()...)
		c.waitFullISR(adm, 30*time.Second, topic)
		c.logf("node %d restarted, ISR full", id)
		pr.waitAllAcks(100, 20*time.Second)
	}
	pr.stop()
	if n := pr.failures(); n > 0 {
		t.Errorf("%d records failed during the rolling restart", n)
	}
	pr.verify()
	for part := range int32(parts) {
		gap, from := pr.maxGap(part)
		c.logf("partition %d: longest gap between acks %v (from %s)", part, gap.Round(time.Millisecond), from.Format("15:04:05.000"))
	}
}
