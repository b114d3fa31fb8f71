package handlers

// ListOffsets, key 2, versions 0-11.
//
// v0 answers a list of old-style offsets; v1 (KIP-79) one offset and its
// timestamp; v2 isolation level; v4 (KIP-320) leader epochs; v6 flexible;
// v7 (KIP-734) MAX_TIMESTAMP (-3); v8 (KIP-405) EARLIEST_LOCAL (-4); v9
// LATEST_TIERED (-5); v10 timeout.
//
// Special timestamps: -1 latest (the high watermark, which is also the last
// stable offset here), -2 earliest (the log start offset), -3 the record with
// the largest timestamp, -4 earliest local (= earliest: nothing is tiered),
// -5 latest tiered (none: -1). Any other value finds the first record whose
// timestamp is at least it, or answers offset -1 if there is none.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) listOffsets(_ context.Context, _ *server.Request, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			_, p, err := h.b.Partition(rt.Topic, rp.Partition)
			if err == nil && !p.IsLeader() {
				err = partition.ErrNotLeader // followers serve no offsets
			}
			if err == nil && req.Version >= 4 {
				err = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if err == nil {
				err = h.listOffset(p, rp.Timestamp, &sp)
			}
			if err != nil {
				sp.ErrorCode = h.errCode(err)
			} else if req.Version == 0 {
				if sp.Offset >= 0 && rp.MaxNumOffsets > 0 {
					sp.OldStyleOffsets = []int64{sp.Offset}
				} else {
					sp.OldStyleOffsets = []int64{}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) listOffset(p *partition.Partition, ts int64, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	epoch := p.LeaderEpoch()
	switch ts {
	case -1:
		sp.Offset, sp.LeaderEpoch = p.HighWatermark(), epoch
		return nil
	case -2, -4:
		sp.Offset, sp.LeaderEpoch = p.LogStartOffset(), epoch
		return nil
	case -5:
		return nil
	}
	if ts != -3 && ts < 0 {
		return kerr.InvalidRequest
	}
	at, found, err := p.OffsetForTimestamp(ts)
	if err != nil || !found {
		return err
	}
	sp.Offset, sp.Timestamp, sp.LeaderEpoch = at.Offset, at.Timestamp, at.LeaderEpoch
	return nil
}
