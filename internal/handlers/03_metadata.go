package handlers

// Metadata, key 3, versions 0-13.
//
// v1 adds the controller and internal flag and makes a null topic list mean
// "all" (v0: an empty list means all); v2 cluster id; v4 (KIP-204)
// allow_auto_topic_creation; v5 offline replicas; v7 (KIP-320) leader
// epochs; v8 (KIP-430) authorized operations; v9 flexible; v10 (KIP-516)
// topic ids, and v12 lookup by topic id; v13 a top-level error code.
//
// Brokers, topics and partitions come from the committed metadata image
// this broker has applied (a single broker's too). Answers are encoded once
// per image, controller and request shape (metadata_cache.go), so that a
// flood of Metadata requests costs little more than their framing.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/protocol"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) metadata(_ context.Context, _ *server.Request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	img, controllerID, clusterID := h.cluster.Image(), h.cluster.ControllerID(), h.cluster.ClusterID()
	key := metadataCacheKey(req)
	if e := h.metadataCache.get(img, controllerID, clusterID, key); e != nil {
		return e, nil
	}
	resp, cacheable := h.buildMetadata(req, img, controllerID, clusterID)
	if !cacheable {
		return resp, nil
	}
	e := protocol.NewEncoded(resp)
	h.metadataCache.put(img, controllerID, clusterID, key, e)
	return e, nil
}

// buildMetadata answers req from img; cacheable is false if the answer
// depends on more than img and req (a topic was auto-created, or asked to
// be).
func (h *Handlers) buildMetadata(req *kmsg.MetadataRequest, img *controller.Image, controllerID int32, clusterID string) (_ *kmsg.MetadataResponse, cacheable bool) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	for _, b := range h.clusterBrokers(img) {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ControllerID = controllerID
	resp.ClusterID = &clusterID
	resp.AuthorizedOperations = operationsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}

	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	if all {
		for _, name := range img.TopicNames() {
			resp.Topics = append(resp.Topics, h.metadataTopic(req, img, img.Topics[name]))
		}
		return resp, true
	}
	cacheable = true
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var (
			t  *controller.Topic
			ok bool
		)
		switch {
		case rt.Topic == nil || *rt.Topic == "" && rt.TopicID != [16]byte{}:
			t, ok = img.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		default:
			t, ok = img.Topics[*rt.Topic]
		}
		if !ok {
			var err error
			switch {
			case broker.ValidateTopicName(*rt.Topic) != nil:
				err = broker.ErrInvalidTopic
			case !autoCreate || broker.IsInternalTopic(*rt.Topic):
				err = broker.ErrUnknownTopic
			default:
				cacheable = false
				_, err = h.b.AutoCreateTopic(*rt.Topic)
				if err == nil {
					img = h.cluster.Image()
					t, ok = img.Topics[*rt.Topic]
					if !ok {
						err = broker.ErrTopicExists // created, not applied yet: retry
					}
				}
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
		resp.Topics = append(resp.Topics, h.metadataTopic(req, img, t))
	}
	return resp, cacheable
}

func (h *Handlers) metadataTopic(req *kmsg.MetadataRequest, img *controller.Image, t *controller.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = broker.IsInternalTopic(t.Name)
	mt.AuthorizedOperations = operationsOmitted
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOperations
	}
	h.clusterPartitions(img, &mt, t.Name)
	return mt
}
