package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterControllerFailover: SIGKILL the Raft leader (Metadata's
// controller); topic creation through a surviving node and acks=all
// produce to the new topic work again within seconds.
func TestClusterControllerFailover(t *testing.T) {
	c := startCluster(t, 3)
	adm := c.admin()
	c.createTopic(adm, "before", 1, 3, nil)
	ctl := c.controller(adm)
	survivors := c.others(ctl)
	var seeds []string
	for _, id := range survivors {
		seeds = append(seeds, c.node(id).KafkaAddr())
	}
	sadm := kadm.NewClient(c.client("survivor-admin", kgo.SeedBrokers(seeds...)))

	killed := time.Now()
	c.Kill(ctl)

	const topic = "after-controller-death"
	var created time.Duration
	checkFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := sadm.CreateTopic(ctx, 3, 2, nil, topic)
		if err == nil && resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			err = fmt.Errorf("%v %s", resp.Err, resp.ErrMessage)
		}
		if err != nil {
			return err
		}
		created = time.Since(killed)
		return nil
	})
	c.logf("CONTROLLER FAILOVER: topic created %v after killing controller node %d", created.Round(time.Millisecond), ctl)

	pcl := c.client("survivor-producer", kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(20*time.Second))
	for part := range int32(3) {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		res := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("x")})
		cancel()
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce to %s/%d after controller failover: %v", topic, part, err)
		}
	}
	produced := time.Since(killed)
	c.logf("CONTROLLER FAILOVER: acks=all produce to every partition of the new topic done %v after the kill", produced.Round(time.Millisecond))

	newCtl := c.controller(sadm)
	if newCtl == ctl {
		t.Errorf("controller is still the killed node %d", ctl)
	}
	if produced > 15*time.Second {
		t.Errorf("topic creation and produce took %v after the controller died", produced)
	}

	c.Restart(ctl)
	c.waitBrokers(30*time.Second, c.ids()...)
	c.waitISRContains(adm, 30*time.Second, "before", ctl)
}
