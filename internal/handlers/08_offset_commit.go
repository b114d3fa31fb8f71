package handlers

// OffsetCommit, key 8, versions 0-10.
//
// v1 adds the generation, member id and a per-partition commit timestamp;
// v2 (replacing that timestamp) a retention time, removed again in v5
// (KIP-211) where offsets expire only once the group is Empty; v3-v4 same
// as v2; v6 (KIP-320) the leader epoch; v7 (KIP-345) the group instance id;
// v8 flexible; v9 same as v8 (usable by KIP-848 consumers); v10 names
// topics by id.
//
// Partitions of unknown topics (or ids) get UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID); the rest go to the coordinator, which answers once
// they are in __consumer_offsets. Generation -1 with no member id is a
// commit from outside group management (simple consumers, admin tools),
// allowed while the group is Empty, as Kafka does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) offsetCommit(_ context.Context, _ *server.Request, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID, RetentionMs: -1}
	if req.Version >= 2 && req.Version <= 4 {
		cr.RetentionMs = req.RetentionTimeMillis
	}
	type slot struct{ topic, partition int }
	var slots []slot
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, topicErr := h.commitTopic(req.Version, rt.Topic, rt.TopicID)
		if t != nil {
			st.Topic = t.Name
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case topicErr != nil:
				sp.ErrorCode = h.errCode(topicErr)
			case rp.Partition < 0 || int(rp.Partition) >= len(h.b.Partitions(t)):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				cr.Offsets = append(cr.Offsets, group.CommitOffset{
					TopicPartition: group.TopicPartition{Topic: t.Name, Partition: rp.Partition},
					Offset:         rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata, Timestamp: rp.Timestamp,
				})
				slots = append(slots, slot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(cr.Offsets) == 0 {
		return resp, nil
	}
	for i, err := range h.groups.CommitOffsets(cr) {
		s := slots[i]
		resp.Topics[s.topic].Partitions[s.partition].ErrorCode = h.errCode(err)
	}
	return resp, nil
}

// commitTopic finds a topic named in an OffsetCommit or OffsetFetch: by id
// from v10, by name before.
func (h *Handlers) commitTopic(version int16, name string, id [16]byte) (*broker.Topic, error) {
	if version >= 10 {
		if t, ok := h.b.TopicByID(id); ok {
			return t, nil
		}
		return nil, kerr.UnknownTopicID
	}
	if t, ok := h.b.Topic(name); ok {
		return t, nil
	}
	return nil, broker.ErrUnknownTopic
}
