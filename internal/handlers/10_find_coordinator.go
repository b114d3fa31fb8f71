package handlers

// FindCoordinator, key 10, versions 0-6.
//
// v1 adds the key type (0 group, 1 transaction) and an error message; v2
// same as v1; v3 flexible; v4 (KIP-699) batches keys, each answered on its
// own; v5 (KIP-890) may answer TRANSACTION_ABORTABLE; v6 (KIP-932) share
// group keys.
//
// A group's coordinator is the leader of its __consumer_offsets partition:
// this broker, once the topic exists; as Kafka does, asking creates the
// topic. There is no transaction coordinator yet, so transactional ids get
// COORDINATOR_NOT_AVAILABLE, and share group keys (and unknown types)
// INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) findCoordinator(_ context.Context, _ *server.Request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	self := func() (int32, string, int32) { return h.b.NodeID(), h.host, h.port }
	find := func(key string) error {
		switch req.CoordinatorType {
		case 0:
			if err := h.groups.EnsureTopic(); err != nil {
				return err
			}
			id, host, port, err := h.coordinatorAddr(h.groups.PartitionOf(key))
			if err != nil {
				return err
			}
			self = func() (int32, string, int32) { return id, host, port }
			return nil
		case 1:
			return apiErrorf(kerr.CoordinatorNotAvailable, "This broker has no transaction coordinator.")
		}
		return apiErrorf(kerr.InvalidRequest, "Coordinator type %d is not supported.", req.CoordinatorType)
	}
	if req.Version < 4 {
		if err := find(req.CoordinatorKey); err != nil {
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = h.errCode(err), -1, "", -1
			if req.Version >= 1 {
				resp.ErrorMessage = errMessage(err)
			}
			return resp, nil
		}
		resp.NodeID, resp.Host, resp.Port = self()
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key = key
		if err := find(key); err != nil {
			rc.ErrorCode, rc.ErrorMessage, rc.NodeID, rc.Port = h.errCode(err), errMessage(err), -1, -1
		} else {
			rc.NodeID, rc.Host, rc.Port = self()
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp, nil
}
