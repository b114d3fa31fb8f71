package handlers

// Metadata, key 3, versions 0-13.
//
// v1 adds the controller and internal flag and makes a null topic list mean
// "all" (v0: an empty list means all); v2 cluster id; v4 (KIP-204)
// allow_auto_topic_creation; v5 offline replicas; v7 (KIP-320) leader
// epochs; v8 (KIP-430) authorized operations; v9 flexible; v10 (KIP-516)
// topic ids, and v12 lookup by topic id; v13 a top-level error code.
//
// A single broker is the only replica of every partition, so it is the
// leader and the whole ISR; in a cluster, brokers and partitions come from
// the committed metadata image (cluster.go).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) metadata(_ context.Context, _ *server.Request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	self := h.b.NodeID()
	if h.cluster != nil {
		for _, b := range h.clusterBrokers(h.cluster.Image()) {
			rb := kmsg.NewMetadataResponseBroker()
			rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
			if b.Rack != "" {
				rack := b.Rack
				rb.Rack = &rack
			}
			resp.Brokers = append(resp.Brokers, rb)
		}
		resp.ControllerID = h.cluster.ControllerID()
	} else {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = self, h.host, h.port
		resp.Brokers = append(resp.Brokers, rb)
		resp.ControllerID = self
	}
	clusterID := h.clusterID()
	resp.ClusterID = &clusterID
	resp.AuthorizedOperations = operationsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}

	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	if all {
		for _, name := range h.b.TopicNames() {
			if t, ok := h.b.Topic(name); ok {
				resp.Topics = append(resp.Topics, h.metadataTopic(req, t))
			}
		}
		return resp, nil
	}
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var (
			t  *broker.Topic
			ok bool
		)
		switch {
		case rt.Topic == nil || *rt.Topic == "" && rt.TopicID != [16]byte{}:
			t, ok = h.b.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		default:
			t, ok = h.b.Topic(*rt.Topic)
		}
		if !ok {
			var err error
			switch {
			case broker.ValidateTopicName(*rt.Topic) != nil:
				err = broker.ErrInvalidTopic
			case !autoCreate || broker.IsInternalTopic(*rt.Topic):
				err = broker.ErrUnknownTopic
			default:
				t, err = h.b.AutoCreateTopic(*rt.Topic)
			}
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = rt.Topic
				mt.ErrorCode = h.errCode(err)
				if errors.Is(err, broker.ErrTopicExists) {
					mt.ErrorCode = kerr.LeaderNotAvailable.Code
				}
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		resp.Topics = append(resp.Topics, h.metadataTopic(req, t))
	}
	return resp, nil
}

func (h *Handlers) metadataTopic(req *kmsg.MetadataRequest, t *broker.Topic) kmsg.MetadataResponseTopic {
	self := h.b.NodeID()
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = broker.IsInternalTopic(t.Name)
	mt.AuthorizedOperations = operationsOmitted
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOperations
	}
	if h.cluster != nil {
		h.clusterPartitions(h.cluster.Image(), &mt, t.Name)
		return mt
	}
	for _, p := range h.b.Partitions(t) {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = self
		mp.LeaderEpoch = p.LeaderEpoch()
		mp.Replicas = []int32{self}
		mp.ISR = []int32{self}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
