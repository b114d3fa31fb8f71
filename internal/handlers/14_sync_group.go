package handlers

// SyncGroup, key 14, versions 0-5.
//
// v1-v2 same as v0; v3 (KIP-345) the group instance id; v4 flexible; v5
// (KIP-559) protocol type and name, checked against the group's
// (INCONSISTENT_GROUP_PROTOCOL) and returned.
//
// Followers' answers wait for the leader's assignment, which is stored in
// __consumer_offsets before anyone gets it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) syncGroup(ctx context.Context, _ *server.Request, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := group.SyncRequest{
		Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID,
		ProtocolType: req.ProtocolType, ProtocolName: req.Protocol,
		Assignments: make(map[string][]byte, len(req.GroupAssignment)),
	}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	res, err := h.groups.SyncGroup(sr).Wait(ctx)
	if err != nil {
		res = group.SyncResult{Err: group.ErrNotCoordinator}
	}
	resp.ErrorCode = h.errCode(res.Err)
	resp.ProtocolType, resp.Protocol = res.ProtocolType, res.ProtocolName
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}
