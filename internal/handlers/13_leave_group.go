package handlers

// LeaveGroup, key 13, versions 0-5.
//
// v0-v2 carry one member id and answer with one error code; v3 (KIP-345)
// batches members, identified by member id and/or group instance id (an
// instance id alone removes that static member, as admin tools do), each
// answered on its own; v4 flexible; v5 (KIP-800) a reason per member.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) leaveGroup(_ context.Context, _ *server.Request, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	var members []group.LeaveMember
	if req.Version < 3 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID, Reason: m.Reason})
		}
	}
	errs, groupErr := h.groups.LeaveGroup(req.Group, members)
	if groupErr != nil {
		resp.ErrorCode = h.errCode(groupErr)
		return resp, nil
	}
	if req.Version < 3 {
		resp.ErrorCode = h.errCode(errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, h.errCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
