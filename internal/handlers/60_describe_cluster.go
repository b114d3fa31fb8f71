package handlers

// DescribeCluster, key 60, versions 0-2 (KIP-700).
//
// v1 (KIP-919) adds endpoint_type: 1 asks about brokers, 2 about
// controllers; v2 (KIP-1073) include_fenced_brokers and each broker's fenced
// flag.
//
// Brokers come from the metadata image: the live ones, and with
// include_fenced_brokers the fenced ones too, flagged. Clients reach this
// node on its broker listener, so, as Kafka's broker answers, endpoint
// type 2 is MISMATCHED_ENDPOINT_TYPE and any other unknown type
// UNSUPPORTED_ENDPOINT_TYPE (INVALID_REQUEST at v0, where neither code
// exists).

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func (h *Handlers) describeCluster(_ context.Context, _ *server.Request, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	var err error
	switch req.EndpointType {
	case endpointBrokers:
	case endpointControllers:
		err = apiErrorf(kerr.MismatchedEndpointType, "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
	default:
		err = apiErrorf(kerr.UnsupportedEndpointType, "Unsupported endpoint type %d", req.EndpointType)
	}
	if err != nil {
		resp.ErrorCode = h.errCode(err)
		if req.Version == 0 {
			resp.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.ErrorMessage = errMessage(err)
		return resp, nil
	}
	resp.EndpointType = endpointBrokers
	resp.ClusterID = h.cluster.ClusterID()
	resp.ControllerID = h.cluster.ControllerID()
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	img := h.cluster.Image()
	brokers := h.clusterBrokers(img)
	if req.IncludeFencedBrokers {
		brokers = brokers[:0:0]
		for _, id := range slices.Sorted(maps.Keys(img.Brokers)) {
			brokers = append(brokers, img.Brokers[id])
		}
	}
	for _, b := range brokers {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
		rb.IsFenced = !img.Live(b.ID)
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}
