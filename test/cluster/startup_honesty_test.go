package cluster

import (
	"strings"
	"testing"
	"time"
)

// TestClusterReadyMeansCaughtUp: a node restarted while a topic was created
// says "broker ready" only once it has applied that metadata (its own
// Metadata answer names the topic, with a leader, the moment it is ready),
// and it registers once, without a burst of retries. Before, the ready line
// came seconds before the node had caught up, and a restarted node
// re-registered in a tight loop.
func TestClusterReadyMeansCaughtUp(t *testing.T) {
	c := startCluster(t, 3)
	adm := c.admin()
	const late = 3
	c.Stop(late)
	const topic = "created-while-down"
	c.createTopic(adm, topic, 2, 2, nil)
	mark := len(c.node(late).logs.String())
	c.Restart(late)
	m, err := c.nodeMetadata(late, topic)
	if err != nil {
		t.Fatalf("metadata from node %d right after its ready line: %v", late, err)
	}
	if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != 2 {
		t.Fatalf("node %d was ready before it had applied the topic created while it was down: %+v", late, m.Topics)
	}
	for _, p := range m.Topics[0].Partitions {
		if p.Leader < 0 {
			t.Fatalf("node %d ready with partition %d leaderless in its metadata", late, p.Partition)
		}
	}
	restartLog := c.node(late).logs.String()[mark:]
	if n := strings.Count(restartLog, "registering again") + strings.Count(restartLog, "registered with the controller"); n > 3 {
		t.Fatalf("node %d registered %d times at one restart:\n%s", late, n, restartLog)
	}
}

// TestClusterLastNodeStopsPromptly: SIGTERM of the last node of a cluster
// (two of three killed, no quorum) gives up the controlled shutdown
// promptly, saying why, instead of waiting for a quorum that cannot
// answer (before: about 17 s).
func TestClusterLastNodeStopsPromptly(t *testing.T) {
	c := startCluster(t, 3)
	c.Kill(2)
	c.Kill(3)
	mark := len(c.node(1).logs.String())
	start := time.Now()
	c.Stop(1)
	took := time.Since(start)
	if took > 8*time.Second {
		t.Errorf("the last node took %v to stop", took.Round(time.Millisecond))
	}
	if log := c.node(1).logs.String()[mark:]; !strings.Contains(log, "no metadata quorum answers") {
		t.Errorf("the last node did not say why it skipped the controlled shutdown:\n%s", log)
	}
}
