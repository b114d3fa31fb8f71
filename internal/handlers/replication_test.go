package handlers_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// The broker under test leads a partition whose other replica, node 99,
// exists only as the follower fetches the test sends on its behalf.
const fakeFollower = 99

func replicatedPartition(t *testing.T, tb *testBroker, topic string) *partition.Partition {
	t.Helper()
	_, p, err := tb.b.Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	self := tb.b.NodeID()
	if err := p.BecomeLeader(p.LeaderEpoch()+1, []int32{self, fakeFollower}, []int32{self, fakeFollower}); err != nil {
		t.Fatal(err)
	}
	return p
}

// produceTimeout produces n records with acks and the request timeout
// timeoutMs. (A franz-go client sends its own RequiredAcks, whatever the
// request says: one client per acks setting.)
func produceTimeout(t *testing.T, tb *testBroker, topic string, acks int16, timeoutMs int32, n int) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	opts := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
	if acks == 1 {
		opts = []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	cl := tb.client(t, opts...)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(t, cl, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordtest.Simple(n, time.Now().UnixMilli()).Encode()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.ProduceResponse](t, cl, req).Topics[0].Partitions[0]
}

// fetchAs fetches partition 0 of topic at offset as replica (-1: a
// consumer), waiting up to waitMs for minBytes.
func fetchAs(t *testing.T, cl *kgo.Client, topic string, replica int32, offset int64, epoch int32, waitMs int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = replica, replica
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = waitMs, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID(t, cl, topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.FetchResponse](t, cl, req).Topics[0].Partitions[0]
}

func batchesEnd(t *testing.T, records []byte) int64 {
	t.Helper()
	end := int64(-1)
	for rest := records; len(rest) > 0; {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(rest); err != nil {
			t.Fatal(err)
		}
		end = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		rest = rest[12+b.Length:]
	}
	return end
}

func TestHandlersReplicationAcksAll(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "ra", 1, nil)
	cl := tb.client(t)
	p := replicatedPartition(t, tb, "ra")
	epoch := p.LeaderEpoch()

	done := make(chan kmsg.ProduceResponseTopicPartition, 1)
	go func() { done <- produceTimeout(t, tb, "ra", -1, 30000, 3) }()
	// The follower copies the batch (its fetch long-polls until it is
	// there), then acknowledges it by fetching past it.
	got := fetchAs(t, cl, "ra", fakeFollower, 0, epoch, 20000)
	if got.ErrorCode != 0 || batchesEnd(t, got.RecordBatches) != 3 || got.HighWatermark != 0 {
		t.Fatalf("follower fetch: code %d, HW %d, %d bytes", got.ErrorCode, got.HighWatermark, len(got.RecordBatches))
	}
	// A consumer sees nothing yet: the HW is 0.
	if c := fetchAs(t, cl, "ra", -1, 0, -1, 0); c.ErrorCode != 0 || len(c.RecordBatches) != 0 || c.HighWatermark != 0 {
		t.Fatalf("consumer before commit: code %d HW %d, %d bytes", c.ErrorCode, c.HighWatermark, len(c.RecordBatches))
	}
	select {
	case r := <-done:
		t.Fatalf("acks=all answered before the follower acknowledged: %+v", r)
	default:
	}
	got = fetchAs(t, cl, "ra", fakeFollower, 3, epoch, 0)
	if got.ErrorCode != 0 || got.HighWatermark != 3 {
		t.Fatalf("follower acknowledging: code %d HW %d", got.ErrorCode, got.HighWatermark)
	}
	if r := <-done; r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("acks=all: code %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if c := fetchAs(t, cl, "ra", -1, 0, epoch, 0); c.ErrorCode != 0 || batchesEnd(t, c.RecordBatches) != 3 || c.HighWatermark != 3 {
		t.Fatalf("consumer after commit: code %d HW %d", c.ErrorCode, c.HighWatermark)
	}

	// Nobody fetches: the wait times out.
	if r := produceTimeout(t, tb, "ra", -1, 50, 1); r.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all without the follower: code %d", r.ErrorCode)
	}
	// acks=1 does not wait.
	if r := produceTimeout(t, tb, "ra", 1, 50, 1); r.ErrorCode != 0 || r.BaseOffset != 4 {
		t.Fatalf("acks=1: code %d base %d", r.ErrorCode, r.BaseOffset)
	}
	// A follower's long poll wakes on new data past its offset.
	fetched := make(chan kmsg.FetchResponseTopicPartition, 1)
	go func() { fetched <- fetchAs(t, tb.client(t), "ra", fakeFollower, 5, epoch, 20000) }()
	produceTimeout(t, tb, "ra", 1, 5000, 2)
	if f := <-fetched; f.ErrorCode != 0 || batchesEnd(t, f.RecordBatches) != 7 {
		t.Fatalf("follower long poll: code %d, %d bytes", f.ErrorCode, len(f.RecordBatches))
	}

	// Leadership lost while waiting: NOT_LEADER_OR_FOLLOWER.
	go func() { done <- produceTimeout(t, tb, "ra", -1, 30000, 1) }()
	for { // the append happens before the wait
		ch := p.Changed()
		if p.LogEndOffset() >= 8 {
			break
		}
		<-ch
	}
	if err := p.BecomeFollower(epoch+1, fakeFollower); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("acks=all when leadership is lost: code %d", r.ErrorCode)
	}
}

func TestHandlersReplicationFollowerAndEpochErrors(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "rf", 1, map[string]*string{"min.insync.replicas": ptr("2")})
	cl := tb.client(t)
	p := replicatedPartition(t, tb, "rf")
	epoch := p.LeaderEpoch()
	self := tb.b.NodeID()

	// ISR {leader, 99} meets min.insync.replicas=2; ISR {leader} does not.
	if r := produceTimeout(t, tb, "rf", 1, 5000, 1); r.ErrorCode != 0 {
		t.Fatalf("acks=1: code %d", r.ErrorCode)
	}
	p.SetISR([]int32{self})
	if r := produceTimeout(t, tb, "rf", -1, 5000, 1); r.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all below min ISR: code %d", r.ErrorCode)
	}
	if p.LogEndOffset() != 1 {
		t.Fatalf("refused batch appended: LEO %d", p.LogEndOffset())
	}

	for _, c := range []struct {
		name    string
		replica int32
		epoch   int32
		want    int16
	}{
		{"consumer, fenced epoch", -1, epoch - 1, kerr.FencedLeaderEpoch.Code},
		{"consumer, unknown epoch", -1, epoch + 1, kerr.UnknownLeaderEpoch.Code},
		{"follower, fenced epoch", fakeFollower, epoch - 1, kerr.FencedLeaderEpoch.Code},
		{"follower, unknown epoch", fakeFollower, epoch + 1, kerr.UnknownLeaderEpoch.Code},
		{"unknown replica", 1234, epoch, kerr.NotLeaderForPartition.Code},
		{"follower past the log end", fakeFollower, epoch, kerr.OffsetOutOfRange.Code},
	} {
		offset := int64(0)
		if c.want == kerr.OffsetOutOfRange.Code {
			offset = 10
		}
		if got := fetchAs(t, cl, "rf", c.replica, offset, c.epoch, 0); got.ErrorCode != c.want {
			t.Fatalf("%s: code %d, want %d", c.name, got.ErrorCode, c.want)
		}
	}

	oflep := func(current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4 // sent raw: a client would retry NOT_LEADER_OR_FOLLOWER
		req.ReplicaID = fakeFollower
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "rf"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch, rp.CurrentLeaderEpoch = epoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rawRequest(t, tb.addr, req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	if got := oflep(epoch); got.ErrorCode != 0 || got.LeaderEpoch != epoch || got.EndOffset != 1 {
		t.Fatalf("OffsetForLeaderEpoch from a follower: %+v", got)
	}
	if got := oflep(epoch - 1); got.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("OffsetForLeaderEpoch, fenced: %+v", got)
	}

	// This broker follows now.
	if err := p.BecomeFollower(epoch+1, fakeFollower); err != nil {
		t.Fatal(err)
	}
	if r := produceTimeout(t, tb, "rf", 1, 5000, 1); r.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a follower: code %d", r.ErrorCode)
	}
	if got := fetchAs(t, cl, "rf", -1, 0, -1, 0); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("consumer fetch from a follower: code %d", got.ErrorCode)
	}
	if got := fetchAs(t, cl, "rf", fakeFollower, 0, -1, 0); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower fetch from a follower: code %d", got.ErrorCode)
	}
	if got := oflep(epoch + 1); got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("OffsetForLeaderEpoch on a follower: %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }
