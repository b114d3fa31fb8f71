package handlers

// CreatePartitions, key 37, versions 0-3.
//
// v1 is the same as v0; v2 is flexible; v3 (KIP-599) may answer
// THROTTLING_QUOTA_EXCEEDED (never here).
//
// As Kafka's controller does: a topic named twice is INVALID_REQUEST; an
// unknown topic UNKNOWN_TOPIC_OR_PARTITION; a count not above the current one
// INVALID_PARTITIONS; a manual assignment must hold exactly one replica list
// per new partition (else INVALID_REPLICA_ASSIGNMENT), each naming this
// broker once, since it is the only broker and every topic has replication
// factor 1. validate_only checks everything and changes nothing.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) createPartitions(_ context.Context, _ *server.Request, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	eachTopicOnce(len(req.Topics), func(i int) string { return req.Topics[i].Topic }, func(i int, dup bool) {
		rt := &req.Topics[i]
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := errDuplicateTopic
		if !dup {
			err = h.createPartitionsOne(rt, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = h.errCode(err)
			st.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	})
	return resp, nil
}

func (h *Handlers) createPartitionsOne(rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	// A count that is not an increase is the broker's to refuse; the
	// assignment only matters for a real increase, as in Kafka.
	if t, ok := h.b.Topic(rt.Topic); ok && rt.Assignment != nil {
		if add := rt.Count - int32(len(h.b.Partitions(t))); add > 0 {
			if int32(len(rt.Assignment)) != add {
				return apiErrorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(rt.Assignment))
			}
			for _, a := range rt.Assignment {
				if err := h.checkReplicas(a.Replicas); err != nil {
					return err
				}
			}
		}
	}
	return h.b.CreatePartitions(rt.Topic, rt.Count, validateOnly)
}
