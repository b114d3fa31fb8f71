package cluster

import (
	"net"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestClusterFormsAndFencesIsolatedBroker checks the harness end to end:
// three nodes form a cluster that advertises the proxies' addresses; an
// isolated node (whose heartbeats the proxies now drop, outbound included)
// leaves Metadata's live brokers once its session times out, and comes
// back after Heal; a killed node does the same after a restart.
func TestClusterFormsAndFencesIsolatedBroker(t *testing.T) {
	c := startCluster(t, 3)
	adm := c.admin()
	m, err := c.metadata(adm)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Brokers {
		if want := c.node(b.NodeID).KafkaAddr(); net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) != want {
			t.Errorf("broker %d advertised as %s:%d, want its proxy %s", b.NodeID, b.Host, b.Port, want)
		}
	}

	ctl := c.controller(adm)
	victim := c.others(ctl)[0]
	c.Isolate(victim)
	start := time.Now()
	c.waitBrokers(20*time.Second, c.others(victim)...)
	c.logf("isolated node %d left the live brokers after %v", victim, time.Since(start).Round(time.Millisecond))
	c.Heal(victim)
	c.waitBrokers(20*time.Second, c.ids()...)

	c.Kill(victim)
	c.waitBrokers(20*time.Second, c.others(victim)...)
	c.Restart(victim)
	c.waitBrokers(20*time.Second, c.ids()...)
	if !slices.Contains(c.ids(), c.controller(adm)) {
		t.Fatal("no controller")
	}
}
