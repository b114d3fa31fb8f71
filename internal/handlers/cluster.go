package handlers

// The cluster: Metadata, FindCoordinator and DescribeCluster answer from
// the committed metadata image; the KRaft requests brokers send to the
// quorum leader (BrokerRegistration, BrokerHeartbeat, AlterPartition,
// AllocateProducerIds) are passed to the cluster layer; ElectLeaders goes to
// the quorum leader. A single broker is a cluster of one, on the same path.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/server"
)

// Cluster is what the handlers need of the cluster layer.
type Cluster interface {
	// Image is the metadata as this broker applied it.
	Image() *controller.Image
	// ControllerID is the metadata quorum leader, -1 if none.
	ControllerID() int32
	IsController() bool
	// ServeController answers a broker-to-controller request;
	// connClosed closes with the connection it came on.
	ServeController(ctx context.Context, req kmsg.Request, connClosed <-chan struct{}) (kmsg.Response, error)
	// ForwardToController sends a client request to the quorum leader.
	ForwardToController(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	// ElectLeaders runs elections on the quorum leader.
	ElectLeaders(preferred bool, parts []controller.TopicPartition) (map[controller.TopicPartition]error, error)
	// ElectionCode maps an ElectLeaders error to a Kafka code.
	ElectionCode(err error) int16
	// ClusterID is the id the metadata log names.
	ClusterID() string
	// DescribeQuorum answers DescribeQuorum (forwarded to the quorum
	// leader from other brokers).
	DescribeQuorum(ctx context.Context, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error)
}

// clusterBrokers lists the live (registered, unfenced) brokers of the
// image, as Kafka's Metadata does: a broker not registered yet is not
// listed, even by itself.
func (h *Handlers) clusterBrokers(img *controller.Image) []*controller.Broker {
	return img.LiveBrokers()
}

// clusterPartitions fills a Metadata topic's partitions from the image.
func (h *Handlers) clusterPartitions(img *controller.Image, mt *kmsg.MetadataResponseTopic, name string) {
	t, ok := img.Topics[name]
	if !ok {
		mt.ErrorCode = kerr.LeaderNotAvailable.Code
		return
	}
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = slices.Clone(p.Replicas)
		mp.ISR = slices.Clone(p.ISR)
		mp.OfflineReplicas = []int32{}
		for _, r := range p.Replicas {
			if !img.Live(r) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
}

// coordinatorAddr finds the broker leading an offsets partition.
func (h *Handlers) coordinatorAddr(partition int32) (id int32, host string, port int32, err error) {
	img := h.cluster.Image()
	t, ok := img.Topics["__consumer_offsets"]
	if !ok || int(partition) >= len(t.Partitions) {
		return -1, "", -1, apiErrorf(kerr.CoordinatorNotAvailable, "The coordinator is not available.")
	}
	leader := t.Partitions[partition].Leader
	if leader == h.b.NodeID() {
		return leader, h.host, h.port, nil
	}
	b, ok := img.Brokers[leader]
	if leader < 0 || !ok || !img.Live(leader) {
		return -1, "", -1, apiErrorf(kerr.CoordinatorNotAvailable, "The coordinator is not available.")
	}
	return b.ID, b.Host, b.Port, nil
}

// controllerRequest serves AlterPartition (56, v0-3), BrokerRegistration
// (62, v0-3), BrokerHeartbeat (63, v0-1) and AllocateProducerIds (67, v0):
// KRaft's broker-to-controller requests, answered by the quorum leader. AlterPartition v2+ (topic ids) and v3
// (KIP-903 broker epochs in the ISR) are decoded too.
func (h *Handlers) controllerRequest(ctx context.Context, r *server.Request) (kmsg.Response, error) {
	return h.cluster.ServeController(ctx, r.Body, r.ConnClosed)
}

// ElectLeaders, key 43, versions 0-2: v1 (KIP-460) the election type
// (preferred or unclean) and a top-level error; v2 flexible. Answered by
// the quorum leader; other brokers forward the request there.
func (h *Handlers) electLeaders(ctx context.Context, _ *server.Request, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if !h.cluster.IsController() {
		return h.cluster.ForwardToController(ctx, req)
	}
	var parts []controller.TopicPartition
	if req.Topics != nil {
		parts = []controller.TopicPartition{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, controller.TopicPartition{Topic: rt.Topic, Partition: p})
			}
		}
	}
	results, err := h.cluster.ElectLeaders(req.ElectionType == 0, parts)
	if err != nil {
		resp.ErrorCode = h.errCode(err)
		return resp, nil
	}
	byTopic := map[string]*kmsg.ElectLeadersResponseTopic{}
	var order []string
	for tp, err := range results {
		st, ok := byTopic[tp.Topic]
		if !ok {
			nt := kmsg.NewElectLeadersResponseTopic()
			nt.Topic = tp.Topic
			st = &nt
			byTopic[tp.Topic] = st
			order = append(order, tp.Topic)
		}
		// Kafka leaves partitions with nothing to do out of an "all
		// partitions" answer.
		if req.Topics == nil && err != nil {
			continue
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = tp.Partition
		if err != nil {
			sp.ErrorCode = h.cluster.ElectionCode(err)
			sp.ErrorMessage = errMessage(err)
		}
		st.Partitions = append(st.Partitions, sp)
	}
	slices.Sort(order)
	for _, name := range order {
		st := byTopic[name]
		slices.SortFunc(st.Partitions, func(a, b kmsg.ElectLeadersResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, *st)
		}
	}
	return resp, nil
}

// DescribeQuorum, key 55, versions 0-2 (KIP-595; v1 KIP-836 timestamps; v2
// KIP-853 directory ids and nodes): the metadata quorum, from its leader.
func (h *Handlers) describeQuorum(ctx context.Context, _ *server.Request, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	return h.cluster.DescribeQuorum(ctx, req)
}
