package handlers

// ListGroups, key 16, versions 0-5.
//
// v1 adds the throttle time; v2 same; v3 flexible; v4 (KIP-518) a state
// filter and each group's state; v5 (KIP-848) a type filter and each
// group's type. Filters compare case-insensitively, as Kafka's do; every
// group here is "classic".
//
// A single broker coordinates every group, so this is the whole cluster's
// list. While a partition of __consumer_offsets is loading the answer is
// COORDINATOR_LOAD_IN_PROGRESS, with the groups already loaded.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) listGroups(_ context.Context, _ *server.Request, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	groups, err := h.groups.ListGroups(req.StatesFilter, req.TypesFilter)
	resp.ErrorCode = h.errCode(err)
	for _, g := range groups {
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.Group, g.ProtocolType, g.State, g.Type
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
