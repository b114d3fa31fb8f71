package handlers

// DescribeGroups, key 15, versions 0-6.
//
// v1-v2 same as v0; v3 (KIP-430) authorized operations on request; v4
// (KIP-345) members' group instance ids; v5 flexible; v6 (KIP-1043) an
// error message, and GROUP_ID_NOT_FOUND for a group that does not exist
// (older versions describe it as Dead with no error).
//
// A Stable group shows its protocol and each member's metadata and
// assignment; in other states both are empty, as Kafka shows them.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

// groupOperations are the ACL operation bits a group supports (READ,
// DELETE, DESCRIBE), all allowed without an authorizer.
const groupOperations = 1<<3 | 1<<6 | 1<<8

func (h *Handlers) describeGroups(_ context.Context, _ *server.Request, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		d := h.groups.DescribeGroup(id)
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		}
		switch {
		case d.Err != nil:
			rg.ErrorCode = h.errCode(d.Err)
			if req.Version >= 6 {
				rg.ErrorMessage = errMessage(d.Err)
			}
		case d.NotFound && req.Version >= 6:
			rg.State = d.State
			rg.ErrorCode = h.errCode(group.ErrGroupNotFound)
			msg := "Group " + id + " not found."
			rg.ErrorMessage = &msg
		default:
			rg.State, rg.ProtocolType, rg.Protocol = d.State, d.ProtocolType, d.Protocol
			for _, m := range d.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
				rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
				rg.Members = append(rg.Members, rm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
