package cluster

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// TestClusterNoEmptyAnswersWhileCatchingUp: a restarting node's listener
// accepts connections before it has caught up with the metadata log (the
// quorum needs it), but a client's request there waits until it has; a
// node that cannot catch up (cut off from the quorum here) closes the
// connection after a few seconds, as a Kafka broker that has not opened its
// listener, so the client goes elsewhere. It never answers from metadata it
// has not caught up with. (Before, a restarted node's first answers listed
// no brokers and no topics.)
func TestClusterNoEmptyAnswersWhileCatchingUp(t *testing.T) {
	c := startCluster(t, 3)
	adm := c.admin()
	const topic = "known"
	c.createTopic(adm, topic, 2, 3, nil)
	const late = 2
	c.Stop(late)
	c.Isolate(late)
	n := c.node(late)
	n.spawn()
	// Straight to its real listener: the proxies cut the isolated node off.
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaListen), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seed := cl.SeedBrokers()[0]
	var start time.Time
	for {
		if ctx.Err() != nil {
			t.Fatal("node 2's listener never accepted a connection")
		}
		conn, err := net.DialTimeout("tcp", n.KafkaListen, time.Second)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // the process is starting: not a synchronisation point
			continue
		}
		conn.Close()
		start = time.Now()
		resp, err := seed.Request(ctx, req)
		if err == nil {
			m := resp.(*kmsg.MetadataResponse)
			t.Fatalf("node %d answered before it could catch up: %d brokers, topics %+v", late, len(m.Brokers), m.Topics)
		}
		if took := time.Since(start); took < 3*time.Second {
			t.Fatalf("node %d failed the request after %v (%v), not after waiting to catch up", late, took, err)
		}
		c.logf("node %d, not caught up, closed the connection after %v: %v", late, time.Since(start).Round(time.Millisecond), err)
		break
	}
	c.Heal(late)
	n.waitReady()
	m, err := c.nodeMetadata(late, topic)
	if err != nil || len(m.Brokers) == 0 || len(m.Topics) != 1 || len(m.Topics[0].Partitions) != 2 {
		t.Fatalf("after the ready line: %v %+v", err, m)
	}
}
