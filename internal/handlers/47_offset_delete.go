package handlers

// OffsetDelete, key 47, version 0 (KIP-496, Kafka 2.4).
//
// Removes committed offsets of a group: any of an Empty group's; of a live
// consumer group only those of topics no member subscribes to (the others
// get GROUP_SUBSCRIBED_TO_TOPIC); none of a live group of another protocol
// type (NON_EMPTY_GROUP). Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION. A group-level error (GROUP_ID_NOT_FOUND …)
// comes with no partitions, as Kafka answers.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) offsetDelete(_ context.Context, _ *server.Request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	type slot struct{ topic, partition int }
	var (
		parts []group.TopicPartition
		slots []slot
	)
	for ti, rt := range req.Topics {
		st := kmsg.OffsetDeleteResponseTopic{Topic: rt.Topic}
		t, known := h.b.Topic(rt.Topic)
		for pi, rp := range rt.Partitions {
			sp := kmsg.OffsetDeleteResponseTopicPartition{Partition: rp.Partition}
			if !known || rp.Partition < 0 || int(rp.Partition) >= len(h.b.Partitions(t)) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				parts = append(parts, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				slots = append(slots, slot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	errs, groupErr := h.groups.DeleteOffsets(req.Group, parts)
	if groupErr != nil {
		resp.ErrorCode, resp.Topics = h.errCode(groupErr), nil
		return resp, nil
	}
	for i, err := range errs {
		s := slots[i]
		resp.Topics[s.topic].Partitions[s.partition].ErrorCode = h.errCode(err)
	}
	return resp, nil
}
