package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCLIClusterInfoAndHealth(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "4")

	var info clusterInfo
	b.okJSON(&info, "", "cluster", "info")
	if info.ClusterID != b.node.ClusterID() || info.ControllerID != 1 || len(info.Brokers) != 1 || info.Brokers[0].NodeID != 1 ||
		info.Brokers[0].address() != b.addr || info.Brokers[0].Rack != nil || info.Topics != 1 || info.Partitions != 4 ||
		info.UnderReplicatedPartitions != 0 || info.OfflinePartitions != 0 {
		t.Fatalf("cluster info: %+v", info)
	}
	// The one-voter metadata quorum, from DescribeQuorum.
	if q := info.Quorum; !q.Supported || q.Error != "" || q.LeaderID != 1 || q.HighWatermark <= 0 ||
		len(q.Voters) != 1 || q.Voters[0].ReplicaID != 1 || q.Voters[0].Lag != 0 || len(q.Observers) != 0 {
		t.Fatalf("quorum: %+v", q)
	}
	text := b.ok("", "cluster", "info")
	for _, want := range []string{"CLUSTER\n=======\nID          " + b.node.ClusterID() + "\nCONTROLLER  1\n",
		"ID  HOST       PORT", "\n1*  127.0.0.1  ", "TOPICS            1\nPARTITIONS        4\nUNDER-REPLICATED  0\nOFFLINE           0\n",
		"QUORUM\n======\nLEADER          1\n", "ROLE    ID  LOG-END-OFFSET  LAG"} {
		if !strings.Contains(text, want) {
			t.Errorf("cluster info lacks %q:\n%s", want, text)
		}
	}

	// A single node is healthy: exit status 0.
	out := b.ok("", "cluster", "health")
	if !strings.HasPrefix(out, "HEALTHY                      true\nCONTROLLER                   1\nBROKERS                      1\n") || strings.Contains(out, "unhealthy") {
		t.Fatalf("health:\n%s", out)
	}
	var h healthReport
	b.okJSON(&h, "", "cluster", "health")
	if !h.Healthy || h.ControllerID != 1 || len(h.Brokers) != 1 || len(h.Reasons) != 0 || h.LeaderlessPartitions == nil {
		t.Fatalf("health json: %+v", h)
	}
	if out := b.ok("", "cluster", "health", "--exit-when-healthy", "--interval", "10ms"); !strings.HasPrefix(out, "HEALTHY                      true") {
		t.Fatalf("--exit-when-healthy:\n%s", out)
	}
	// --watch prints the verdict once while it does not change, until
	// interrupted.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := b.runCtx(ctx, "", "cluster", "health", "--watch", "--interval", "20ms")
	if r.err != nil || strings.Count(r.stdout, "HEALTHY") != 1 {
		t.Fatalf("--watch: %v\n%s", r.err, r.stdout)
	}
}

func TestCLIClusterUnreachable(t *testing.T) {
	b := &testBroker{t: t, addr: "127.0.0.1:1"} // nothing listens on port 1
	r := b.fails("connection refused", "", "cluster", "health", "--timeout", "2s")
	if r.stdout != "" {
		t.Fatalf("stdout: %q", r.stdout)
	}
	b.fails("connection refused", "", "topic", "list", "--timeout", "2s")
	b.fails("connection refused", "x\n", "produce", "t", "--timeout", "1s")
}

func TestCLIHealthVerdict(t *testing.T) {
	str := func(s string) *string { return &s }
	brokers := func(ids ...int32) kadm.BrokerDetails {
		var out kadm.BrokerDetails
		for _, id := range ids {
			out = append(out, kgo.BrokerMetadata{NodeID: id, Host: "h", Port: 9092, Rack: str("r")})
		}
		return out
	}
	part := func(p, leader int32, replicas, isr []int32) kadm.PartitionDetail {
		return kadm.PartitionDetail{Topic: "t", Partition: p, Leader: leader, Replicas: replicas, ISR: isr}
	}
	topics := func(ps ...kadm.PartitionDetail) kadm.TopicDetails {
		td := kadm.TopicDetail{Topic: "t", Partitions: kadm.PartitionDetails{}}
		for _, p := range ps {
			td.Partitions[p.Partition] = p
		}
		return kadm.TopicDetails{"t": td}
	}
	three := []int32{1, 2, 3}
	for _, tc := range []struct {
		name    string
		m       kadm.Metadata
		reasons []string
	}{
		{"healthy", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2, 3), Topics: topics(part(0, 1, three, three), part(1, 2, three, three))}, nil},
		{"no topics", kadm.Metadata{Controller: 2, Brokers: brokers(1, 2, 3)}, nil},
		{"controller unknown", kadm.Metadata{Controller: -1, Brokers: brokers(1)}, []string{"no controller known"}},
		{"no brokers", kadm.Metadata{Controller: 1}, []string{"no brokers listed"}},
		{"shrunk ISR", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2, 3), Topics: topics(part(0, 1, three, []int32{1, 2}), part(1, 1, three, three))},
			[]string{"1 under-replicated partitions: t/0"}},
		{"broker down", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2), Topics: topics(part(0, 1, three, []int32{1, 2}))},
			[]string{"brokers down (hold replicas, not in the metadata): 3", "1 under-replicated partitions: t/0"}},
		{"no leader", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2, 3), Topics: topics(part(0, -1, three, three), part(3, 1, three, three))},
			[]string{"1 partitions without a leader: t/0"}},
		{"leader not listed", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2), Topics: topics(part(0, 3, three, three))},
			[]string{"brokers down (hold replicas, not in the metadata): 3", "1 partitions without a leader: t/0"}},
		{"offline replica", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2, 3), Topics: topics(func() kadm.PartitionDetail {
			p := part(0, 1, three, three)
			p.OfflineReplicas = []int32{3}
			return p
		}())}, []string{"1 under-replicated partitions: t/0"}},
		{"partition error", kadm.Metadata{Controller: 1, Brokers: brokers(1), Topics: topics(func() kadm.PartitionDetail {
			p := part(0, 1, []int32{1}, []int32{1})
			p.Err = kerr.KafkaStorageError
			return p
		}())}, []string{"1 partitions with errors: t/0 (" + kerr.KafkaStorageError.Error() + ")"}},
		{"replica not available is not an error of its own", kadm.Metadata{Controller: 1, Brokers: brokers(1, 2), Topics: topics(func() kadm.PartitionDetail {
			p := part(0, 1, []int32{1, 2}, []int32{1})
			p.Err = kerr.ReplicaNotAvailable
			return p
		}())}, []string{"1 under-replicated partitions: t/0"}},
		{"topic error", kadm.Metadata{Controller: 1, Brokers: brokers(1), Topics: kadm.TopicDetails{"x": {Topic: "x", Err: kerr.LeaderNotAvailable}}},
			[]string{"1 partitions with errors: x (" + kerr.LeaderNotAvailable.Error() + ")"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := assessHealth(tc.m)
			if h.Healthy != (len(tc.reasons) == 0) || strings.Join(h.Reasons, "\n") != strings.Join(tc.reasons, "\n") {
				t.Fatalf("healthy %v, reasons:\n%s\nwant:\n%s", h.Healthy, strings.Join(h.Reasons, "\n"), strings.Join(tc.reasons, "\n"))
			}
			if err := verdict(h); (err == nil) != h.Healthy {
				t.Fatalf("verdict %v for healthy %v", err, h.Healthy)
			}
		})
	}

	// Long lists are cut.
	var ps []kadm.PartitionDetail
	for i := range int32(12) {
		ps = append(ps, part(i, -1, []int32{1}, []int32{1}))
	}
	h := assessHealth(kadm.Metadata{Controller: 1, Brokers: brokers(1), Topics: topics(ps...)})
	if want := "12 partitions without a leader: t/0, t/1, t/2, t/3, t/4, t/5, t/6, t/7, t/8, t/9 and 2 more"; h.Reasons[0] != want {
		t.Fatalf("reason %q, want %q", h.Reasons[0], want)
	}
}

func TestCLIQuorumResponse(t *testing.T) {
	replica := func(id int32, leo, fetch int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, fetch
		return r
	}
	resp := kmsg.NewPtrDescribeQuorumResponse()
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	rp.LeaderID, rp.LeaderEpoch, rp.HighWatermark = 2, 7, 100
	rp.CurrentVoters = append(rp.CurrentVoters, replica(1, 90, 9_000), replica(2, 100, 10_000), replica(3, 100, 9_500))
	rp.Observers = append(rp.Observers, replica(4, 40, -1))
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)

	q := quorumFromResponse(resp)
	if !q.Supported || q.Error != "" || q.LeaderID != 2 || q.LeaderEpoch != 7 || q.HighWatermark != 100 ||
		len(q.Voters) != 3 || q.Voters[0].Lag != 10 || q.Voters[1].Lag != 0 || len(q.Observers) != 1 || q.Observers[0].Lag != 60 {
		t.Fatalf("quorum: %+v", q)
	}
	var b strings.Builder
	info := clusterInfo{ClusterID: "c", ControllerID: 2, Brokers: []brokerEntry{{NodeID: 2, Host: "h", Port: 9092}}, Quorum: q}
	if err := printClusterInfo(&b, info, time.UnixMilli(10_000)); err != nil {
		t.Fatal(err)
	}
	want := "QUORUM\n======\nLEADER          2\nLEADER-EPOCH    7\nHIGH-WATERMARK  100\n\n" +
		"ROLE      ID  LOG-END-OFFSET  LAG  LAST-FETCH  LAST-CAUGHT-UP\n" +
		"voter     1   90              10   1s ago      1s ago\n" +
		"leader    2   100             0    0s ago      0s ago\n" +
		"voter     3   100             0    500ms ago   500ms ago\n" +
		"observer  4   40              60   -           -\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Fatalf("text:\n%s\nwant suffix:\n%s", b.String(), want)
	}

	// The cluster does not serve it: said so, the rest of the info stays.
	for _, err := range []error{kerr.UnsupportedVersion, errQuorumUnsupported} {
		if q := quorumFailed(err); q.Supported || q.Error != "DescribeQuorum not supported by this cluster" {
			t.Errorf("%v: %+v", err, q)
		}
	}
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	if q := quorumFromResponse(resp); q.Supported || q.Error != "DescribeQuorum not supported by this cluster" {
		t.Errorf("UNSUPPORTED_VERSION in the response: %+v", q)
	}
	resp.ErrorCode = 0
	resp.Topics[0].Partitions[0].ErrorCode = kerr.NotLeaderForPartition.Code
	if q := quorumFromResponse(resp); !q.Supported || !strings.Contains(q.Error, "NOT_LEADER_FOR_PARTITION") || q.LeaderID != -1 {
		t.Errorf("partition error: %+v", q)
	}
}
