package cluster

// DescribeQuorum (KIP-595, KIP-836, KIP-853): the metadata quorum as its
// leader sees it. A broker that does not lead the quorum forwards the
// request to the one that does, as Kafka's brokers do.
//
// Gregor's metadata log is hashicorp/raft's, so offsets are Raft log
// indexes and the leader epoch is the Raft term. The leader knows the
// others' progress from their broker heartbeats (the metadata offset each
// has applied, and when it said so), not from Raft's replication state,
// which the library does not expose: a replica's LogEndOffset is the
// offset it last reported having applied (-1 before any report), its
// LastFetchTimestamp that report's time, and LastCaughtUpTimestamp the last
// report at or past the commit index of that moment.

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is KRaft's name for the metadata log.
const metadataTopic = "__cluster_metadata"

// DescribeQuorum answers a DescribeQuorum request.
func (n *Node) DescribeQuorum(ctx context.Context, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	if !n.IsController() {
		leader := n.ControllerID()
		if leader < 0 {
			resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
			resp.ErrorCode = kerr.NotLeaderForPartition.Code
			return resp, nil
		}
		return n.pool.Request(ctx, leader, req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != metadataTopic || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if req.Version >= 2 {
					sp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("the metadata log is %s-0", metadataTopic))
				}
			} else if err := n.describeQuorumPartition(&sp, resp, req.Version); err != nil {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (n *Node) describeQuorumPartition(sp *kmsg.DescribeQuorumResponseTopicPartition, resp *kmsg.DescribeQuorumResponse, version int16) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	stats := n.raft.Stats()
	commit, _ := strconv.ParseInt(stats["commit_index"], 10, 64)
	last, _ := strconv.ParseInt(stats["last_log_index"], 10, 64)
	sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = n.id, int32(n.raft.CurrentTerm()), commit
	now := n.now()
	img := n.committed()
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	for _, s := range f.Configuration().Servers {
		id64, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		id := int32(id64)
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = id, -1
		if id == n.id {
			rs.LogEndOffset = last
			rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = now.UnixMilli(), now.UnixMilli()
		} else if r, ok := n.leases.applied[id]; ok {
			rs.LogEndOffset, rs.LastFetchTimestamp = r.offset, r.at.UnixMilli()
			if !r.caughtUp.IsZero() {
				rs.LastCaughtUpTimestamp = r.caughtUp.UnixMilli()
			}
		}
		if s.Suffrage == raft.Voter {
			sp.CurrentVoters = append(sp.CurrentVoters, rs)
		} else {
			sp.Observers = append(sp.Observers, rs)
		}
		if version >= 2 {
			node := kmsg.NewDescribeQuorumResponseNode()
			node.NodeID = id
			addr := string(s.Address)
			if b, ok := img.Brokers[id]; ok && b.ControllerAddr != "" {
				addr = b.ControllerAddr
			}
			if host, port, err := net.SplitHostPort(addr); err == nil {
				p, _ := strconv.Atoi(port)
				l := kmsg.NewDescribeQuorumResponseNodeListener()
				l.Name, l.Host, l.Port = "CONTROLLER", host, uint16(p)
				node.Listeners = append(node.Listeners, l)
			}
			resp.Nodes = append(resp.Nodes, node)
		}
	}
	return nil
}
