package handlers

// Heartbeat, key 12, versions 0-4.
//
// v1-v2 same as v0; v3 (KIP-345) the group instance id; v4 flexible.
// REBALANCE_IN_PROGRESS tells a member to rejoin.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) heartbeat(_ context.Context, _ *server.Request, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = h.errCode(h.groups.Heartbeat(req.Group, req.MemberID, req.InstanceID, req.Generation))
	return resp, nil
}
