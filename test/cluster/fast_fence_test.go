package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// kafkaSessionSets are Kafka's defaults for broker liveness, which the
// other tests shorten (fastSets).
var kafkaSessionSets = []string{
	"broker.session.timeout.ms=9000",
	"broker.heartbeat.interval.ms=2000",
	"replica.lag.time.max.ms=30000",
}

// TestClusterFastFencing: with Kafka's default session timeout (9 s), a
// SIGKILLed partition leader is fenced as soon as the quorum leader sees its
// heartbeat connection close and its listener refuse a probe, so acks=all
// writes to its partition resume long before the session would have run
// out; so does one killed together with the quorum leader (the new quorum
// leader probes every broker). A SIGSTOPped leader keeps its connections
// and only the session timeout fences it, and a live broker whose
// connections break answers the probe and is not fenced. The three failover times are
// logged (BENCHMARKS.md quotes them); the test fails only if a kill waits
// anywhere near the session timeout, which it would without fast fencing.
func TestClusterFastFencing(t *testing.T) {
	c := startCluster(t, 3, withSet(append(kafkaSessionSets, "min.insync.replicas=2")...))
	adm := c.admin()
	const topic, parts = "fastfence", 3
	c.createTopic(adm, topic, parts, 3, nil)
	pr := startProducer(t, c, topic, parts)
	pr.waitAllAcks(200, 20*time.Second)

	// ledBy finds a partition led by a node that matches want.
	ledBy := func(want func(leader int32) bool) (int32, int32) {
		t.Helper()
		for p := range int32(parts) {
			if l := c.partition(adm, topic, p).Leader; want(l) {
				return p, l
			}
		}
		t.Fatalf("no partition of %s has a leader of the kind wanted", topic)
		return -1, -1
	}
	// failover kills the leader of part and returns the time to the
	// first acknowledged write on part after it.
	failover := func(part, leader int32) time.Duration {
		t.Helper()
		start := time.Now()
		c.Kill(leader)
		first := pr.waitAckAfter(part, time.Now(), 40*time.Second)
		return first.at.Sub(start)
	}
	const bound = 4500 * time.Millisecond // half the session timeout

	// A live broker whose connections to the quorum leader break (and
	// whose new ones are refused for a second) answers the probe and
	// keeps its lease and its leadership.
	ctl := c.controller(adm)
	part, leader := ledBy(func(l int32) bool { return l != ctl })
	mark := len(c.node(ctl).logs.String())
	c.logf("break node %d's connections to the quorum leader (node %d) for 1s", leader, ctl)
	c.node(ctl).kafkaProxy.Block(c.node(leader).sourceName())
	time.Sleep(time.Second)
	c.node(ctl).kafkaProxy.Unblock(c.node(leader).sourceName())
	// Its next heartbeat (within broker.heartbeat.interval.ms) comes over
	// a new connection, which the quorum leader watches from then on; until
	// then only the session timeout would catch its death.
	time.Sleep(2500 * time.Millisecond)
	pr.waitAckAfter(part, time.Now(), 20*time.Second)
	if log := c.node(ctl).logs.String()[mark:]; strings.Contains(log, "broker fenced") {
		t.Errorf("the quorum leader fenced a live broker whose connections broke:\n%s", log)
	}
	if l := c.partition(adm, topic, part).Leader; l != leader {
		t.Errorf("partition %d moved from live node %d to node %d", part, leader, l)
	}

	mark = len(c.node(ctl).logs.String())
	d := failover(part, leader)
	c.logf("FAST FENCE: partition %d leader (node %d, not the quorum leader) SIGKILLed; first acks=all write %v later",
		part, leader, d.Round(time.Millisecond))
	if d > bound {
		t.Errorf("writes to partition %d resumed %v after its leader was killed; want < %v", part, d, bound)
	}
	if log := c.node(ctl).logs.String()[mark:]; !strings.Contains(log, "broker fenced: its listener refuses connections") {
		t.Errorf("the quorum leader (node %d) logged no fast fencing of node %d", ctl, leader)
	}
	c.Restart(leader)
	c.waitISRContains(adm, 40*time.Second, topic, leader)
	pr.waitAllAcks(200, 20*time.Second)

	ctl = c.controller(adm)
	part, leader = ledBy(func(l int32) bool { return l == ctl })
	d = failover(part, leader)
	c.logf("FAST FENCE: partition %d leader (node %d, also the quorum leader) SIGKILLed; first acks=all write %v later",
		part, leader, d.Round(time.Millisecond))
	if d > bound {
		t.Errorf("writes to partition %d resumed %v after its leader, the quorum leader, was killed; want < %v", part, d, bound)
	}
	c.Restart(leader)
	c.waitISRContains(adm, 40*time.Second, topic, leader)
	pr.waitAllAcks(200, 20*time.Second)

	ctl = c.controller(adm)
	part, leader = ledBy(func(l int32) bool { return l != ctl })
	start := time.Now()
	c.Pause(leader)
	var moved time.Duration
	checkFor(t, 40*time.Second, func() error {
		md, err := c.nodeMetadata(ctl, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Partition == part && p.Leader >= 0 && p.Leader != leader {
				moved = time.Since(start)
				return nil
			}
		}
		return fmt.Errorf("partition %d still led by the paused node %d", part, leader)
	})
	d = pr.waitAckAfter(part, start, 40*time.Second).at.Sub(start)
	c.logf("FAST FENCE: partition %d leader (node %d) SIGSTOPped; new leader in the metadata %v later, first acks=all write %v later (session timeout 9 s; the client's produce request to the stopped node has to time out first)",
		part, leader, moved.Round(time.Millisecond), d.Round(time.Millisecond))
	c.Resume(leader)
	c.waitISRContains(adm, 40*time.Second, topic, leader)
	pr.waitAllAcks(200, 20*time.Second)

	pr.stop()
	if n := pr.failures(); n > 0 {
		t.Errorf("%d records failed (delivery timeout %v)", n, deliveryTimeout)
	}
	pr.verify()
}
