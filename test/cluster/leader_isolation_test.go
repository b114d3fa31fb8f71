package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterIsolatedLeaderNeverAcks: the leader of a partition (not the
// controller) is cut off from every other node and from clients. Produce
// requests with acks=-1 sent straight to its real listener (bypassing the
// proxies) must never be acknowledged: its followers cannot fetch and it
// cannot reach the controller to shrink the ISR. Meanwhile the others
// elect a new leader; after Heal the old leader rejoins as a follower and
// none of the records it was sent are in the log.
func TestClusterIsolatedLeaderNeverAcks(t *testing.T) {
	testIsolatedLeaderNeverAcks(t, CutClose)
}

func testIsolatedLeaderNeverAcks(t *testing.T, mode CutMode) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"), withCutMode(mode))
	adm := c.admin()
	ctl := c.controller(adm)

	// Find a partition led by a node other than the controller.
	const topic, parts = "leader-isolation", 3
	c.createTopic(adm, topic, parts, 3, nil)
	part, leader := int32(-1), int32(-1)
	td := c.waitPartitions(adm, 10*time.Second, topic, func(p kadm.PartitionDetail) error { return nil })
	for _, p := range td.Partitions.Sorted() {
		if p.Leader != ctl {
			part, leader = p.Partition, p.Leader
			break
		}
	}
	if part < 0 {
		t.Fatalf("every partition of %s is led by the controller %d: %v", topic, ctl, td.Partitions)
	}
	produceEach(t, c, "before", topic, parts, 20*time.Second, nil)

	direct, err := kgo.NewClient(kgo.SeedBrokers(c.node(leader).KafkaListen), kgo.RequestTimeoutOverhead(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	seed := direct.SeedBrokers()[0]
	topicID := [16]byte(td.ID)
	produce := func(value string) (int16, error) {
		return rawProduce(seed, topic, topicID, part, value, 1500)
	}
	if code, err := produce("direct-before"); err != nil || code != 0 {
		t.Fatalf("direct produce to leader %d before isolation: code %d, %v", leader, code, err)
	}

	c.Isolate(leader)
	isolated := time.Now()
	outcomes := map[string]int{}
	for i := 0; time.Since(isolated) < 10*time.Second; i++ {
		code, err := produce(fmt.Sprintf("isolated-%d", i))
		switch {
		case err != nil:
			outcomes["request error: "+err.Error()]++
		case code == 0:
			t.Errorf("isolated leader %d acknowledged an acks=-1 produce %v after isolation", leader, time.Since(isolated).Round(time.Millisecond))
		default:
			outcomes[kerr.ErrorForCode(code).Error()]++
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.logf("direct produces to the isolated leader: %v", outcomes)

	// The rest of the cluster has moved on.
	c.waitPartitions(adm, 20*time.Second, topic, func(p kadm.PartitionDetail) error {
		if p.Partition == part && (p.Leader < 1 || p.Leader == leader) {
			return errorf("leader still %d", p.Leader)
		}
		return nil
	})
	c.Heal(leader)
	c.waitISRContains(adm, 30*time.Second, topic, leader)
	produceEach(t, c, "after", topic, parts, 20*time.Second, nil)

	recs := consumeAll(t, c, topic, parts)[part]
	var values []string
	for _, r := range recs {
		if strings.HasPrefix(r.value, "isolated-") {
			t.Errorf("record %q sent to the isolated leader is in the log at offset %d", r.value, r.offset)
		}
		values = append(values, r.value)
	}
	c.logf("partition %d after heal: %v", part, values)
}
