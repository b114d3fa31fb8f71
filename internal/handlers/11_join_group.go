package handlers

// JoinGroup, key 11, versions 0-9.
//
// v1 adds the rebalance timeout (v0 uses the session timeout); v2-v3 same
// as v1; v4 (KIP-394) answers a dynamic member's first join with
// MEMBER_ID_REQUIRED and its new id; v5 (KIP-345) static membership through
// the group instance id; v6 flexible; v7 (KIP-559) the protocol type in the
// answer, and the protocol name nullable; v8 (KIP-800) a reason; v9
// (KIP-814) SkipAssignment for a static leader that rejoins a Stable group.
//
// The answer waits for the rebalance (internal/group does the work); a
// broker shutting down answers NOT_COORDINATOR, as Kafka does when it
// gives up a group.

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) joinGroup(ctx context.Context, r *server.Request, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := group.JoinRequest{
		Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID,
		ClientID: clientID(r), ClientHost: clientHost(r),
		SessionTimeoutMs: req.SessionTimeoutMillis, RebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		ProtocolType:           req.ProtocolType,
		RequireKnownMemberID:   req.Version >= 4 && req.InstanceID == nil,
		SupportsSkipAssignment: req.Version >= 9,
	}
	if req.Version == 0 {
		jr.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if req.Reason != nil {
		jr.Reason = *req.Reason
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	res, err := h.groups.JoinGroup(jr).Wait(ctx)
	if err != nil {
		res = group.JoinResult{Err: group.ErrNotCoordinator, MemberID: req.MemberID, Generation: -1}
	}
	resp.ErrorCode = h.errCode(res.Err)
	resp.Generation, resp.MemberID, resp.LeaderID = res.Generation, res.MemberID, res.Leader
	resp.ProtocolType, resp.Protocol = res.ProtocolType, res.ProtocolName
	resp.SkipAssignment = res.SkipAssignment
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

// clientID is the request header's client id ("" if null).
func clientID(r *server.Request) string {
	if r.ClientID == nil {
		return ""
	}
	return *r.ClientID
}

// clientHost is the client's address as Kafka reports members' hosts:
// "/" and the IP.
func clientHost(r *server.Request) string {
	if r.Remote == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(r.Remote.String())
	if err != nil {
		host = r.Remote.String()
	}
	return "/" + host
}
