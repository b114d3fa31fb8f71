package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterTwoOfThreeDownRefusesWrites: with two of three brokers
// killed (the metadata quorum lost too), acks=all produce with
// min.insync.replicas=2 is never acknowledged; once they are restarted,
// writes succeed again.
func TestClusterTwoOfThreeDownRefusesWrites(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"))
	adm := c.admin()
	const topic, parts = "quorum", 3
	c.createTopic(adm, topic, parts, 3, nil)
	produceEach(t, c, "before", topic, parts, 20*time.Second, nil)

	survivor := c.controller(adm)
	down := c.others(survivor)
	for _, id := range down {
		c.Kill(id)
	}

	// Straight to the survivor, for the partitions it leads: acks=-1 must
	// be answered with an error (or time out), never with success.
	m, err := c.nodeMetadata(survivor, topic)
	if err != nil || len(m.Topics) != 1 {
		t.Fatalf("metadata from node %d: %v", survivor, err)
	}
	for _, p := range m.Topics[0].Partitions {
		if p.Leader != survivor {
			continue
		}
		code, err := rawProduce(c.directClient(survivor).SeedBrokers()[0], topic, m.Topics[0].TopicID, p.Partition, "refused-raw", 2000)
		switch {
		case err != nil:
			c.logf("partition %d (led by the survivor): acks=-1 produce failed: %v", p.Partition, err)
		case code == 0:
			t.Errorf("partition %d: acks=-1 produce acknowledged by node %d alone", p.Partition, survivor)
		default:
			c.logf("partition %d (led by the survivor): acks=-1 produce refused: %v", p.Partition, kerr.ErrorForCode(code))
		}
	}

	// Produce to every partition through the survivor only, without
	// idempotence (which would fail earlier, at InitProducerID) so that
	// the produce requests themselves reach the partitions' leaders. Each
	// record gets a few seconds of retries; none may be acknowledged.
	cl := c.client("refused-producer",
		kgo.SeedBrokers(c.node(survivor).KafkaAddr()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProduceRequestTimeout(2*time.Second),
		kgo.RecordDeliveryTimeout(6*time.Second),
	)
	var wg sync.WaitGroup
	errs := make([]error, parts)
	for part := range int32(parts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errs[part] = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("refused")}).FirstErr()
		}()
	}
	wg.Wait()
	for part, err := range errs {
		if err == nil {
			t.Errorf("partition %d: acks=all produce acknowledged with only node %d of 3 up", part, survivor)
		} else {
			c.logf("partition %d with two brokers down: produce refused: %v", part, err)
		}
	}

	for _, id := range down {
		c.Restart(id)
	}
	c.waitBrokers(30*time.Second, c.ids()...)
	c.waitTopicEverywhere(30*time.Second, topic)
	start := time.Now()
	produceEach(t, c, "after", topic, parts, 30*time.Second, nil)
	c.logf("writes acknowledged again %v after the cluster was back", time.Since(start).Round(time.Millisecond))
	c.waitFullISR(adm, 30*time.Second, topic)
}

// TestClusterIdempotentProducerWithoutQuorum: with two of three brokers
// down, an idempotent producer started against the survivor gets its
// producer id at once (from the block the broker holds, no quorum round
// trip) and its acks=all records fail within their delivery timeout (the
// ISR is below min.insync.replicas), instead of neither succeeding nor
// failing for minutes while InitProducerId hangs on the lost quorum.
func TestClusterIdempotentProducerWithoutQuorum(t *testing.T) {
	c := startCluster(t, 3, withSet("min.insync.replicas=2"))
	adm := c.admin()
	const topic = "pid-no-quorum"
	c.createTopic(adm, topic, 3, 3, nil)
	survivor := int32(1)
	// The record goes to a partition the survivor does not lead: one it
	// leads answers REQUEST_TIMED_OUT (its ISR cannot shrink without a
	// quorum, as in Kafka), whose outcome an idempotent franz-go producer
	// does not know and retries past its delivery timeout.
	part := int32(-1)
	for i := int32(0); i < 3 && part < 0; i++ {
		if c.partition(adm, topic, i).Leader != survivor {
			part = i
		}
	}
	if part < 0 {
		t.Skip("the survivor leads every partition")
	}
	c.Kill(2)
	c.Kill(3)

	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	resp, err := c.directClient(survivor).SeedBrokers()[0].Request(ctx, req)
	cancel()
	if err != nil {
		t.Fatalf("InitProducerId to the survivor: %v", err)
	}
	if r := resp.(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 || r.ProducerID < 0 {
		t.Fatalf("InitProducerId without a quorum: %v, id %d (after %v)", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, time.Since(start))
	}
	c.logf("InitProducerId answered in %v without a quorum", time.Since(start).Round(time.Millisecond))

	cl := c.client("idempotent-no-quorum",
		kgo.SeedBrokers(c.node(survivor).KafkaAddr()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProduceRequestTimeout(2*time.Second),
		kgo.RecordDeliveryTimeout(6*time.Second),
	)
	start = time.Now()
	pctx, pcancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer pcancel()
	err = cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("refused")}).FirstErr()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("acks=all acknowledged with two of three brokers down")
	}
	if pctx.Err() != nil {
		t.Fatalf("the idempotent producer neither succeeded nor failed within %v", took)
	}
	c.logf("idempotent acks=all record failed after %v: %v", took.Round(time.Millisecond), err)
}
