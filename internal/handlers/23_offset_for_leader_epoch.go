package handlers

// OffsetForLeaderEpoch, key 23, versions 0-4.
//
// v1 (KIP-279) returns the leader epoch found; v2 (KIP-320) fences with the
// current leader epoch; v3 adds the replica id of follower requests; v4
// flexible. The answer is the end offset of the largest epoch at or below
// the one asked, from the partition's leader-epoch checkpoint: what a
// follower or a consumer uses to detect log truncation. As in Kafka, only
// the leader answers, followers' requests (replica id ≥ 0) and consumers'
// alike: NOT_LEADER_OR_FOLLOWER elsewhere, after the epoch fencing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) offsetForLeaderEpoch(_ context.Context, _ *server.Request, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			_, p, err := h.b.Partition(rt.Topic, rp.Partition)
			if err == nil && req.Version >= 2 {
				err = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if err == nil && !p.IsLeader() {
				err = partition.ErrNotLeader
			}
			if err != nil {
				sp.ErrorCode = h.errCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
