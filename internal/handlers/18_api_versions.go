package handlers

// ApiVersions, key 18, versions 0-5.
//
// v1 adds throttle time; v3 (KIP-511) is flexible and carries the client's
// software name and version, which must match Kafka's pattern. A request at a
// version the broker does not serve is answered in v0 with
// UNSUPPORTED_VERSION and the full table (KIP-35/KIP-511), so the client can
// retry with a version both sides know; the server package arranges that.

import (
	"context"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

// softwarePattern is Kafka's rule for client software names and versions.
var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (h *Handlers) apiVersions(_ context.Context, r *server.Request, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	switch {
	case r.UnsupportedVersion:
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	case req.Version >= 3 && (!softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion)):
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	keys := make([]int16, 0, len(h.apis))
	for k := range h.apis {
		// The KRaft broker-to-controller requests are served on this
		// listener, but, as a Kafka broker's listener, not advertised.
		if !controllerAPIs[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := h.apis[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	resp.FinalizedFeaturesEpoch = -1
	return resp, nil
}

// controllerAPIs are AlterPartition, BrokerRegistration, BrokerHeartbeat and
// AllocateProducerIds: brokers send them to the quorum leader, clients never.
var controllerAPIs = map[int16]bool{56: true, 62: true, 63: true, 67: true}
