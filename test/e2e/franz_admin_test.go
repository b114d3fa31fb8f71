package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestE2EFranzAdmin drives the admin APIs through kadm and checks results
// and Kafka error codes.
func TestE2EFranzAdmin(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr)

	t.Run("CreateTopics", func(t *testing.T) { testAdminCreateTopics(t, ctx, adm) })
	t.Run("Configs", func(t *testing.T) { testAdminConfigs(t, ctx, b, adm) })
	t.Run("CreatePartitions", func(t *testing.T) { testAdminCreatePartitions(t, ctx, b, adm) })
	t.Run("DeleteTopics", func(t *testing.T) { testAdminDeleteTopics(t, ctx, b, adm) })
	t.Run("DeleteRecords", func(t *testing.T) { testAdminDeleteRecords(t, ctx, b, adm) })
	t.Run("Cluster", func(t *testing.T) { testAdminCluster(t, ctx, b, adm) })
	t.Run("OffsetForLeaderEpoch", func(t *testing.T) { testAdminOffsetForLeaderEpoch(t, ctx, b, adm) })
	b.assertRunning(t)
}

func testAdminCreateTopics(t *testing.T, ctx context.Context, adm *kadm.Client) {
	topic := topicName(t, "")
	created := createTopic(t, ctx, adm, topic, 3, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	if created.ID == (kadm.TopicID{}) {
		t.Errorf("CreateTopics returned an all-zero topic ID")
	}
	if created.NumPartitions != 3 || created.ReplicationFactor != 1 {
		t.Errorf("CreateTopics: %d partitions, replication factor %d; want 3, 1", created.NumPartitions, created.ReplicationFactor)
	}

	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	td := md.Topics[topic]
	if td.Err != nil || len(td.Partitions) != 3 {
		t.Fatalf("Metadata %s: err %v, %d partitions; want 3", topic, td.Err, len(td.Partitions))
	}
	if td.ID != created.ID {
		t.Errorf("Metadata topic ID %v differs from CreateTopics' %v", td.ID, created.ID)
	}
	if len(md.Brokers) != 1 {
		t.Fatalf("Metadata lists %d brokers, want 1: %+v", len(md.Brokers), md.Brokers)
	}
	node := md.Brokers[0].NodeID
	for p, pd := range td.Partitions {
		if pd.Err != nil || pd.Leader != node || len(pd.Replicas) != 1 || len(pd.ISR) != 1 {
			t.Errorf("partition %d: %+v; want leader %d, one replica, one ISR member", p, pd, node)
		}
	}

	// Validate-only creates nothing.
	dry := topicName(t, "dry")
	vr, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, dry)
	if err != nil || vr[dry].Err != nil {
		t.Errorf("ValidateCreateTopics %s: %v / %+v", dry, err, vr[dry])
	}
	md, err = adm.Metadata(ctx, dry)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if td, ok := md.Topics[dry]; ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("validate-only CreateTopics created %s: %+v", dry, td)
	}

	cases := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
	}{
		{"existing topic", topic, 3, 1, nil, kerr.TopicAlreadyExists},
		{"slash in name", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"space in name", "bad name", 1, 1, nil, kerr.InvalidTopicException},
		{"dot-dot", "..", 1, 1, nil, kerr.InvalidTopicException},
		{"name too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"zero partitions", topicName(t, "zero-partitions"), 0, 1, nil, kerr.InvalidPartitions},
		{"replication factor above brokers", topicName(t, "rf3"), 1, 3, nil, kerr.InvalidReplicationFactor},
		{"unknown config", topicName(t, "unknown-config"), 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
		{"bad config value", topicName(t, "bad-config"), 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
	}
	for _, c := range cases {
		resps, err := adm.CreateTopics(ctx, c.partitions, c.rf, c.configs, c.topic)
		if err != nil {
			t.Errorf("%s: CreateTopics request failed: %v", c.name, err)
			continue
		}
		r, ok := resps[c.topic]
		if !ok {
			t.Errorf("%s: no response for topic %q: %+v", c.name, c.topic, resps)
			continue
		}
		if !errors.Is(r.Err, c.want) {
			t.Errorf("%s: CreateTopics(%q, %d, rf %d) error %v (%s), want %s", c.name, c.topic, c.partitions, c.rf, r.Err, r.ErrMessage, c.want.Message)
		}
	}
	// The failed creations left no topics behind.
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	for _, c := range cases[1:] {
		if _, ok := listed[c.topic]; ok {
			t.Errorf("%s: topic %q exists after a failed CreateTopics", c.name, c.topic)
		}
	}
}

// describeTopicConfig returns the named config of topic.
func describeTopicConfig(t *testing.T, ctx context.Context, adm *kadm.Client, topic, key string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("DescribeTopicConfigs %s: %v / %v (%s)", topic, err, rc.Err, rc.ErrMessage)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("DescribeTopicConfigs %s: no %s among %d configs", topic, key, len(rc.Configs))
	return kadm.Config{}
}

func expectConfig(t *testing.T, ctx context.Context, adm *kadm.Client, topic, key, value string, dynamic bool) {
	t.Helper()
	c := describeTopicConfig(t, ctx, adm, topic, key)
	isDynamic := c.Source == kmsg.ConfigSourceDynamicTopicConfig
	if c.MaybeValue() != value || isDynamic != dynamic {
		t.Errorf("%s %s = %q (source %v), want %q (dynamic topic config: %v)", topic, key, c.MaybeValue(), c.Source, value, dynamic)
	}
}

func alterErr(t *testing.T, what string, rs kadm.AlterConfigsResponses, err error, topic string) error {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: request failed: %v", what, err)
	}
	r, onErr := rs.On(topic, nil)
	if onErr != nil {
		t.Fatalf("%s: no response for %s: %+v", what, topic, rs)
	}
	return r.Err
}

func testAdminConfigs(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	topic := topicName(t, "")
	createTopic(t, ctx, adm, topic, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")})

	expectConfig(t, ctx, adm, topic, "retention.ms", "3600000", true)
	expectConfig(t, ctx, adm, topic, "cleanup.policy", "delete", false)
	expectConfig(t, ctx, adm, topic, "max.message.bytes", "1048588", false)

	rcs, err := adm.DescribeTopicConfigs(ctx, "no-such-topic")
	if err != nil {
		// kadm returns request-level errors only; a missing topic is
		// a per-resource error.
		t.Fatalf("DescribeTopicConfigs of a missing topic: %v", err)
	}
	if rc, _ := rcs.On("no-such-topic", nil); !errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("DescribeTopicConfigs of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rc.Err)
	}

	// IncrementalAlterConfigs: set, then delete back to the default.
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("86400000")},
	}, topic)
	if e := alterErr(t, "IncrementalAlterConfigs set", rs, err, topic); e != nil {
		t.Errorf("IncrementalAlterConfigs set: %v", e)
	}
	expectConfig(t, ctx, adm, topic, "retention.ms", "7200000", true)
	expectConfig(t, ctx, adm, topic, "segment.ms", "86400000", true)

	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, topic)
	if e := alterErr(t, "IncrementalAlterConfigs delete", rs, err, topic); e != nil {
		t.Errorf("IncrementalAlterConfigs delete: %v", e)
	}
	expectConfig(t, ctx, adm, topic, "retention.ms", "604800000", false)
	expectConfig(t, ctx, adm, topic, "segment.ms", "86400000", true)

	bad := []struct {
		name string
		cfg  kadm.AlterConfig
	}{
		{"unknown key", kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")}},
		{"bad value", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")}},
	}
	for _, c := range bad {
		rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{c.cfg}, topic)
		if e := alterErr(t, "IncrementalAlterConfigs "+c.name, rs, err, topic); !errors.Is(e, kerr.InvalidConfig) {
			t.Errorf("IncrementalAlterConfigs %s: %v, want INVALID_CONFIG", c.name, e)
		}
	}
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "no-such-topic")
	if e := alterErr(t, "IncrementalAlterConfigs missing topic", rs, err, "no-such-topic"); !errors.Is(e, kerr.UnknownTopicOrPartition) {
		t.Errorf("IncrementalAlterConfigs of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", e)
	}

	// AlterConfigs (not incremental) replaces the whole set of dynamic
	// configs: segment.ms goes back to its default.
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("1024")}}, topic)
	if e := alterErr(t, "AlterConfigs", rs, err, topic); e != nil {
		t.Errorf("AlterConfigs: %v", e)
	}
	expectConfig(t, ctx, adm, topic, "max.message.bytes", "1024", true)
	expectConfig(t, ctx, adm, topic, "segment.ms", "604800000", false)

	// Dynamic configs apply without a restart: a 4 KiB record is now
	// too large.
	prod := newKgo(t, b.Addr, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DisableIdempotentWrite())
	big := &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), 4096)}
	if err := prod.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("4 KiB record under max.message.bytes=1024: %v, want MESSAGE_TOO_LARGE", err)
	}
	small := &kgo.Record{Topic: topic, Value: []byte("small")}
	if err := prod.ProduceSync(ctx, small).FirstErr(); err != nil {
		t.Errorf("small record under max.message.bytes=1024: %v", err)
	}
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "max.message.bytes"}}, topic)
	if e := alterErr(t, "IncrementalAlterConfigs delete max.message.bytes", rs, err, topic); e != nil {
		t.Errorf("IncrementalAlterConfigs delete max.message.bytes: %v", e)
	}
	big = &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), 4096)}
	if err := prod.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Errorf("4 KiB record after max.message.bytes went back to the default: %v", err)
	}
}

func testAdminCreatePartitions(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	topic := topicName(t, "")
	created := createTopic(t, ctx, adm, topic, 2, nil)

	rs, err := adm.CreatePartitions(ctx, 3, topic)
	if err != nil || rs[topic].Err != nil {
		t.Fatalf("CreatePartitions +3: %v / %v (%s)", err, rs[topic].Err, rs[topic].ErrMessage)
	}
	checkFor(t, 10*time.Second, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td := md.Topics[topic]
		if td.Err != nil || len(td.Partitions) != 5 {
			return fmt.Errorf("metadata: err %v, %d partitions, want 5", td.Err, len(td.Partitions))
		}
		if td.ID != created.ID {
			return fmt.Errorf("topic ID changed from %v to %v", created.ID, td.ID)
		}
		return nil
	})

	// The new partitions take records.
	prod := newKgo(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 5; p++ {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("to-%d", p))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Errorf("produce to partition %d: %v", p, err)
		} else if r.Offset != 0 {
			t.Errorf("first record of partition %d got offset %d", p, r.Offset)
		}
	}

	rs, err = adm.UpdatePartitions(ctx, 2, topic)
	if err != nil {
		t.Fatalf("CreatePartitions to 2: %v", err)
	}
	if !errors.Is(rs[topic].Err, kerr.InvalidPartitions) {
		t.Errorf("shrinking 5 partitions to 2: %v, want INVALID_PARTITIONS", rs[topic].Err)
	}
	rs, err = adm.UpdatePartitions(ctx, 5, topic)
	if err != nil {
		t.Fatalf("CreatePartitions to 5: %v", err)
	}
	if !errors.Is(rs[topic].Err, kerr.InvalidPartitions) {
		t.Errorf("CreatePartitions to the current count: %v, want INVALID_PARTITIONS", rs[topic].Err)
	}
	rs, err = adm.CreatePartitions(ctx, 1, "no-such-topic")
	if err != nil {
		t.Fatalf("CreatePartitions of a missing topic: %v", err)
	}
	if !errors.Is(rs["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("CreatePartitions of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rs["no-such-topic"].Err)
	}
}

func testAdminDeleteTopics(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	topic := topicName(t, "")
	first := createTopic(t, ctx, adm, topic, 2, nil)
	prod := newKgo(t, b.Addr)
	for i := 0; i < 10; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(workloadKey(i)), Value: []byte("old")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}

	rs, err := adm.DeleteTopics(ctx, topic)
	if err != nil || rs[topic].Err != nil {
		t.Fatalf("DeleteTopics: %v / %v (%s)", err, rs[topic].Err, rs[topic].ErrMessage)
	}
	checkFor(t, 10*time.Second, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		if td, ok := md.Topics[topic]; ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("deleted topic still in metadata: err %v, %d partitions", td.Err, len(td.Partitions))
		}
		return nil
	})
	rs, err = adm.DeleteTopics(ctx, topic)
	if err != nil {
		t.Fatalf("DeleteTopics again: %v", err)
	}
	if !errors.Is(rs[topic].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rs[topic].Err)
	}

	// The same name makes a new, empty topic with a new ID.
	second := createTopic(t, ctx, adm, topic, 2, nil)
	if second.ID == first.ID {
		t.Errorf("recreated topic kept the old ID %v", first.ID)
	}
	for p, r := range listRanges(t, ctx, adm, topic) {
		if r.start != 0 || r.end != 0 {
			t.Errorf("recreated topic partition %d has offsets [%d, %d), want empty", p, r.start, r.end)
		}
	}
}

// rawFetch sends one Fetch for topic/partition at offset through cl and
// returns the partition's answer.
func rawFetch(t *testing.T, ctx context.Context, cl *kgo.Client, adm *kadm.Client, topic string, partition int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = md.Topics[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("Fetch %s[%d]@%d: %v", topic, partition, offset, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("Fetch %s[%d]@%d: top-level error %v", topic, partition, offset, err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition == partition {
				return rp
			}
		}
	}
	t.Fatalf("Fetch %s[%d]@%d: partition missing from the response: %+v", topic, partition, offset, resp)
	return kmsg.FetchResponseTopicPartition{}
}

func testAdminDeleteRecords(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	topic := topicName(t, "")
	createTopic(t, ctx, adm, topic, 2, nil)
	const n = 100
	prod := newKgo(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: []byte(workloadValue("dr", i))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	deleteAt := func(at int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var offsets kadm.Offsets
		offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: at})
		rs, err := adm.DeleteRecords(ctx, offsets)
		if err != nil {
			t.Fatalf("DeleteRecords before %d: %v", at, err)
		}
		r, ok := rs.Lookup(topic, 0)
		if !ok {
			t.Fatalf("DeleteRecords before %d: no answer for partition 0: %+v", at, rs)
		}
		return r
	}

	if r := deleteAt(40); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("DeleteRecords before 40: %+v, want low watermark 40", r)
	}
	ranges := listRanges(t, ctx, adm, topic)
	if r := ranges[0]; r.start != 40 || r.end != n {
		t.Errorf("after DeleteRecords: partition 0 offsets [%d, %d), want [40, %d)", r.start, r.end, n)
	}
	if r := ranges[1]; r.start != 0 || r.end != 0 {
		t.Errorf("after DeleteRecords on partition 0: partition 1 offsets [%d, %d), want [0, 0)", r.start, r.end)
	}

	fetcher := newKgo(t, b.Addr)
	if rp := rawFetch(t, ctx, fetcher, adm, topic, 0, 10); rp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("Fetch at 10 below log start 40: error code %d, want OFFSET_OUT_OF_RANGE (1)", rp.ErrorCode)
	} else if rp.LogStartOffset >= 0 && rp.LogStartOffset != 40 {
		t.Errorf("Fetch at 10: log start offset %d, want 40", rp.LogStartOffset)
	}
	if rp := rawFetch(t, ctx, fetcher, adm, topic, 0, n+10); rp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("Fetch at %d past the log end %d: error code %d, want OFFSET_OUT_OF_RANGE (1)", n+10, n, rp.ErrorCode)
	}
	if rp := rawFetch(t, ctx, fetcher, adm, topic, 0, 40); rp.ErrorCode != 0 || rp.HighWatermark != n || len(rp.RecordBatches) == 0 {
		t.Errorf("Fetch at 40: error code %d, high watermark %d, %d bytes; want 0, %d, some records", rp.ErrorCode, rp.HighWatermark, len(rp.RecordBatches), n)
	}

	// Consuming from the new start yields exactly records 40..99.
	cons := newKgo(t, b.Addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(40)}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	got := pollKgoUntilRecords(t, ctx, cons, topic, n-40)
	for j, r := range got {
		if r.Offset != int64(40+j) || string(r.Value) != workloadValue("dr", 40+j) {
			t.Errorf("after DeleteRecords, record %d is offset %d %q; want offset %d %q", j, r.Offset, r.Value, 40+j, workloadValue("dr", 40+j))
			break
		}
	}

	// Below the current start is a no-op; past the end is an error;
	// -1 means the high watermark.
	if r := deleteAt(20); r.Err != nil || r.LowWatermark != 40 {
		t.Errorf("DeleteRecords before 20 (start is 40): %+v, want no error and low watermark 40", r)
	}
	if r := deleteAt(n + 1); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("DeleteRecords before %d past the end %d: %v, want OFFSET_OUT_OF_RANGE", n+1, n, r.Err)
	}
	if r := deleteAt(-1); r.Err != nil || r.LowWatermark != n {
		t.Errorf("DeleteRecords before -1 (high watermark): %+v, want low watermark %d", r, n)
	}
	if r := listRanges(t, ctx, adm, topic)[0]; r.start != n || r.end != n {
		t.Errorf("after DeleteRecords to the end: offsets [%d, %d), want [%d, %d)", r.start, r.end, n, n)
	}
	// The log goes on at the old end.
	r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}
	if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil || r.Offset != n {
		t.Errorf("produce after DeleteRecords: offset %d, err %v; want offset %d", r.Offset, err, n)
	}
}

func testAdminCluster(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	host, portStr, err := net.SplitHostPort(b.Addr)
	if err != nil {
		t.Fatalf("broker address %q: %v", b.Addr, err)
	}
	port, _ := strconv.Atoi(portStr)

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Host != host || md.Brokers[0].Port != int32(port) {
		t.Fatalf("Metadata brokers %+v, want one at %s", md.Brokers, b.Addr)
	}
	node := md.Brokers[0].NodeID
	if md.Controller != node {
		t.Errorf("Metadata controller %d, want the only broker %d", md.Controller, node)
	}
	if md.Cluster == "" {
		t.Errorf("Metadata has an empty cluster ID")
	}

	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(ctx, newKgo(t, b.Addr))
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if resp.ClusterID != md.Cluster {
		t.Errorf("DescribeCluster cluster ID %q, Metadata says %q", resp.ClusterID, md.Cluster)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("DescribeCluster lists %d brokers, want 1: %+v", len(resp.Brokers), resp.Brokers)
	}
	br := resp.Brokers[0]
	if br.NodeID != node || br.Host != host || br.Port != int32(port) {
		t.Errorf("DescribeCluster broker %d at %s:%d, want %d at %s", br.NodeID, br.Host, br.Port, node, b.Addr)
	}
	if resp.ControllerID != node {
		t.Errorf("DescribeCluster controller %d, want %d", resp.ControllerID, node)
	}

	// Every API the broker is documented to serve is advertised.
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	var bv kadm.BrokerApiVersions
	vs.Each(func(v kadm.BrokerApiVersions) { bv = v })
	if bv.Err != nil {
		t.Fatalf("ApiVersions: %v", bv.Err)
	}
	for _, key := range []int16{0, 1, 2, 3, 18, 19, 20, 21, 22, 23, 32, 33, 37, 44, 60} {
		if _, _, ok := bv.KeyVersions(key); !ok {
			t.Errorf("ApiVersions does not list %s (key %d)", kmsg.NameForKey(key), key)
		}
	}
}

func testAdminOffsetForLeaderEpoch(t *testing.T, ctx context.Context, b *brokerProc, adm *kadm.Client) {
	topic := topicName(t, "")
	createTopic(t, ctx, adm, topic, 1, nil)
	prod := newKgo(t, b.Addr)
	const n = 25
	for i := 0; i < n; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(workloadValue("ofle", i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	epoch := md.Topics[topic].Partitions[0].LeaderEpoch
	if epoch < 0 {
		t.Fatalf("Metadata leader epoch %d", epoch)
	}
	var req kadm.OffsetForLeaderEpochRequest
	req.Add(topic, 0, epoch)
	rs, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch: %v", err)
	}
	r := rs[topic][0]
	if r.Err != nil || r.LeaderEpoch != epoch || r.EndOffset != n {
		t.Errorf("OffsetForLeaderEpoch(epoch %d): %+v, want epoch %d and end offset %d", epoch, r, epoch, n)
	}
	// Each record carries the partition leader epoch it was written in.
	cons := newKgo(t, b.Addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	for _, rec := range pollKgoUntilRecords(t, ctx, cons, topic, n) {
		if rec.LeaderEpoch != epoch {
			t.Errorf("record at %d has leader epoch %d, want %d", rec.Offset, rec.LeaderEpoch, epoch)
			break
		}
	}
}
