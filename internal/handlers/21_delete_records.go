package handlers

// DeleteRecords, key 21, versions 0-2.
//
// v1 is the same as v0; v2 is flexible.
//
// Each partition's log start offset is raised to the requested offset (-1:
// the high watermark), and the answer's low watermark is the new log start
// offset. As Kafka: internal topics are refused (INVALID_TOPIC_EXCEPTION), a
// topic whose cleanup.policy lacks "delete" is POLICY_VIOLATION, an offset
// beyond the high watermark or negative (other than -1) OFFSET_OUT_OF_RANGE;
// failed partitions answer low watermark -1. This broker is the only
// replica, so there are no followers to wait for and TimeoutMillis is not
// needed.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) deleteRecords(_ context.Context, _ *server.Request, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			low, err := h.deleteRecordsOne(rt.Topic, rp.Partition, rp.Offset)
			sp.LowWatermark = low
			if err != nil {
				sp.LowWatermark = -1
				sp.ErrorCode = h.errCode(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) deleteRecordsOne(topic string, partition int32, offset int64) (int64, error) {
	if broker.IsInternalTopic(topic) {
		return -1, apiErrorf(kerr.InvalidTopicException, "Cannot delete records of internal topic %s", topic)
	}
	t, p, err := h.b.Partition(topic, partition)
	if err != nil {
		return -1, err
	}
	if !slices.Contains(h.b.TopicConfig(t).List("cleanup.policy"), "delete") {
		return -1, apiErrorf(kerr.PolicyViolation, "Records of partition %s-%d can not be deleted due to the configured policy", topic, partition)
	}
	return p.DeleteRecords(offset)
}
