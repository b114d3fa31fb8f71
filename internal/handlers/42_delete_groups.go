package handlers

// DeleteGroups, key 42, versions 0-2.
//
// v1 same as v0; v2 flexible. (Kafka 1.1, KIP-229.)
//
// Only an Empty group can go (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND
// if there is none); its committed offsets go with it, as tombstones in
// __consumer_offsets. A group named twice is answered once, as Kafka treats
// the list as a set.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) deleteGroups(_ context.Context, _ *server.Request, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	seen := make(map[string]bool, len(req.Groups))
	for _, id := range req.Groups {
		if seen[id] {
			continue
		}
		seen[id] = true
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = h.errCode(h.groups.DeleteGroup(id))
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
