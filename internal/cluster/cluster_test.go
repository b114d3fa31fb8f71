package cluster_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func createTopic(t *testing.T, r *rig, name string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(r.client())
	resp, err := adm.CreateTopic(testCtx(t), partitions, rf, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
	waitFor(t, 10*time.Second, "every partition led", func() bool {
		for p := range partitions {
			if r.partition(name, p).Leader < 0 {
				return false
			}
		}
		return true
	})
}

// produceN writes n acks=all records to partition 0 and returns them by
// offset.
func produceN(t *testing.T, cl *kgo.Client, topic, prefix string, n int) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		res := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)})
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		r, _ := res.First()
		out[r.Offset] = v
	}
	return out
}

// readAll consumes partition 0 from the start up to its end.
func readAll(t *testing.T, r *rig, topic string, want int) map[int64]string {
	t.Helper()
	cl := r.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := map[int64]string{}
	ctx := testCtx(t)
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), want)
		}
		fs.EachRecord(func(rec *kgo.Record) { got[rec.Offset] = string(rec.Value) })
	}
	return got
}

func manualPartitioner() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

// A partition leader that crashes is fenced once its lease expires and a
// follower from the ISR leads at a higher epoch; every acknowledged
// record is on the new leader, at its offset. The restarted broker is
// fenced at its registration (a new incarnation) and rejoins the ISR as a
// follower, without taking back leadership it held before the crash.
func TestClusterLeaderFailover(t *testing.T) {
	r := newRig(t, 3)
	createTopic(t, r, "f", 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	cl := r.client(manualPartitioner(), kgo.RequiredAcks(kgo.AllISRAcks()))
	acked := produceN(t, cl, "f", "before", 20)
	before := r.partition("f", 0)
	old := r.node(before.Leader)
	r.abort(old)
	waitFor(t, 10*time.Second, "a new leader", func() bool {
		p := r.partition("f", 0)
		return p.Leader >= 0 && p.Leader != old.id && p.LeaderEpoch > before.LeaderEpoch
	})
	img := r.image()
	if img.Live(old.id) {
		t.Fatalf("crashed broker %d is still live", old.id)
	}
	after := r.partition("f", 0)
	if !slices.Contains(before.ISR, after.Leader) {
		t.Fatalf("new leader %d was not in the ISR %v", after.Leader, before.ISR)
	}
	for off, v := range produceN(t, cl, "f", "after", 10) {
		acked[off] = v
	}
	got := readAll(t, r, "f", len(acked))
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d: read %q, acknowledged %q", off, got[off], v)
		}
	}

	r.start(old)
	waitFor(t, 15*time.Second, "the restarted broker back in the ISR", func() bool {
		return slices.Contains(r.partition("f", 0).ISR, old.id)
	})
	if p := r.partition("f", 0); p.Leader == old.id && p.LeaderEpoch <= after.LeaderEpoch {
		t.Fatalf("restarted broker leads at an old epoch: %+v", p)
	}
}

// A follower that stops fetching leaves the ISR after replica.lag.time.max.ms
// and acks=all goes on with the rest (min.insync.replicas 2); it rejoins
// the ISR once it has caught up.
func TestClusterISRShrinksAndExpands(t *testing.T) {
	r := newRig(t, 3)
	createTopic(t, r, "i", 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	cl := r.client(manualPartitioner(), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN(t, cl, "i", "a", 5)
	p := r.partition("i", 0)
	var follower *rigNode
	for _, id := range p.Replicas {
		if id != p.Leader && id != r.controllerNode().id {
			follower = r.node(id)
			break
		}
	}
	if follower == nil { // the leader leads the quorum as well
		for _, id := range p.Replicas {
			if id != p.Leader {
				follower = r.node(id)
			}
		}
	}
	r.abort(follower)
	waitFor(t, 10*time.Second, "the ISR without the stopped follower", func() bool {
		return !slices.Contains(r.partition("i", 0).ISR, follower.id)
	})
	produceN(t, cl, "i", "b", 5)
	r.start(follower)
	waitFor(t, 15*time.Second, "the follower back in the ISR", func() bool {
		return slices.Contains(r.partition("i", 0).ISR, follower.id)
	})
	produceN(t, cl, "i", "c", 5)
	if got := readAll(t, r, "i", 15); len(got) != 15 {
		t.Fatalf("read %d records", len(got))
	}
}

// The quorum leader crashes: another voter leads the metadata quorum and
// admin changes work through any broker.
func TestClusterControllerFailover(t *testing.T) {
	r := newRig(t, 3)
	ctl := r.controllerNode()
	r.abort(ctl)
	waitFor(t, 10*time.Second, "a new quorum leader", func() bool {
		for _, rn := range r.nodes {
			if rn.n != nil && rn.n.Cluster().IsController() {
				return true
			}
		}
		return false
	})
	createTopic(t, r, "after", 2, 2, nil)
	cl := r.client(manualPartitioner(), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceN(t, cl, "after", "x", 3)
}

// A broker cut off from the quorum (the other two down) still hands out
// producer ids from the block it holds, so idempotent producers start
// there without a quorum round trip; a change it cannot make is refused
// within its timeout rather than hanging.
func TestClusterProducerIDsWithoutQuorum(t *testing.T) {
	r := newRig(t, 3)
	survivor := r.node(1)
	r.abort(r.node(2))
	r.abort(r.node(3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	for range 5 {
		id, err := survivor.n.Broker().AllocateProducerID(ctx)
		if err != nil || id < 0 {
			t.Fatalf("InitProducerId without a quorum: %d %v", id, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("producer ids without a quorum took %v", took)
	}
}

// DescribeQuorum, sent to any broker, describes the metadata quorum from
// its leader: the leader and its term, the commit index as high watermark,
// every voter with the metadata offset it reported, and their controller
// listeners.
func TestClusterDescribeQuorum(t *testing.T) {
	r := newRig(t, 3)
	ctl := r.controllerNode()
	var other *rigNode
	for _, rn := range r.nodes {
		if rn != ctl {
			other = rn
			break
		}
	}
	cl := r.client(kgo.SeedBrokers(other.addr))
	describe := func() *kmsg.DescribeQuorumResponse {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	waitFor(t, 10*time.Second, "every voter reported", func() bool {
		resp := describe()
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return false
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID != ctl.id || p.HighWatermark <= 0 || len(p.CurrentVoters) != 3 {
			return false
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < 0 || v.LastFetchTimestamp < 0 {
				return false
			}
		}
		if len(resp.Nodes) != 3 {
			return false
		}
		for _, nd := range resp.Nodes {
			if len(nd.Listeners) != 1 || net.JoinHostPort(nd.Listeners[0].Host, strconv.Itoa(int(nd.Listeners[0].Port))) != r.node(nd.NodeID).ctlAddr {
				return false
			}
		}
		return true
	})
}

// CreateTopics with an explicit replica assignment (kafka-topics
// --replica-assignment), sent to a broker that does not lead the quorum,
// places the replicas as asked, the first of each the leader; an
// unregistered broker is INVALID_REPLICA_ASSIGNMENT.
func TestClusterCreateTopicWithAssignment(t *testing.T) {
	r := newRig(t, 3)
	ctl := r.controllerNode()
	var other *rigNode
	for _, rn := range r.nodes {
		if rn != ctl {
			other = rn
			break
		}
	}
	cl := r.client(kgo.SeedBrokers(other.addr))
	create := func(name string, assignment ...[]int32) kmsg.CreateTopicsResponseTopic {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for i, rs := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), rs
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0]
	}
	want := [][]int32{{2, 1, 3}, {3, 2, 1}, {1, 3, 2}}
	if st := create("placed", want...); st.ErrorCode != 0 || st.NumPartitions != 3 || st.ReplicationFactor != 3 {
		t.Fatalf("create: %v %+v", kerr.ErrorForCode(st.ErrorCode), st)
	}
	waitFor(t, 10*time.Second, "the placement applied", func() bool {
		for i, rs := range want {
			p := r.partition("placed", int32(i))
			if !slices.Equal(p.Replicas, rs) || p.Leader != rs[0] {
				return false
			}
		}
		return true
	})
	if st := create("misplaced", []int32{1, 9}); st.ErrorCode != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("an unregistered broker: %v", kerr.ErrorForCode(st.ErrorCode))
	}
}
